package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

func TestRequestHeaderRoundTripsBigEndian(t *testing.T) {
	h := RequestHeader{
		Version: 1, IoKind: 3, PayloadLen: 0x01020304, CPURounds: 5,
		IoArg: 6, IoOffset: 7, ID: 0xdeadbeef,
	}
	b := h.Encode()
	want := []byte{1, 3, 0, 0, 1, 2, 3, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0xde, 0xad, 0xbe, 0xef}
	if !bytes.Equal(b[:], want) {
		t.Fatalf("encode = % x, want % x", b, want)
	}
	if got := DecodeRequest(&b); got != h {
		t.Fatalf("decode = %+v, want %+v", got, h)
	}
	// Reserved is a big-endian u16 at offset 2.
	b[2], b[3] = 0x12, 0x34
	if got := DecodeRequest(&b).Reserved; got != 0x1234 {
		t.Fatalf("reserved = %#x", got)
	}
}

func TestResponseHeaderRoundTrips(t *testing.T) {
	r := NewResponse(StatusFileImpossible, 9, 42)
	b := r.Encode()
	want := [ResponseHeaderLen]byte{1, 4, 0, 0, 0, 0, 0, 9, 0, 0, 0, 42}
	if b != want {
		t.Fatalf("encode = % x, want % x", b, want)
	}
	if got := DecodeResponse(&b); got != r {
		t.Fatalf("decode = %+v, want %+v", got, r)
	}
	big := NewResponse(StatusOK, 0x00200000, 0xffffffff).Encode()
	if !bytes.Equal(big[4:], []byte{0, 0x20, 0, 0, 0xff, 0xff, 0xff, 0xff}) {
		t.Fatalf("encode = % x", big)
	}
}

