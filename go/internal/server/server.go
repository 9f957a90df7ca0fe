// Package server is the Go side of the comparison: a TCP server for the echo
// and work workloads of protocol.md, written the way net/http serves — one
// accept loop, one goroutine per connection, blocking-style code on top of the
// netpoller. cmd/go-server is a thin main around Serve.
package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"

	"rtcompare/internal/protocol"
)

// Workloads and CPU modes accepted in Config.
const (
	WorkloadEcho = "echo"
	WorkloadWork = "work"

	// CPUInline hashes on the connection's goroutine: the natural Go way,
	// the scheduler preempts long computations.
	CPUInline = "inline"
	// CPUPool hands each hash to a fixed pool of Workers goroutines over one
	// channel. It is not a dedicated CPU pool: the pool's goroutines run on
	// the same GOMAXPROCS Ps as the connections, so it bounds how many
	// hashes run at once and adds two channel hops per job, but isolates
	// nothing from the connections.
	CPUPool = "pool"
	// CPUOversubscribed is CPUPool with as many Ps again as the pool has
	// goroutines: cmd/go-server sets GOMAXPROCS to twice the pool's size
	// (Workers). At most Workers hashes hold Ps, the connections always
	// have Workers Ps left, and with more runnable threads than CPUs the
	// kernel time-slices hashing against the connections: what tokio's
	// rayon pool (--workers threads beside the workers) does, and its
	// blocking pool without the bound.
	//
	// Why not runtime.LockOSThread: Go code runs only on a P, so a
	// goroutine locked to its own OS thread still waits for one and takes
	// it from the connections; it adds a thread, not parallelism. Measured
	// in hol-cpu-10ms on 1 server CPU (3 interleaved runs, busy machine):
	// a locked pool at GOMAXPROCS 1 had the light p99 of inline (ratio
	// 0.6-1.3); every layout with GOMAXPROCS 2 cut it to about 0.5-0.7x.
	// Inline hashing at GOMAXPROCS 2N is close, but lets 2N concurrent
	// hashes take every P (light p50 1.5 ms there vs 0.6 ms with the pool).
	CPUOversubscribed = "oversubscribed"
)

// acceptRetryPause is how long the accept loop waits after an error (e.g.
// EMFILE) before trying again, so a full fd table does not spin a core.
const acceptRetryPause = 10 * time.Millisecond

// Config is the server's effective configuration.
type Config struct {
	// Workload is WorkloadEcho or WorkloadWork.
	Workload string
	// BufSize is the capacity of the per-connection read buffer (echo) or of
	// the buffered reader and writer (work), 1..=protocol.MaxBufSize.
	BufSize int
	// CPUMode is CPUInline, CPUPool or CPUOversubscribed (work only).
	CPUMode string
	// Workers is the pool size for CPUPool and CPUOversubscribed; 0 means
	// GOMAXPROCS.
	Workers int
	// DataFile serves io_kind file; nil answers every file request with status 4.
	DataFile *DataFile
	// ErrorLog receives accept errors; nil means log.Default().
	ErrorLog *log.Logger
}

// Validate reports the first unusable field.
func (c Config) Validate() error {
	switch c.Workload {
	case WorkloadEcho, WorkloadWork:
	default:
		return fmt.Errorf("workload %q: want echo or work", c.Workload)
	}
	if c.BufSize < 1 || c.BufSize > protocol.MaxBufSize {
		return fmt.Errorf("buf size %d: want 1..=%d", c.BufSize, protocol.MaxBufSize)
	}
	switch c.CPUMode {
	case CPUInline, CPUPool, CPUOversubscribed:
	default:
		return fmt.Errorf("cpu mode %q: want inline, pool or oversubscribed", c.CPUMode)
	}
	if c.Workers < 0 {
		return fmt.Errorf("workers %d: want >= 0", c.Workers)
	}
	return nil
}

// DataFile is the file io_kind file reads from: opened once at start and
// shared by every connection, its length recorded at open.
type DataFile struct {
	f    *os.File
	path string
	size int64
}

// OpenDataFile opens path for positional reads and records its length.
func OpenDataFile(path string) (*DataFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return &DataFile{f: f, path: path, size: st.Size()}, nil
}

// Path is the name the file was opened with.
func (d *DataFile) Path() string { return d.path }

// Size is the length in bytes recorded at open.
func (d *DataFile) Size() int64 { return d.size }

// Close closes the file.
func (d *DataFile) Close() error { return d.f.Close() }

