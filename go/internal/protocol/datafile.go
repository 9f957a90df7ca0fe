package protocol

import (
	"bufio"
	"os"
)

// DataModulus: the data file's byte at offset i is i mod 251, so any client
// can check a file response without having the file (protocol.md, "Data file").
const DataModulus = 251

// DataByteAt is the data file's byte at offset.
func DataByteAt(offset uint64) byte {
	return byte(offset % DataModulus)
}

// DataBytes returns the n bytes starting at offset.
func DataBytes(offset uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = DataByteAt(offset + uint64(i))
	}
	return b
}

// WriteDataFile creates (or truncates) path with n bytes of the pattern. Tests
// use it; the harness makes the real file.
func WriteDataFile(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	period := DataBytes(0, DataModulus)
	for left := n; left > 0; {
		k := min(left, DataModulus)
		if _, err := w.Write(period[:k]); err != nil {
			f.Close()
			return err
		}
		left -= k
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
