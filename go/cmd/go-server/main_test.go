package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"rtcompare/internal/protocol"
)

// TestMain lets the tests run this very binary as go-server: with the
// variable set, the test binary is the program (no separate build).
func TestMain(m *testing.M) {
	if os.Getenv("GO_SERVER_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// generous bounds a wait so a hang fails the test; not a timing assertion.
const generous = 10 * time.Second

var listeningRE = regexp.MustCompile(`^LISTENING 127\.0\.0\.1:[1-9][0-9]*$`)

func TestBadFlagsGiveOneLineAndExit2(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string // a word the line must contain
	}{
		{[]string{"--bogus"}, "bogus"},
		{[]string{"-listen"}, "listen"},
		{[]string{"--buf-size", "x"}, "buf-size"},
		{[]string{"--buf-size", "0"}, "buf-size"},
		{[]string{"--buf-size", "16777217"}, "buf-size"},
		{[]string{"--workload", "http"}, "workload"},
		{[]string{"--cpu-mode", "rayon"}, "cpu-mode"},
		{[]string{"--procs", "-1"}, "procs"},
		{[]string{"--max-threads", "5"}, "--max-threads"},
		{[]string{"--max-threads", "-1"}, "--max-threads"},
		{[]string{"--listen", "0.0.0.0:0"}, "loopback"},
		{[]string{"--listen", ":0"}, "loopback"},
		{[]string{"--listen", "[::]:0"}, "loopback"},
		{[]string{"--listen", "10.1.2.3:80"}, "loopback"},
		{[]string{"--listen", "example.com:80"}, "loopback"},
		{[]string{"--listen", "127.0.0.1"}, "listen"},
		{[]string{"--allow-non-loopback", "--listen", "0.0.0.0"}, "listen"},
		{[]string{"--allow-non-loopback=maybe"}, "allow-non-loopback"},
		{[]string{"--telemetry-interval", "0s"}, "telemetry-interval"},
		{[]string{"--telemetry-interval", "-1s"}, "telemetry-interval"},
		{[]string{"--telemetry-interval", "999us"}, "telemetry-interval"},
		{[]string{"--telemetry-interval", "61s"}, "telemetry-interval"},
		{[]string{"--telemetry-interval", "10"}, "telemetry-interval"},
		{[]string{"--telemetry-interval", "fast"}, "telemetry-interval"},
		{[]string{"--telemetry", dir}, "telemetry"},
		{[]string{"--telemetry", filepath.Join(dir, "no", "such", "dir")}, "telemetry"},
		{[]string{"--data-file", filepath.Join(dir, "missing")}, "data-file"},
		{[]string{"--data-file", dir}, "data-file"},
		{[]string{"stray"}, "stray"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, &stdout, &stderr)
		msg := stderr.String()
		if code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", c.args, code, msg)
		}
		if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
			t.Errorf("%q: stderr is not one line: %q", c.args, msg)
		}
		if !strings.HasPrefix(msg, "go-server: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%q: stderr %q should start with go-server: and name %q", c.args, msg, c.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: stdout not empty: %q", c.args, stdout.String())
		}
	}
}

func TestHelpPrintsUsageAndExits0(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{arg}, &stdout, &stderr); code != 0 {
			t.Errorf("%s: exit %d, want 0", arg, code)
		}
		for _, f := range []string{"usage", "-listen", "-allow-non-loopback", "-workload", "-buf-size", "-data-file",
			"-procs", "-cpu-mode", "-telemetry", "-telemetry-interval"} {
			if !strings.Contains(stdout.String(), f) {
				t.Errorf("%s: usage lacks %q:\n%s", arg, f, stdout.String())
			}
		}
		if stderr.Len() != 0 {
			t.Errorf("%s: stderr not empty: %q", arg, stderr.String())
		}
	}
}

