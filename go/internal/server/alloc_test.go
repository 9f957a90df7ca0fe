package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"rtcompare/internal/protocol"
)

// allocsPerRequest serves one request per run on an open connection and
// returns testing.AllocsPerRun's count: heap allocations of the whole
// process (server and this client) per request, after one warm-up request
// that lets the connection grow its buffers. The client side reuses its
// buffers, so whatever is counted is the server's.
func allocsPerRequest(t *testing.T, addr string, send, want []byte) float64 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One deadline for the whole test: a hang fails it, and setting a
	// deadline per request would itself allocate a timer.
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	var failure error
	n := testing.AllocsPerRun(200, func() {
		if failure != nil {
			return
		}
		if _, err := c.Write(send); err != nil {
			failure = err
			return
		}
		if _, err := io.ReadFull(c, got); err != nil {
			failure = err
			return
		}
		if !bytes.Equal(got, want) {
			failure = errMismatch
		}
	})
	if failure != nil {
		t.Fatalf("request failed: %v (got % x, want % x)", failure, got, want)
	}
	return n
}

var errMismatch = errors.New("response differs")

// Every request path that can run without allocating does: echo, and every
// work request in every CPU mode (the runtime's per-goroutine timer is made
// at the first sleep, the warm-up request; the blocking call reuses an idle
// OS thread once one exists).
func TestRequestPathDoesNotAllocate(t *testing.T) {
	t.Run("echo", func(t *testing.T) {
		addr := startServer(t, Config{Workload: WorkloadEcho})
		msg := bytes.Repeat([]byte("e"), 64)
		if n := allocsPerRequest(t, addr, msg, msg); n != 0 {
			t.Errorf("echo: %v allocations per request, want 0", n)
		}
	})

	payload := bytes.Repeat([]byte("p"), 64)
	sha := protocol.ShaChain(payload, nil, 100)
	fileSHA := protocol.ShaChain(payload, protocol.DataBytes(100, 4096), 100)
	type H = protocol.RequestHeader
	cases := []struct {
		name   string
		h      H
		status protocol.Status
		body   []byte
	}{
		{"none", H{PayloadLen: 64}, 0, payload},
		{"none+sha", H{PayloadLen: 64, CPURounds: 100}, 0, sha[:]},
		{"sleep", H{IoKind: 1, IoArg: 50, PayloadLen: 64}, 0, payload},
		{"sleep+sha", H{IoKind: 1, IoArg: 50, PayloadLen: 64, CPURounds: 100}, 0, sha[:]},
		{"block", H{IoKind: 2, IoArg: 50, PayloadLen: 64}, 0, payload},
		{"file", H{IoKind: 3, IoArg: 4096, IoOffset: 100, PayloadLen: 64}, 0, append(payload[:64:64], protocol.DataBytes(100, 4096)...)},
		{"file+sha", H{IoKind: 3, IoArg: 4096, IoOffset: 100, PayloadLen: 64, CPURounds: 100}, 0, fileSHA[:]},
		{"file past the end (status 4)", H{IoKind: 3, IoArg: 1 << 20, PayloadLen: 64}, 4, nil},
		{"unknown kind (status 3)", H{IoKind: 9, PayloadLen: 64}, 3, nil},
	}
	for _, mode := range cpuModes {
		addr := startServer(t, Config{Workload: WorkloadWork, CPUMode: mode, DataFile: dataFile(t, 1<<16)})
		for _, c := range cases {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				h := c.h
				h.ID = 42
				send := frame(h, payload)
				if n := allocsPerRequest(t, addr, send, response(c.status, h.ID, c.body)); n != 0 {
					t.Errorf("%v allocations per request, want 0", n)
				}
			})
		}
	}
}