// Serve accepts connections on ln until ctx is done, serving each on its own
// goroutine. When ctx is done it closes ln and returns nil at once, without
// waiting for open connections (the process is about to exit). Accept errors
// are logged at most once per second and retried; only a listener closed by
// someone else ends Serve with an error.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.ErrorLog == nil {
		cfg.ErrorLog = log.Default()
	}
	s := &server{cfg: cfg, done: make(chan struct{})}
	defer close(s.done)
	if cfg.Workload == WorkloadWork && (cfg.CPUMode == CPUPool || cfg.CPUMode == CPUOversubscribed) {
		s.startPool()
	}

	// Closing the listener is how a blocked Accept is woken up.
	go func() {
		select {
		case <-ctx.Done():
			ln.Close()
		case <-s.done:
		}
	}()

	var lastLog time.Time
	suppressed := 0
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			if now := time.Now(); now.Sub(lastLog) >= time.Second {
				if suppressed > 0 {
					cfg.ErrorLog.Printf("accept: %v (and %d more errors since the last report); retrying", err, suppressed)
				} else {
					cfg.ErrorLog.Printf("accept: %v; retrying", err)
				}
				lastLog, suppressed = now, 0
			} else {
				suppressed++
			}
			time.Sleep(acceptRetryPause)
			continue
		}
		go s.serveConn(c)
	}
}

type server struct {
	cfg Config
	// done is closed when Serve returns; it stops the pool's workers.
	done chan struct{}
	// jobs feeds the CPU pool (CPUPool and CPUOversubscribed only).
	jobs chan hashJob
}

func (s *server) serveConn(c net.Conn) {
	defer c.Close()
	// Go enables TCP_NODELAY by default; set it anyway so both servers say so
	// in code. A failure means the connection is already dead; the first
	// read will tell.
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if s.cfg.Workload == WorkloadEcho {
		s.serveEcho(c)
	} else {
		s.serveWork(c)
	}
}

// serveEcho writes back every byte it reads until the client's EOF. An
// explicit loop rather than io.Copy: io.Copy would hand the copy to
// (*net.TCPConn).ReadFrom, which splices in the kernel and ignores the buffer
// size the two servers are meant to share.
func (s *server) serveEcho(c net.Conn) {
	buf := make([]byte, s.cfg.BufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			// net.Conn.Write writes everything or fails.
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF: everything read has been written back.
		}
	}
}

// workConn is one work connection's state, reused across its requests. Write
// errors are sticky in bufio.Writer and surface at the next Flush, so single
// Writes go unchecked.
//
// The request path allocates nothing after a connection's first requests
// (alloc_test.go): the header and digest arrays live here, in the one heap
// object per connection, because a slice of a local array handed to
// bufio.Writer.Write escapes (Write may pass it on to the socket's Write
// through an interface) and would cost a heap allocation per request.
// bufio.Writer.AvailableBuffer with binary.BigEndian.AppendUint32 avoids that
// too, but allocates whenever fewer than 12 bytes are free in the buffer;
// these arrays never do.
type workConn struct {
	s  *server
	br *bufio.Reader
	bw *bufio.Writer
	// payload and file grow only to a length already checked against its
	// limit, never from an unchecked header field.
	payload []byte
	file    []byte
	// in, out and digest are the request header, response header and
	// digest of the request being served.
	in     [protocol.RequestHeaderLen]byte
	out    [protocol.ResponseHeaderLen]byte
	digest [32]byte
	// reply receives digests from the pool (pool modes only), buffered so a
	// worker never waits on a connection.
	reply chan [32]byte
}

func (s *server) serveWork(c net.Conn) {
	bw := bufio.NewWriterSize(c, s.cfg.BufSize)
	// bufio's reader has a 16-byte minimum, so --buf-size below 16 gives a
	// 16-byte reader here; the writer honours any size.
	wc := &workConn{
		s:  s,
		br: bufio.NewReaderSize(flushBeforeRead{c, bw}, s.cfg.BufSize),
		bw: bw,
	}
	for {
		if _, err := io.ReadFull(wc.br, wc.in[:]); err != nil {
			// io.EOF: the client closed at a frame boundary, and every
			// answer was flushed before the read. Anything else is EOF
			// or an error mid-frame: close without a response.
			return
		}
		h := protocol.DecodeRequest(&wc.in)
		d := h.Disposition()
		switch d.Action {
		case protocol.Close:
			// Payload unread: the header alone was enough to refuse.
			wc.writeHeader(d.Status, 0, h.ID)
			_ = wc.bw.Flush()
			return
		case protocol.Skip:
			// Discard reads through the reader's own buffer: bounded.
			if _, err := wc.br.Discard(int(h.PayloadLen)); err != nil {
				return
			}
			wc.writeHeader(d.Status, 0, h.ID)
			continue
		}
		wc.payload = grow(wc.payload, int(h.PayloadLen))
		if _, err := io.ReadFull(wc.br, wc.payload); err != nil {
			return
		}
		fileBytes, status := wc.ioStep(d.Kind, h)
		if status != protocol.StatusOK {
			wc.writeHeader(status, 0, h.ID)
			continue
		}
		if h.CPURounds == 0 {
			// body = payload ‖ file bytes, written as two parts, no copy.
			wc.writeHeader(protocol.StatusOK, uint32(len(wc.payload)+len(fileBytes)), h.ID)
			wc.bw.Write(wc.payload)
			wc.bw.Write(fileBytes)
			continue
		}
		var ok bool
		if wc.digest, ok = wc.hash(fileBytes, h.CPURounds); !ok {
			return
		}
		wc.writeHeader(protocol.StatusOK, uint32(len(wc.digest)), h.ID)
		wc.bw.Write(wc.digest[:])
	}
}

