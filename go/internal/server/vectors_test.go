package server

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"rtcompare/internal/protocol"
)

// vectorsPath is the shared vector file, relative to this package.
const vectorsPath = "../../../testdata/protocol/vectors.json"

// vectorFile mirrors testdata/protocol/vectors.json (schema_version 1), the
// file the Rust conformance crate replays as well.
type vectorFile struct {
	SchemaVersion   int      `json:"schema_version"`
	ProtocolVersion int      `json:"protocol_version"`
	DataFileBytes   int64    `json:"data_file_bytes"`
	Vectors         []vector `json:"vectors"`
}

type vector struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Workload    string    `json:"workload"`
	DataFile    bool      `json:"data_file"`
	Send        []segment `json:"send"`
	HalfClose   bool      `json:"half_close"`
	Expect      []segment `json:"expect"`
}

// segment is exactly one of its three fields.
type segment struct {
	Hex    *string `json:"hex"`
	Repeat *struct {
		Byte  uint8  `json:"byte"`
		Count uint64 `json:"count"`
	} `json:"repeat"`
	Data *struct {
		Offset uint64 `json:"offset"`
		Len    uint64 `json:"len"`
	} `json:"data"`
}

func bytesOf(segs []segment) ([]byte, error) {
	var out []byte
	for i, s := range segs {
		set := 0
		if s.Hex != nil {
			set++
			b, err := hex.DecodeString(*s.Hex)
			if err != nil {
				return nil, fmt.Errorf("segment %d: %w", i, err)
			}
			out = append(out, b...)
		}
		if s.Repeat != nil {
			set++
			out = append(out, bytes.Repeat([]byte{s.Repeat.Byte}, int(s.Repeat.Count))...)
		}
		if s.Data != nil {
			set++
			out = append(out, protocol.DataBytes(s.Data.Offset, int(s.Data.Len))...)
		}
		if set != 1 {
			return nil, fmt.Errorf("segment %d has %d kinds, want exactly one", i, set)
		}
	}
	return out, nil
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("shared vectors: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var vf vectorFile
	if err := dec.Decode(&vf); err != nil {
		t.Fatalf("%s: %v", vectorsPath, err)
	}
	if vf.SchemaVersion != 1 || vf.ProtocolVersion != protocol.Version {
		t.Fatalf("%s: schema_version %d, protocol_version %d; this test knows 1 and %d",
			vectorsPath, vf.SchemaVersion, vf.ProtocolVersion, protocol.Version)
	}
	if len(vf.Vectors) == 0 {
		t.Fatalf("%s: no vectors", vectorsPath)
	}
	return vf
}

// TestSharedVectors replays every shared vector, each on its own connection,
// against an in-process server in both CPU modes: with a data file of
// data_file_bytes bytes when the vector says data_file, without one otherwise.
func TestSharedVectors(t *testing.T) {
	vf := loadVectors(t)
	dataPath := filepath.Join(t.TempDir(), "data.bin")
	if err := protocol.WriteDataFile(dataPath, vf.DataFileBytes); err != nil {
		t.Fatal(err)
	}
	for _, mode := range cpuModes {
		t.Run(mode, func(t *testing.T) {
			servers := map[string]string{} // workload/data_file -> addr
			for _, v := range vf.Vectors {
				key := fmt.Sprint(v.Workload, "/", v.DataFile)
				addr, ok := servers[key]
				if !ok {
					cfg := Config{Workload: v.Workload, CPUMode: mode}
					if v.DataFile {
						df, err := OpenDataFile(dataPath)
						if err != nil {
							t.Fatal(err)
						}
						t.Cleanup(func() { df.Close() })
						cfg.DataFile = df
					}
					addr = startServer(t, cfg)
					servers[key] = addr
				}
				t.Run(v.Name, func(t *testing.T) {
					send, err := bytesOf(v.Send)
					if err != nil {
						t.Fatalf("send: %v", err)
					}
					want, err := bytesOf(v.Expect)
					if err != nil {
						t.Fatalf("expect: %v", err)
					}
					got, err := exchange(addr, send, v.HalfClose)
					if err != nil {
						t.Fatalf("%s: %v", v.Description, err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("%s: %s", v.Description, firstDiff(got, want))
					}
				})
			}
		})
	}
}