func TestDispositionFollowsTheProtocolOrder(t *testing.T) {
	ok := RequestHeader{Version: 1}
	with := func(f func(*RequestHeader)) RequestHeader { h := ok; f(&h); return h }
	process := func(k IoKind) Disposition { return Disposition{Action: Process, Kind: k} }
	closeWith := func(s Status) Disposition { return Disposition{Action: Close, Status: s} }
	cases := []struct {
		name string
		h    RequestHeader
		want Disposition
	}{
		{"plain", ok, process(IoNone)},
		{"version 0", with(func(h *RequestHeader) { h.Version = 0 }), closeWith(StatusBadHeader)},
		{"version 2 beats over-limit payload", with(func(h *RequestHeader) { h.Version = 2; h.PayloadLen = ^uint32(0) }), closeWith(StatusBadHeader)},
		{"reserved 1", with(func(h *RequestHeader) { h.Reserved = 1 }), closeWith(StatusBadHeader)},
		{"reserved beats unknown kind", with(func(h *RequestHeader) { h.Reserved = 0x8000; h.IoKind = 9 }), closeWith(StatusBadHeader)},
		{"payload at limit", with(func(h *RequestHeader) { h.PayloadLen = MaxPayloadBytes }), process(IoNone)},
		{"payload over limit beats unknown kind", with(func(h *RequestHeader) { h.PayloadLen = MaxPayloadBytes + 1; h.IoKind = 9 }), closeWith(StatusOverLimit)},
		{"rounds at limit", with(func(h *RequestHeader) { h.CPURounds = MaxCPURounds }), process(IoNone)},
		{"rounds over limit", with(func(h *RequestHeader) { h.CPURounds = MaxCPURounds + 1 }), closeWith(StatusOverLimit)},
		{"sleep at limit", with(func(h *RequestHeader) { h.IoKind = 1; h.IoArg = MaxWaitUs }), process(IoSleep)},
		{"sleep over limit", with(func(h *RequestHeader) { h.IoKind = 1; h.IoArg = MaxWaitUs + 1 }), closeWith(StatusOverLimit)},
		{"block at limit", with(func(h *RequestHeader) { h.IoKind = 2; h.IoArg = MaxWaitUs }), process(IoBlock)},
		{"block over limit", with(func(h *RequestHeader) { h.IoKind = 2; h.IoArg = MaxWaitUs + 1 }), closeWith(StatusOverLimit)},
		{"file at limit", with(func(h *RequestHeader) { h.IoKind = 3; h.IoArg = MaxFileBytes }), process(IoFile)},
		{"file over limit", with(func(h *RequestHeader) { h.IoKind = 3; h.IoArg = MaxFileBytes + 1 }), closeWith(StatusOverLimit)},
		{"file offset is not limited here", with(func(h *RequestHeader) { h.IoKind = 3; h.IoOffset = ^uint32(0) }), process(IoFile)},
		{"none ignores io_arg", with(func(h *RequestHeader) { h.IoArg = ^uint32(0) }), process(IoNone)},
		{"unknown kind 4", with(func(h *RequestHeader) { h.IoKind = 4 }), Disposition{Action: Skip, Status: StatusUnknownIoKind}},
		{"unknown kind ignores io_arg", with(func(h *RequestHeader) { h.IoKind = 255; h.IoArg = ^uint32(0) }), Disposition{Action: Skip, Status: StatusUnknownIoKind}},
	}
	for _, c := range cases {
		if got := c.h.Disposition(); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func TestShaChainMatchesKnownDigests(t *testing.T) {
	const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	d1 := ShaChain([]byte("abc"), nil, 1)
	d2 := sha256.Sum256(d1[:])
	cases := []struct {
		name          string
		payload, file []byte
		rounds        uint32
		want          string
	}{
		{"abc in the payload", []byte("abc"), nil, 1, abc},
		{"abc split across payload and file", []byte("ab"), []byte("c"), 1, abc},
		{"abc all in the file", nil, []byte("abc"), 1, abc},
		{"empty input", nil, nil, 1, empty},
		{"two rounds hash the 32 digest bytes", []byte("abc"), nil, 2, hexOf(d2[:])},
	}
	for _, c := range cases {
		got := ShaChain(c.payload, c.file, c.rounds)
		if hexOf(got[:]) != c.want {
			t.Errorf("%s: got %x, want %s", c.name, got, c.want)
		}
	}
	// Three rounds, chained by hand.
	d3 := sha256.Sum256(d2[:])
	if got := ShaChain([]byte("abc"), nil, 3); got != d3 {
		t.Errorf("3 rounds: got %x, want %x", got, d3)
	}
}

func TestExpectedBody(t *testing.T) {
	if got := ExpectedBody([]byte("ab"), []byte("c"), 0); string(got) != "abc" {
		t.Errorf("rounds 0: got %q", got)
	}
	if got := ExpectedBody(nil, nil, 0); len(got) != 0 {
		t.Errorf("rounds 0, empty: got %q", got)
	}
	d := ShaChain([]byte("abc"), nil, 1)
	if got := ExpectedBody([]byte("ab"), []byte("c"), 1); !bytes.Equal(got, d[:]) {
		t.Errorf("rounds 1: got %x", got)
	}
}

func TestDataPatternWrapsAt251(t *testing.T) {
	cases := []struct {
		offset uint64
		want   byte
	}{{0, 0}, {1, 1}, {250, 250}, {251, 0}, {252, 1}, {502, 0}, {1 << 32, byte((1 << 32) % 251)}}
	for _, c := range cases {
		if got := DataByteAt(c.offset); got != c.want {
			t.Errorf("DataByteAt(%d) = %d, want %d", c.offset, got, c.want)
		}
	}
	if got := DataBytes(249, 4); !bytes.Equal(got, []byte{249, 250, 0, 1}) {
		t.Errorf("DataBytes(249, 4) = %v", got)
	}
}

func TestWriteDataFileWritesThePattern(t *testing.T) {
	for _, n := range []int64{0, 1, 251, 1000} {
		p := filepath.Join(t.TempDir(), "data.bin")
		if err := WriteDataFile(p, n); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, DataBytes(0, int(n))) {
			t.Errorf("n=%d: file differs from the pattern", n)
		}
	}
}