// flushBeforeRead is the socket as the buffered reader sees it: the writer is
// flushed before every socket read, i.e. whenever the reader has no buffered
// bytes left and may block. Pipelined responses are batched, a lone request
// is answered at once, and a client that waits for an answer before
// finishing its next frame never stalls. bufio.Reader reads its source only
// when its buffer is empty, so this is the same rule as the Rust server's
// check of reader.buffer().is_empty() before each read, mid-frame included.
type flushBeforeRead struct {
	c  net.Conn
	bw *bufio.Writer
}

func (f flushBeforeRead) Read(p []byte) (int, error) {
	if f.bw.Buffered() > 0 {
		if err := f.bw.Flush(); err != nil {
			return 0, err
		}
	}
	return f.c.Read(p)
}

func (wc *workConn) writeHeader(status protocol.Status, bodyLen, id uint32) {
	wc.out = protocol.NewResponse(status, bodyLen, id).Encode()
	wc.bw.Write(wc.out[:])
}

// ioStep runs the request's I/O step and returns the file bytes (io_kind file
// only) or the status that ends the request.
func (wc *workConn) ioStep(kind protocol.IoKind, h protocol.RequestHeader) ([]byte, protocol.Status) {
	switch kind {
	case protocol.IoSleep:
		// The runtime timer: the goroutine parks, its thread runs others.
		// The timer is made at the goroutine's first sleep and reused, so
		// a sleep allocates nothing per request (alloc_test.go).
		time.Sleep(time.Duration(h.IoArg) * time.Microsecond)
	case protocol.IoBlock:
		blockFor(time.Duration(h.IoArg) * time.Microsecond)
	case protocol.IoFile:
		df := wc.s.cfg.DataFile
		if df == nil || uint64(h.IoOffset)+uint64(h.IoArg) > uint64(df.size) {
			return nil, protocol.StatusFileImpossible
		}
		wc.file = grow(wc.file, int(h.IoArg))
		// ReadAt is pread(2) on the shared file: a blocking syscall on this
		// thread (the netpoller does not cover regular files); if it lasts,
		// the runtime's sysmon hands the P to another thread meanwhile.
		// It fails only if it read fewer bytes (file shrank, I/O error).
		if _, err := df.f.ReadAt(wc.file, int64(h.IoOffset)); err != nil {
			return nil, protocol.StatusFileImpossible
		}
		return wc.file, protocol.StatusOK
	}
	return nil, protocol.StatusOK
}

// blockFor holds the calling OS thread in nanosleep(2) for d, like Rust's
// std::thread::sleep: a blocking syscall, not a runtime timer. The Go runtime
// interrupts threads with signals (SIGURG for preemption), so EINTR is
// common: sleep again for the remaining time. A zero d makes no call, as in
// Rust.
func blockFor(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for ts.Sec > 0 || ts.Nsec > 0 {
		var rem syscall.Timespec
		if err := syscall.Nanosleep(&ts, &rem); err != syscall.EINTR {
			return
		}
		ts = rem
	}
}

// hash runs the chained SHA-256 over payload ‖ file per the CPU mode. ok is
// false only when the server is shutting down.
func (wc *workConn) hash(file []byte, rounds uint32) (digest [32]byte, ok bool) {
	if wc.s.jobs == nil {
		return protocol.ShaChain(wc.payload, file, rounds), true
	}
	if wc.reply == nil {
		wc.reply = make(chan [32]byte, 1)
	}
	select {
	case wc.s.jobs <- hashJob{payload: wc.payload, file: file, rounds: rounds, reply: wc.reply}:
	case <-wc.s.done:
		return digest, false
	}
	// A worker that took the job always replies; the connection waits, so
	// the slices it lent stay untouched meanwhile.
	return <-wc.reply, true
}

// hashJob is one compute step for the pool, carrying its reply channel.
type hashJob struct {
	payload, file []byte
	rounds        uint32
	reply         chan<- [32]byte
}

// startPool starts Workers (default GOMAXPROCS) goroutines fed by one
// unbuffered channel; they stop when Serve returns.
func (s *server) startPool() {
	n := s.cfg.Workers
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	s.jobs = make(chan hashJob)
	for i := 0; i < n; i++ {
		go func() {
			for {
				select {
				case j := <-s.jobs:
					j.reply <- protocol.ShaChain(j.payload, j.file, j.rounds)
				case <-s.done:
					return
				}
			}
		}()
	}
}

// grow returns b resized to n bytes, reallocating only when its capacity is
// too small. n has already been checked against a protocol limit.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
