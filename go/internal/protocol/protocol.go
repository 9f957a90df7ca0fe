// Package protocol is the work workload's framing (protocol.md §2): header
// codecs, limits, the order in which a server judges a request header, the
// chained SHA-256 of the compute step and the data-file pattern. It mirrors
// rtc_common::protocol and rtc_common::datafile on the Rust side.
package protocol

import (
	"crypto/sha256"
	"encoding/binary"
)

// Wire constants and limits.
const (
	Version           = 1
	RequestHeaderLen  = 24
	ResponseHeaderLen = 12
	MaxPayloadBytes   = 1_048_576
	MaxCPURounds      = 1_000_000
	// MaxWaitUs is the limit of io_arg for sleep and block, in microseconds.
	MaxWaitUs = 10_000_000
	// MaxFileBytes is the limit of io_arg for a file read, in bytes.
	MaxFileBytes = 1_048_576
	// DefaultBufSize is the read buffer size both servers use unless
	// --buf-size says otherwise.
	DefaultBufSize = 16_384
	// MaxBufSize is the largest --buf-size either server accepts.
	MaxBufSize = 16 << 20
)

// Status is the response status byte.
type Status uint8

const (
	StatusOK Status = 0
	// StatusBadHeader: version != 1 or reserved != 0; respond, close.
	StatusBadHeader Status = 1
	// StatusOverLimit: payload_len, cpu_rounds or io_arg over its limit;
	// respond without reading the payload, close.
	StatusOverLimit Status = 2
	// StatusUnknownIoKind: consume the payload, respond, continue.
	StatusUnknownIoKind Status = 3
	// StatusFileImpossible: no data file, or the range is past its end;
	// respond, continue.
	StatusFileImpossible Status = 4
)

// IoKind is the request's I/O step.
type IoKind uint8

const (
	IoNone  IoKind = 0
	IoSleep IoKind = 1
	IoBlock IoKind = 2
	IoFile  IoKind = 3
)

// RequestHeader is a request header exactly as it sits on the wire (fields
// unchecked).
type RequestHeader struct {
	Version    uint8
	IoKind     uint8
	Reserved   uint16
	PayloadLen uint32
	CPURounds  uint32
	IoArg      uint32
	IoOffset   uint32
	ID         uint32
}

// Encode returns the 24 wire bytes, big-endian.
func (h RequestHeader) Encode() [RequestHeaderLen]byte {
	var b [RequestHeaderLen]byte
	b[0] = h.Version
	b[1] = h.IoKind
	binary.BigEndian.PutUint16(b[2:4], h.Reserved)
	binary.BigEndian.PutUint32(b[4:8], h.PayloadLen)
	binary.BigEndian.PutUint32(b[8:12], h.CPURounds)
	binary.BigEndian.PutUint32(b[12:16], h.IoArg)
	binary.BigEndian.PutUint32(b[16:20], h.IoOffset)
	binary.BigEndian.PutUint32(b[20:24], h.ID)
	return b
}

// DecodeRequest reads a header from its 24 wire bytes.
func DecodeRequest(b *[RequestHeaderLen]byte) RequestHeader {
	return RequestHeader{
		Version:    b[0],
		IoKind:     b[1],
		Reserved:   binary.BigEndian.Uint16(b[2:4]),
		PayloadLen: binary.BigEndian.Uint32(b[4:8]),
		CPURounds:  binary.BigEndian.Uint32(b[8:12]),
		IoArg:      binary.BigEndian.Uint32(b[12:16]),
		IoOffset:   binary.BigEndian.Uint32(b[16:20]),
		ID:         binary.BigEndian.Uint32(b[20:24]),
	}
}

// Action is what a server does with a header before reading the payload.
type Action uint8

const (
	// Process: read payload_len bytes, then run the I/O and compute steps.
	Process Action = iota
	// Skip: read and discard the payload, answer with Status, keep the connection.
	Skip
	// Close: answer with Status without reading the payload, then close.
	Close
)

