package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"rtcompare/internal/protocol"
)

// ioTimeout bounds every client read so a server bug fails a test instead of
// hanging it; it is not a latency assertion.
const ioTimeout = 10 * time.Second

var cpuModes = []string{CPUInline, CPUPool, CPUOversubscribed}

// startServer serves cfg on 127.0.0.1:0 until the test ends and returns the
// address.
func startServer(t *testing.T, cfg Config) string {
	t.Helper()
	if cfg.BufSize == 0 {
		cfg.BufSize = protocol.DefaultBufSize
	}
	if cfg.CPUMode == "" {
		cfg.CPUMode = CPUInline
	}
	if cfg.ErrorLog == nil {
		cfg.ErrorLog = log.New(io.Discard, "", 0)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// dataFile writes a pattern file of n bytes under the test's temp dir and
// opens it.
func dataFile(t *testing.T, n int64) *DataFile {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.bin")
	if err := protocol.WriteDataFile(p, n); err != nil {
		t.Fatal(err)
	}
	df, err := OpenDataFile(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { df.Close() })
	return df
}

// exchange connects, writes send (concurrently with reading, so large
// echoes cannot deadlock), shuts down the write side if halfClose, and reads
// until EOF.
func exchange(addr string, send []byte, halfClose bool) ([]byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(send)
		if err == nil && halfClose {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, rerr := io.ReadAll(c)
	if err := <-werr; err != nil && rerr == nil {
		// The server may close first (status 1 and 2); only report a
		// write failure if the read side saw nothing wrong either.
		return got, fmt.Errorf("write: %w", err)
	}
	if rerr != nil {
		return got, fmt.Errorf("read after %d bytes: %w", len(got), rerr)
	}
	return got, nil
}

func frame(h protocol.RequestHeader, payload []byte) []byte {
	if h.Version == 0 {
		h.Version = protocol.Version
	}
	b := h.Encode()
	return append(b[:], payload...)
}

func response(status protocol.Status, id uint32, body []byte) []byte {
	b := protocol.NewResponse(status, uint32(len(body)), id).Encode()
	return append(b[:], body...)
}

// firstDiff describes where got and want differ.
func firstDiff(got, want []byte) string {
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			lo, hi := max(0, i-4), min(n, i+12)
			return fmt.Sprintf("differ at offset %d: got % x, want % x (from offset %d)", i, got[lo:min(hi, len(got))], want[lo:min(hi, len(want))], lo)
		}
	}
	return fmt.Sprintf("lengths differ: got %d bytes, want %d (first %d equal)", len(got), len(want), n)
}

func checkExchange(t *testing.T, addr string, send []byte, halfClose bool, want []byte) {
	t.Helper()
	got, err := exchange(addr, send, halfClose)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal(firstDiff(got, want))
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Workload: WorkloadWork, BufSize: 16384, CPUMode: CPUInline}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	bad := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"workload", func(c *Config) { c.Workload = "http" }, "workload"},
		{"buf size 0", func(c *Config) { c.BufSize = 0 }, "buf size"},
		{"buf size over 16 MiB", func(c *Config) { c.BufSize = protocol.MaxBufSize + 1 }, "buf size"},
		{"cpu mode", func(c *Config) { c.CPUMode = "rayon" }, "cpu mode"},
		{"workers", func(c *Config) { c.Workers = -1 }, "workers"},
	}
	for _, b := range bad {
		c := good
		b.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: got %v, want an error naming %q", b.name, err, b.want)
		}
	}
	edge := good
	edge.BufSize = protocol.MaxBufSize
	if err := edge.Validate(); err != nil {
		t.Errorf("buf size 16 MiB: %v", err)
	}
}

func TestOpenDataFileRefusesUnusableFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenDataFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file opened")
	}
	if _, err := OpenDataFile(dir); err == nil {
		t.Error("directory opened")
	}
	df := dataFile(t, 1000)
	if df.Size() != 1000 {
		t.Errorf("size = %d, want 1000", df.Size())
	}
}

func TestEchoWritesBackEverything(t *testing.T) {
	for _, bufSize := range []int{1, 7, protocol.DefaultBufSize} {
		t.Run(fmt.Sprint("buf", bufSize), func(t *testing.T) {
			addr := startServer(t, Config{Workload: WorkloadEcho, BufSize: bufSize})
			checkExchange(t, addr, nil, true, nil)
			checkExchange(t, addr, []byte("hello"), true, []byte("hello"))
			if bufSize > 1 {
				// 1 MiB through a 1-byte buffer is a million syscalls: skip.
				big := protocol.DataBytes(3, 1<<20)
				checkExchange(t, addr, big, true, big)
			}
		})
	}
}

