// Command go-server is the Go server of the comparison (protocol.md): the
// echo or work workload on a loopback TCP port. Flags, then
// internal/server.Serve until SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"rtcompare/internal/protocol"
	"rtcompare/internal/server"
	"rtcompare/internal/telemetry"
)

const (
	program       = "go-server"
	serverVersion = "0.1.0"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the parsed, checked flags.
type options struct {
	listen            string
	allowNonLoopback  bool
	workload          string
	bufSize           int
	dataFile          string
	procs             int
	maxThreads        int
	cpuMode           string
	telemetry         string
	telemetryInterval time.Duration
}

// Bounds of --telemetry-interval: finer than 1 ms would make the sampler a
// load of its own; coarser than a minute says nothing about a trial.
const (
	minTelemetryInterval     = time.Millisecond
	maxTelemetryInterval     = time.Minute
	defaultTelemetryInterval = 100 * time.Millisecond
)

// errUsage marks a problem with the command line (exit 2).
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

func usagef(format string, a ...any) error { return errUsage{fmt.Sprintf(format, a...)} }

func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	// Errors are printed by run as one line; the flag package's own output
	// (error plus the whole usage) is discarded.
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "`HOST:PORT` to listen on; loopback only unless --allow-non-loopback")
	fs.BoolVar(&o.allowNonLoopback, "allow-non-loopback", false, "accept a --listen address that is not loopback (runs across machines; the server is then reachable from the network)")
	fs.StringVar(&o.workload, "workload", server.WorkloadWork, "`echo|work`: raw TCP echo or framed requests")
	fs.IntVar(&o.bufSize, "buf-size", protocol.DefaultBufSize, "per-connection read/write buffer `bytes`, 1..=16777216")
	fs.StringVar(&o.dataFile, "data-file", "", "`PATH` of the file io_kind file reads (none: status 4)")
	fs.IntVar(&o.procs, "procs", 0, "GOMAXPROCS `N` (0: the runtime's default); --cpu-mode oversubscribed doubles it")
	fs.IntVar(&o.maxThreads, "max-threads", 0, "the runtime's OS-thread limit `N` (debug.SetMaxThreads; 0: Go's default of 10000). Past it the runtime dies with \"thread exhaustion\": a runtime behaviour the F2 scenario measures, lowered there to fit a small machine")
	fs.StringVar(&o.cpuMode, "cpu-mode", server.CPUInline, "`inline|pool|oversubscribed`: hash on the connection's goroutine; on a pool of GOMAXPROCS goroutines sharing the connections' Ps (caps concurrent hashes, isolates nothing); or on a pool of --procs goroutines with GOMAXPROCS doubled, so the kernel time-slices hashing against the connections (tokio's rayon/blocking-pool analogue)")
	fs.StringVar(&o.telemetry, "telemetry", "", "write runtime/metrics samples to `PATH`, one JSON line each (file created or truncated; no file and no sampling when absent)")
	fs.DurationVar(&o.telemetryInterval, "telemetry-interval", defaultTelemetryInterval, "time between --telemetry samples, 1ms..=1m")
	return fs
}

// parseArgs parses and checks the flags. flag.ErrHelp means -h or --help.
func parseArgs(args []string) (options, error) {
	var o options
	fs := newFlagSet(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errUsage{err.Error()}
	}
	if fs.NArg() > 0 {
		return o, usagef("unexpected argument %q", fs.Arg(0))
	}
	switch o.workload {
	case server.WorkloadEcho, server.WorkloadWork:
	default:
		return o, usagef("--workload %q: want echo or work", o.workload)
	}
	if o.bufSize < 1 || o.bufSize > protocol.MaxBufSize {
		return o, usagef("--buf-size %d: want 1..=%d", o.bufSize, protocol.MaxBufSize)
	}
	switch o.cpuMode {
	case server.CPUInline, server.CPUPool, server.CPUOversubscribed:
	default:
		return o, usagef("--cpu-mode %q: want inline, pool or oversubscribed", o.cpuMode)
	}
	if o.procs < 0 {
		return o, usagef("--procs %d: want >= 0 (0: the runtime's default)", o.procs)
	}
	if o.maxThreads != 0 && (o.maxThreads < 10 || o.maxThreads > 1000000) {
		return o, usagef("--max-threads %d: want 10..=1000000 (0: Go's default)", o.maxThreads)
	}
	if o.telemetryInterval < minTelemetryInterval || o.telemetryInterval > maxTelemetryInterval {
		return o, usagef("--telemetry-interval %v: want %v..=%v", o.telemetryInterval, minTelemetryInterval, maxTelemetryInterval)
	}
	if o.allowNonLoopback {
		if _, _, err := net.SplitHostPort(o.listen); err != nil {
			return o, usagef("--listen %q: %v", o.listen, err)
		}
		return o, nil
	}
	if err := checkLoopback(o.listen); err != nil {
		return o, err
	}
	return o, nil
}

// checkLoopback refuses any --listen that is not a loopback address: unless
// told otherwise with --allow-non-loopback, the servers must never be
// reachable from another machine.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("--listen %q: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return usagef("--listen %q: not a loopback address (use 127.0.0.1 or [::1], or pass --allow-non-loopback)", addr)
	}
	return nil
}