func TestParseArgsAcceptsBothDashStyles(t *testing.T) {
	for _, args := range [][]string{
		{"--listen", "127.0.0.1:0", "--workload", "echo", "--buf-size", "64", "--cpu-mode", "pool", "--procs", "1",
			"--telemetry", "t.jsonl", "--telemetry-interval", "250ms"},
		{"-listen=127.0.0.1:0", "-workload=echo", "-buf-size=64", "-cpu-mode=pool", "-procs=1",
			"-telemetry=t.jsonl", "-telemetry-interval=250ms"},
	} {
		o, err := parseArgs(args)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		want := options{listen: "127.0.0.1:0", workload: "echo", bufSize: 64, cpuMode: "pool", procs: 1,
			telemetry: "t.jsonl", telemetryInterval: 250 * time.Millisecond}
		if o != want {
			t.Errorf("%q: got %+v, want %+v", args, o, want)
		}
	}
	o, err := parseArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (options{listen: "127.0.0.1:0", workload: "work", bufSize: 16384, cpuMode: "inline",
		telemetryInterval: 100 * time.Millisecond}); o != want {
		t.Errorf("defaults: got %+v, want %+v", o, want)
	}
	for _, d := range []string{"1ms", "1m"} {
		if _, err := parseArgs([]string{"--telemetry-interval", d}); err != nil {
			t.Errorf("--telemetry-interval %s refused: %v", d, err)
		}
	}
	for _, ok := range []string{"[::1]:0", "localhost:0", "127.0.0.2:9"} {
		if err := checkLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
}

// The loopback contract holds unless the opt-in flag is given; with it, any
// address parses (these are only parsed here, never bound).
func TestNonLoopbackListenNeedsTheOptIn(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "10.1.2.3:80", "198.18.0.1:7000", "example.com:80"} {
		if _, err := parseArgs([]string{"--listen", addr}); err == nil || !strings.Contains(err.Error(), "allow-non-loopback") {
			t.Errorf("%s without the opt-in: %v, want a refusal naming --allow-non-loopback", addr, err)
		}
		o, err := parseArgs([]string{"--allow-non-loopback", "--listen", addr})
		if err != nil || !o.allowNonLoopback || o.listen != addr {
			t.Errorf("%s with the opt-in: %+v, %v", addr, o, err)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for run's goroutines and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRunPrintsConfigThenListeningAndServes(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data.bin")
	if err := protocol.WriteDataFile(data, 1000); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--data-file", data, "--cpu-mode", "pool", "--buf-size", "100"}, outW, &stderr)
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("reading LISTENING: %v (stderr %q)", err, stderr.String())
	}
	line = strings.TrimSuffix(line, "\n")
	if !listeningRE.MatchString(line) {
		t.Fatalf("stdout line %q does not match %s", line, listeningRE)
	}
	addr := strings.TrimPrefix(line, "LISTENING ")

	// The config line is out before LISTENING.
	errLines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(errLines) != 1 {
		t.Fatalf("stderr has %d lines, want the config line only: %q", len(errLines), stderr.String())
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(errLines[0]), &cfg); err != nil {
		t.Fatalf("config line is not JSON: %v: %q", err, errLines[0])
	}
	keys := []string{"server", "server_version", "workload", "listen", "allow_non_loopback", "buf_size", "workers",
		"cpu_mode", "data_file", "data_file_bytes", "pid", "go_version", "gomaxprocs", "max_threads",
		"telemetry", "telemetry_interval_ms"}
	if len(cfg) != len(keys) {
		t.Errorf("config line has %d keys, want %d: %v", len(cfg), len(keys), cfg)
	}
	for _, k := range keys {
		if _, ok := cfg[k]; !ok {
			t.Errorf("config line lacks %q", k)
		}
	}
	checks := map[string]any{
		"server": "go", "server_version": "0.1.0", "workload": "work", "listen": addr, "buf_size": 100.0,
		"cpu_mode": "pool", "data_file": data, "data_file_bytes": 1000.0, "pid": float64(os.Getpid()),
		"max_threads": 10000.0, "allow_non_loopback": false, "telemetry": nil, "telemetry_interval_ms": 100.0,
	}
	for k, want := range checks {
		if cfg[k] != want {
			t.Errorf("config %s = %v, want %v", k, cfg[k], want)
		}
	}
	if cfg["workers"] != cfg["gomaxprocs"] {
		t.Errorf("workers %v != gomaxprocs %v", cfg["workers"], cfg["gomaxprocs"])
	}

	// It serves: a file request hashed on the pool.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(generous))
	h := protocol.RequestHeader{Version: 1, IoKind: 3, IoArg: 10, IoOffset: 245, CPURounds: 2, ID: 5}.Encode()
	c.Write(h[:])
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	body := protocol.ExpectedBody(nil, protocol.DataBytes(245, 10), 2)
	rh := protocol.NewResponse(0, uint32(len(body)), 5).Encode()
	if want := append(rh[:], body...); !bytes.Equal(got, want) {
		t.Fatalf("response % x, want % x", got, want)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run returned %d after cancel, want 0", code)
		}
	case <-time.After(generous):
		t.Fatal("run did not return after cancel")
	}
}