func TestWorkRequests(t *testing.T) {
	abc := protocol.ShaChain([]byte("abc"), nil, 1)
	fileSHA := protocol.ShaChain([]byte("p"), protocol.DataBytes(250, 10), 3)
	type H = protocol.RequestHeader
	cases := []struct {
		name    string
		h       H
		payload []byte
		status  protocol.Status
		body    []byte
	}{
		{"empty", H{ID: 1}, nil, 0, nil},
		{"rounds 0 echoes the payload", H{PayloadLen: 3, ID: 2}, []byte("abc"), 0, []byte("abc")},
		{"rounds 1 is SHA-256", H{PayloadLen: 3, CPURounds: 1, ID: 3}, []byte("abc"), 0, abc[:]},
		{"sleep", H{IoKind: 1, IoArg: 1000, PayloadLen: 1, ID: 4}, []byte("s"), 0, []byte("s")},
		{"block", H{IoKind: 2, IoArg: 1000, PayloadLen: 1, ID: 5}, []byte("b"), 0, []byte("b")},
		{"none ignores io_arg and io_offset", H{IoArg: ^uint32(0), IoOffset: 9, ID: 6}, nil, 0, nil},
		{"file appended to the payload", H{IoKind: 3, IoArg: 10, IoOffset: 250, PayloadLen: 1, ID: 7}, []byte("p"), 0, append([]byte("p"), protocol.DataBytes(250, 10)...)},
		{"file hashed after the payload", H{IoKind: 3, IoArg: 10, IoOffset: 250, PayloadLen: 1, CPURounds: 3, ID: 8}, []byte("p"), 0, fileSHA[:]},
		{"file zero bytes at the end", H{IoKind: 3, IoArg: 0, IoOffset: 1000, ID: 9}, nil, 0, nil},
		{"file up to the end", H{IoKind: 3, IoArg: 4, IoOffset: 996, ID: 10}, nil, 0, protocol.DataBytes(996, 4)},
		{"file past the end", H{IoKind: 3, IoArg: 5, IoOffset: 996, PayloadLen: 2, ID: 11}, []byte("xy"), 4, nil},
		{"file offset past the end", H{IoKind: 3, IoArg: 0, IoOffset: 1001, ID: 12}, nil, 4, nil},
		{"file offset+arg overflows u32", H{IoKind: 3, IoArg: 1 << 20, IoOffset: ^uint32(0), ID: 13}, nil, 4, nil},
		{"unknown kind", H{IoKind: 7, IoArg: ^uint32(0), PayloadLen: 5, ID: 14}, []byte("12345"), 3, nil},
	}
	for _, mode := range cpuModes {
		addr := startServer(t, Config{Workload: WorkloadWork, CPUMode: mode, DataFile: dataFile(t, 1000)})
		for _, c := range cases {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				checkExchange(t, addr, frame(c.h, c.payload), true, response(c.status, c.h.ID, c.body))
			})
		}
	}
}

func TestFileRequestsWithoutDataFileAnswerStatus4(t *testing.T) {
	addr := startServer(t, Config{Workload: WorkloadWork})
	h := protocol.RequestHeader{IoKind: 3, IoArg: 0, PayloadLen: 1, ID: 77}
	// Then a good request on the same connection: status 4 continues.
	send := append(frame(h, []byte("x")), frame(protocol.RequestHeader{PayloadLen: 1, ID: 78}, []byte("y"))...)
	want := append(response(4, 77, nil), response(0, 78, []byte("y"))...)
	checkExchange(t, addr, send, true, want)
}

func TestRefusedHeadersCloseTheConnection(t *testing.T) {
	type H = protocol.RequestHeader
	cases := []struct {
		name   string
		h      H
		status protocol.Status
	}{
		{"version 2", H{Version: 2, ID: 1}, 1},
		{"reserved", H{Reserved: 1, ID: 2}, 1},
		{"payload over limit", H{PayloadLen: protocol.MaxPayloadBytes + 1, ID: 3}, 2},
		{"rounds over limit", H{CPURounds: protocol.MaxCPURounds + 1, ID: 4}, 2},
		{"sleep over limit", H{IoKind: 1, IoArg: protocol.MaxWaitUs + 1, ID: 5}, 2},
		{"block over limit", H{IoKind: 2, IoArg: protocol.MaxWaitUs + 1, ID: 6}, 2},
		{"file over limit", H{IoKind: 3, IoArg: protocol.MaxFileBytes + 1, ID: 7}, 2},
	}
	for _, mode := range cpuModes {
		addr := startServer(t, Config{Workload: WorkloadWork, CPUMode: mode})
		for _, c := range cases {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				// No half-close: the server must answer and close by itself.
				// A good request answered first is flushed before the close.
				send := append(frame(H{ID: 100}, nil), frame(c.h, nil)...)
				want := append(response(0, 100, nil), response(c.status, c.h.ID, nil)...)
				checkExchange(t, addr, send, false, want)
			})
		}
	}
}