// configLine is the one JSON line of effective configuration on stderr; the
// keys the Rust server shares come first.
type configLine struct {
	Server        string `json:"server"`
	ServerVersion string `json:"server_version"`
	Workload      string `json:"workload"`
	Listen        string `json:"listen"`
	// AllowNonLoopback is --allow-non-loopback.
	AllowNonLoopback bool    `json:"allow_non_loopback"`
	BufSize          int     `json:"buf_size"`
	Workers          int     `json:"workers"`
	CPUMode          string  `json:"cpu_mode"`
	DataFile         *string `json:"data_file"`
	DataFileBytes    int64   `json:"data_file_bytes"`
	Pid              int     `json:"pid"`
	GoVersion        string  `json:"go_version"`
	GOMAXPROCS       int     `json:"gomaxprocs"`
	MaxThreads       int     `json:"max_threads"`
	// Telemetry is --telemetry's path, null without it; the interval is
	// stated either way.
	Telemetry           *string `json:"telemetry"`
	TelemetryIntervalMs float64 `json:"telemetry_interval_ms"`
}

// run is the whole program: parse flags, open the data file and the
// telemetry file, bind, print the config line, take the first telemetry
// sample, print LISTENING, serve until ctx is done, take the last sample. It
// returns the exit code: 0 after a signal, 2 for a usage problem, 1 for
// anything else.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "%s: %s\n", program, fmt.Sprintf(format, a...))
		return code
	}
	o, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "usage: %s [flags]\n\nServes the echo or work workload of protocol.md on a loopback port (another address only with --allow-non-loopback).\n\nFlags (-flag and --flag are the same):\n", program)
		fs := newFlagSet(new(options))
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	if err != nil {
		return fail(2, "%v", err)
	}
	setMaxThreads(o)
	if o.procs > 0 {
		runtime.GOMAXPROCS(o.procs)
	}
	workers := runtime.GOMAXPROCS(0)
	if o.cpuMode == server.CPUOversubscribed {
		// A pool of `workers` hashing goroutines and as many Ps again for
		// them (server.CPUOversubscribed says why).
		runtime.GOMAXPROCS(2 * workers)
	}

	var df *server.DataFile
	if o.dataFile != "" {
		if df, err = server.OpenDataFile(o.dataFile); err != nil {
			return fail(2, "--data-file: %v", err)
		}
		defer df.Close()
	}
	// RLIMIT_NOFILE: the Go runtime raises the soft limit to the hard limit
	// itself at start-up (since Go 1.19), so there is nothing to do here.

	var tf *os.File
	if o.telemetry != "" {
		if tf, err = os.Create(o.telemetry); err != nil {
			return fail(2, "--telemetry: %v", err)
		}
		defer tf.Close()
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer ln.Close()
	// "localhost" could in principle resolve to something else.
	if ta, ok := ln.Addr().(*net.TCPAddr); !o.allowNonLoopback && (!ok || !ta.IP.IsLoopback()) {
		return fail(2, "--listen %q: bound %s, not a loopback address", o.listen, ln.Addr())
	}

	cfg := server.Config{
		Workload: o.workload,
		BufSize:  o.bufSize,
		CPUMode:  o.cpuMode,
		Workers:  workers,
		DataFile: df,
		ErrorLog: log.New(stderr, program+": ", log.LstdFlags),
	}
	line := configLine{
		Server:              "go",
		ServerVersion:       serverVersion,
		Workload:            cfg.Workload,
		Listen:              ln.Addr().String(),
		AllowNonLoopback:    o.allowNonLoopback,
		BufSize:             cfg.BufSize,
		Workers:             cfg.Workers,
		CPUMode:             cfg.CPUMode,
		Pid:                 os.Getpid(),
		GoVersion:           runtime.Version(),
		GOMAXPROCS:          runtime.GOMAXPROCS(0),
		MaxThreads:          maxThreads(),
		TelemetryIntervalMs: float64(o.telemetryInterval) / float64(time.Millisecond),
	}
	if tf != nil {
		line.Telemetry = &o.telemetry
	}
	if df != nil {
		path := df.Path()
		line.DataFile, line.DataFileBytes = &path, df.Size()
	}
	js, err := json.Marshal(line)
	if err != nil {
		return fail(1, "config line: %v", err)
	}
	fmt.Fprintf(stderr, "%s\n", js)
	stopTelemetry := func() {}
	if tf != nil {
		if stopTelemetry, err = startTelemetry(tf, o.telemetryInterval, cfg.ErrorLog); err != nil {
			return fail(1, "--telemetry: %v", err)
		}
	}
	// os.Stdout is unbuffered: the line is out when Fprintf returns.
	fmt.Fprintf(stdout, "LISTENING %s\n", ln.Addr())

	err = server.Serve(ctx, ln, cfg)
	stopTelemetry()
	if err != nil {
		return fail(1, "%v", err)
	}
	return 0
}

// startTelemetry writes the baseline sample, then samples every interval on
// a goroutine of its own until stop is called; stop takes the final sample
// and returns when it is written. A write error ends sampling (logged once);
// the server keeps serving.
func startTelemetry(f *os.File, interval time.Duration, errLog *log.Logger) (stop func(), err error) {
	s := telemetry.NewSampler(f)
	if err := s.Sample(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx, interval); err != nil {
			errLog.Printf("telemetry: %v; sampling stopped", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// setMaxThreads applies --max-threads (0 keeps Go's default).
func setMaxThreads(o options) {
	if o.maxThreads > 0 {
		debug.SetMaxThreads(o.maxThreads)
	}
}

// maxThreads reads the runtime's OS-thread limit (10000 unless changed)
// without changing it: debug.SetMaxThreads returns the previous value.
func maxThreads() int {
	prev := debug.SetMaxThreads(10000)
	debug.SetMaxThreads(prev)
	return prev
}