// startBinary runs this test binary as go-server with args.
func startBinary(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GO_SERVER_TEST_RUN_MAIN=1")
	stderr := new(lockedBuffer)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, bufio.NewReader(out), stderr
}

// waitExit waits for cmd within a generous bound and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(generous):
		cmd.Process.Kill()
		<-done
		t.Fatalf("process did not exit within %v", generous)
		return -1
	}
}

func TestBinarySignalsExit0(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, out, stderr := startBinary(t, "--workload", "echo", "--procs", "1")
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatalf("reading LISTENING: %v (stderr %q)", err, stderr.String())
			}
			line = strings.TrimSuffix(line, "\n")
			if !listeningRE.MatchString(line) {
				t.Fatalf("stdout line %q does not match %s", line, listeningRE)
			}
			// An open connection must not delay the exit.
			c, err := net.Dial("tcp", strings.TrimPrefix(line, "LISTENING "))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(generous))
			c.Write([]byte("ping"))
			echo := make([]byte, 4)
			if _, err := io.ReadFull(c, echo); err != nil || string(echo) != "ping" {
				t.Fatalf("echo: %q, %v", echo, err)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := waitExit(t, cmd); code != 0 {
				t.Fatalf("exit %d after %v, want 0 (stderr %q)", code, sig, stderr.String())
			}
			if rest, _ := io.ReadAll(out); len(rest) != 0 {
				t.Errorf("stdout after LISTENING: %q", rest)
			}
		})
	}
}

func TestBinaryBadFlagExits2WithOneLine(t *testing.T) {
	cmd, out, stderr := startBinary(t, "--buf-size", "nope")
	rest, _ := io.ReadAll(out)
	if code := waitExit(t, cmd); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	msg := stderr.String()
	if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "buf-size") {
		t.Fatalf("stderr %q: want one line naming buf-size", msg)
	}
	if len(rest) != 0 {
		t.Fatalf("stdout %q, want nothing", rest)
	}
}

// --cpu-mode oversubscribed keeps --procs as the pool's size (workers) and
// doubles GOMAXPROCS. Run as a child: GOMAXPROCS is process-wide.
func TestBinaryOversubscribedDoublesGOMAXPROCS(t *testing.T) {
	for _, c := range []struct {
		args                []string
		workers, gomaxprocs float64
	}{
		{[]string{"--cpu-mode", "oversubscribed", "--procs", "1"}, 1, 2},
		{[]string{"--cpu-mode", "oversubscribed", "--procs", "3"}, 3, 6},
		{[]string{"--cpu-mode", "pool", "--procs", "3"}, 3, 3},
	} {
		cmd, out, stderr := startBinary(t, c.args...)
		if _, err := out.ReadString('\n'); err != nil {
			t.Fatalf("%q: reading LISTENING: %v (stderr %q)", c.args, err, stderr.String())
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if code := waitExit(t, cmd); code != 0 {
			t.Fatalf("%q: exit %d", c.args, code)
		}
		var cfg map[string]any
		if err := json.Unmarshal([]byte(strings.SplitN(stderr.String(), "\n", 2)[0]), &cfg); err != nil {
			t.Fatalf("%q: config line: %v", c.args, err)
		}
		if cfg["workers"] != c.workers || cfg["gomaxprocs"] != c.gomaxprocs || cfg["cpu_mode"] != c.args[1] {
			t.Errorf("%q: workers %v, gomaxprocs %v, cpu_mode %v; want %v, %v, %s",
				c.args, cfg["workers"], cfg["gomaxprocs"], cfg["cpu_mode"], c.workers, c.gomaxprocs, c.args[1])
		}
	}
}

// --max-threads reaches the runtime, and the config line reads it back.
func TestMaxThreadsFlagSetsTheRuntimeLimit(t *testing.T) {
	o, err := parseArgs([]string{"--max-threads", "500"})
	if err != nil {
		t.Fatal(err)
	}
	prev := maxThreads()
	defer debug.SetMaxThreads(prev)
	setMaxThreads(o)
	if got := maxThreads(); got != 500 {
		t.Errorf("maxThreads() = %d after --max-threads 500", got)
	}
}