func TestUnknownKindThenGoodRequestGetsBothAnswers(t *testing.T) {
	for _, mode := range cpuModes {
		t.Run(mode, func(t *testing.T) {
			addr := startServer(t, Config{Workload: WorkloadWork, CPUMode: mode})
			// A payload larger than the reader's buffer is discarded in pieces.
			junk := bytes.Repeat([]byte{0xee}, 100_000)
			d := protocol.ShaChain([]byte("ok"), nil, 2)
			send := append(frame(protocol.RequestHeader{IoKind: 200, PayloadLen: uint32(len(junk)), ID: 1}, junk),
				frame(protocol.RequestHeader{PayloadLen: 2, CPURounds: 2, ID: 2}, []byte("ok"))...)
			want := append(response(3, 1, nil), response(0, 2, d[:])...)
			checkExchange(t, addr, send, true, want)
		})
	}
}

func TestPipelinedRequestsComeBackInOrder(t *testing.T) {
	for _, mode := range cpuModes {
		t.Run(mode, func(t *testing.T) {
			addr := startServer(t, Config{Workload: WorkloadWork, CPUMode: mode, BufSize: 100})
			var send, want []byte
			for i := uint32(0); i < 100; i++ {
				payload := protocol.DataBytes(uint64(i), int(i*37%300))
				h := protocol.RequestHeader{PayloadLen: uint32(len(payload)), CPURounds: i % 3, ID: 1000 + i}
				if i%10 == 5 {
					h.IoKind, h.IoArg = 1, 100 // a short timer wait mid-stream
				}
				send = append(send, frame(h, payload)...)
				want = append(want, response(0, h.ID, protocol.ExpectedBody(payload, nil, h.CPURounds))...)
			}
			checkExchange(t, addr, send, true, want)
		})
	}
}

// A lone request must be answered without the client closing its side: the
// writer is flushed before the next blocking read.
func TestLoneRequestIsAnsweredAtOnce(t *testing.T) {
	addr := startServer(t, Config{Workload: WorkloadWork})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	for id := uint32(1); id <= 3; id++ {
		if _, err := c.Write(frame(protocol.RequestHeader{PayloadLen: 2, ID: id}, []byte("hi"))); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, protocol.ResponseHeaderLen+2)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("request %d: %v", id, err)
		}
		if want := response(0, id, []byte("hi")); !bytes.Equal(got, want) {
			t.Fatal(firstDiff(got, want))
		}
	}
}

func TestEOFMidFrameClosesWithoutResponse(t *testing.T) {
	h := protocol.RequestHeader{PayloadLen: 10, ID: 1}
	full := frame(h, []byte("0123456789"))
	addr := startServer(t, Config{Workload: WorkloadWork})
	for _, n := range []int{1, 23, 24, 30} {
		t.Run(fmt.Sprint(n, "bytes"), func(t *testing.T) {
			checkExchange(t, addr, full[:n], true, nil)
		})
	}
}

// Answers owed for complete frames are flushed before the server blocks on
// the rest of a frame, so they arrive even if that frame never completes.
func TestCompleteFramesAreAnsweredBeforeAPartialOne(t *testing.T) {
	done := frame(protocol.RequestHeader{PayloadLen: 2, ID: 1}, []byte("ok"))
	next := frame(protocol.RequestHeader{PayloadLen: 10, CPURounds: 1, ID: 2}, []byte("0123456789"))
	for _, mode := range cpuModes {
		addr := startServer(t, Config{Workload: WorkloadWork, CPUMode: mode})
		for _, n := range []int{1, 24, 30} {
			t.Run(fmt.Sprint(mode, "/eof after ", n, " bytes"), func(t *testing.T) {
				checkExchange(t, addr, append(append([]byte{}, done...), next[:n]...), true, response(0, 1, []byte("ok")))
			})
			t.Run(fmt.Sprint(mode, "/client waits after ", n, " bytes"), func(t *testing.T) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioTimeout))
				c.Write(append(append([]byte{}, done...), next[:n]...))
				want := response(0, 1, []byte("ok"))
				got := make([]byte, len(want))
				if _, err := io.ReadFull(c, got); err != nil {
					t.Fatalf("first answer: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Fatal(firstDiff(got, want))
				}
				c.Write(next[n:])
				c.(*net.TCPConn).CloseWrite()
				got, err = io.ReadAll(c)
				if err != nil {
					t.Fatal(err)
				}
				if want := response(0, 2, protocol.ExpectedBody([]byte("0123456789"), nil, 1)); !bytes.Equal(got, want) {
					t.Fatal(firstDiff(got, want))
				}
			})
		}
	}
}