// Disposition is the verdict on a header: Kind is set for Process, Status for
// Skip and Close.
type Disposition struct {
	Action Action
	Status Status
	Kind   IoKind
}

// Disposition applies the protocol's order of checks: header fields (status
// 1), then limits (status 2), then the I/O kind (status 3). Status 4 depends
// on the data file and is decided by the server during the I/O step. io_arg
// has a limit only for the kinds that use it; an unknown kind's io_arg is
// ignored, so status 3 wins over an out-of-range io_arg there.
func (h RequestHeader) Disposition() Disposition {
	if h.Version != Version || h.Reserved != 0 {
		return Disposition{Action: Close, Status: StatusBadHeader}
	}
	if h.PayloadLen > MaxPayloadBytes || h.CPURounds > MaxCPURounds {
		return Disposition{Action: Close, Status: StatusOverLimit}
	}
	switch k := IoKind(h.IoKind); k {
	case IoNone:
		return Disposition{Action: Process, Kind: k}
	case IoSleep, IoBlock:
		if h.IoArg > MaxWaitUs {
			return Disposition{Action: Close, Status: StatusOverLimit}
		}
		return Disposition{Action: Process, Kind: k}
	case IoFile:
		if h.IoArg > MaxFileBytes {
			return Disposition{Action: Close, Status: StatusOverLimit}
		}
		return Disposition{Action: Process, Kind: k}
	default:
		return Disposition{Action: Skip, Status: StatusUnknownIoKind}
	}
}

// ResponseHeader is a response header as it sits on the wire.
type ResponseHeader struct {
	Version  uint8
	Status   Status
	Reserved uint16
	BodyLen  uint32
	ID       uint32
}

// NewResponse is the header a server sends: version 1, reserved 0.
func NewResponse(status Status, bodyLen, id uint32) ResponseHeader {
	return ResponseHeader{Version: Version, Status: status, BodyLen: bodyLen, ID: id}
}

// Encode returns the 12 wire bytes, big-endian.
func (r ResponseHeader) Encode() [ResponseHeaderLen]byte {
	var b [ResponseHeaderLen]byte
	b[0] = r.Version
	b[1] = uint8(r.Status)
	binary.BigEndian.PutUint16(b[2:4], r.Reserved)
	binary.BigEndian.PutUint32(b[4:8], r.BodyLen)
	binary.BigEndian.PutUint32(b[8:12], r.ID)
	return b
}

// DecodeResponse reads a response header from its 12 wire bytes.
func DecodeResponse(b *[ResponseHeaderLen]byte) ResponseHeader {
	return ResponseHeader{
		Version:  b[0],
		Status:   Status(b[1]),
		Reserved: binary.BigEndian.Uint16(b[2:4]),
		BodyLen:  binary.BigEndian.Uint32(b[4:8]),
		ID:       binary.BigEndian.Uint32(b[8:12]),
	}
}

// ShaChain is the compute step with rounds > 0: D1 = SHA-256(payload ‖
// fileBytes), Di = SHA-256(Di-1). Both parts are fed to the hasher in turn so
// they are never copied into one buffer. rounds == 0 is the caller's bug.
func ShaChain(payload, fileBytes []byte, rounds uint32) [sha256.Size]byte {
	if rounds == 0 {
		panic("protocol.ShaChain needs at least one round")
	}
	h := sha256.New()
	h.Write(payload)
	h.Write(fileBytes)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	for i := uint32(1); i < rounds; i++ {
		d = sha256.Sum256(d[:])
	}
	return d
}

// ExpectedBody is the body a correct server returns for a processed request
// (status 0). For tests and clients; the server writes the parts directly.
func ExpectedBody(payload, fileBytes []byte, rounds uint32) []byte {
	if rounds == 0 {
		b := make([]byte, 0, len(payload)+len(fileBytes))
		return append(append(b, payload...), fileBytes...)
	}
	d := ShaChain(payload, fileBytes, rounds)
	return d[:]
}