// goodRequest checks the server still answers a fresh connection.
func goodRequest(t *testing.T, addr string) {
	t.Helper()
	checkExchange(t, addr, frame(protocol.RequestHeader{PayloadLen: 1, ID: 9}, []byte("!")), true, response(0, 9, []byte("!")))
}

func TestBadClientsDoNotHurtOthers(t *testing.T) {
	for _, mode := range cpuModes {
		t.Run(mode, func(t *testing.T) {
			addr := startServer(t, Config{Workload: WorkloadWork, CPUMode: mode})

			// A frame that never finishes stays open during all that follows.
			stuck, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer stuck.Close()
			big := protocol.RequestHeader{Version: 1, PayloadLen: protocol.MaxPayloadBytes, ID: 1}.Encode()
			if _, err := stuck.Write(append(big[:], 1, 2, 3)); err != nil {
				t.Fatal(err)
			}

			// Garbage: whatever the server makes of it, it must not crash.
			garbage := make([]byte, 4096)
			rand.Read(garbage)
			exchange(addr, garbage, true)
			exchange(addr, garbage, false)
			garbage[0] = 1
			garbage[2], garbage[3] = 0, 0
			exchange(addr, garbage, true)
			goodRequest(t, addr)

			// Disconnects mid-header and mid-payload (hard close, no half-close).
			full := frame(protocol.RequestHeader{PayloadLen: 1000, CPURounds: 5, ID: 2}, make([]byte, 1000))
			for _, n := range []int{5, 24, 500} {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				c.Write(full[:n])
				c.Close()
			}
			goodRequest(t, addr)

			// Many connections at once, each with pipelined work.
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					var send, want []byte
					for j := 0; j < 10; j++ {
						id := uint32(i*100 + j)
						send = append(send, frame(protocol.RequestHeader{PayloadLen: 4, CPURounds: 1, ID: id}, []byte("work"))...)
						want = append(want, response(0, id, protocol.ExpectedBody([]byte("work"), nil, 1))...)
					}
					got, err := exchange(addr, send, true)
					if err == nil && !bytes.Equal(got, want) {
						err = errors.New(firstDiff(got, want))
					}
					if err != nil {
						errs <- fmt.Errorf("connection %d: %w", i, err)
					}
				}(i)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}

			// The stuck connection got nothing.
			stuck.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			var one [1]byte
			n, err := stuck.Read(one[:])
			var ne net.Error
			if n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("stuck connection read %d bytes, err %v; want a timeout", n, err)
			}
		})
	}
}

func TestBlockForSleepsAtLeastTheTime(t *testing.T) {
	blockFor(0)
	start := time.Now()
	blockFor(3 * time.Millisecond)
	if el := time.Since(start); el < 3*time.Millisecond {
		t.Fatalf("blockFor(3ms) returned after %v", el)
	}
}

// fakeListener fails Accept with a temporary error a few times, then reports
// itself closed.
type fakeListener struct {
	net.Listener
	fails int
}

func (f *fakeListener) Accept() (net.Conn, error) {
	if f.fails > 0 {
		f.fails--
		return nil, errors.New("accept: too many open files")
	}
	return nil, net.ErrClosed
}

func (f *fakeListener) Close() error { return nil }

func TestAcceptErrorsAreRetriedAndRateLimited(t *testing.T) {
	var logged bytes.Buffer
	cfg := Config{Workload: WorkloadWork, BufSize: 16, CPUMode: CPUPool, ErrorLog: log.New(&logged, "", 0)}
	err := Serve(context.Background(), &fakeListener{fails: 3}, cfg)
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve = %v, want net.ErrClosed after the retries", err)
	}
	lines := strings.Count(logged.String(), "\n")
	if lines < 1 || lines > 3 {
		t.Fatalf("logged %d lines for 3 errors: %q", lines, logged.String())
	}
	if !strings.Contains(logged.String(), "too many open files") {
		t.Fatalf("log does not name the error: %q", logged.String())
	}
}

func TestServeRefusesABadConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := Serve(context.Background(), ln, Config{Workload: "x"}); err == nil {
		t.Fatal("Serve accepted a bad config")
	}
}

func TestServeReturnsWhenCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, Config{Workload: WorkloadEcho, BufSize: 16, CPUMode: CPUInline})
	}()
	// An open connection must not keep Serve from returning.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener still accepting after cancel")
	}
}
