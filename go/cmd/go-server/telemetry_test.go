package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"rtcompare/internal/protocol"
	"rtcompare/internal/telemetry"
)

// Cumulative counters among the metrics: never smaller in a later line.
var telemetryCounters = []string{
	"/gc/cycles/total:gc-cycles",
	"/gc/heap/allocs:objects",
	"/gc/heap/allocs:bytes",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/user:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
}

var telemetryHistograms = []string{
	"/sched/latencies:seconds",
	"/sched/pauses/total/gc:seconds",
	"/sched/pauses/total/other:seconds",
}

func readTelemetry(t *testing.T, path string) []telemetry.Line {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(text, []byte("\n")) {
		t.Fatalf("telemetry does not end with a whole line: ...%q", text[max(0, len(text)-40):])
	}
	var out []telemetry.Line
	for i, l := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
		tl, err := telemetry.ParseLine([]byte(l))
		if err != nil {
			t.Fatalf("line %d is not a telemetry line: %v", i, err)
		}
		out = append(out, tl)
	}
	return out
}

func TestBinaryWritesTelemetryFromStartToSignal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "telemetry.jsonl")
	cmd, out, stderr := startBinary(t, "--procs", "2", "--telemetry", path, "--telemetry-interval", "5ms")
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("reading LISTENING: %v (stderr %q)", err, stderr.String())
	}
	// The baseline sample is written before LISTENING.
	if lines := readTelemetry(t, path); len(lines) == 0 {
		t.Fatal("no baseline sample before LISTENING")
	}
	// A little load: connections that each allocate their buffers and carry
	// a few hashed requests, so allocation counters move.
	addr := strings.TrimPrefix(strings.TrimSuffix(line, "\n"), "LISTENING ")
	for i := 0; i < 50; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(generous))
		for j := uint32(0); j < 3; j++ {
			h := protocol.RequestHeader{Version: 1, CPURounds: 1000, ID: j}.Encode()
			c.Write(h[:])
		}
		c.(*net.TCPConn).CloseWrite()
		if got, err := io.ReadAll(c); err != nil || len(got) != 3*(protocol.ResponseHeaderLen+32) {
			t.Fatalf("connection %d: %d bytes, %v", i, len(got), err)
		}
		c.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd); code != 0 {
		t.Fatalf("exit %d, want 0 (stderr %q)", code, stderr.String())
	}

	// stderr is complete once the process has exited.
	var cfg map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(stderr.String(), "\n", 2)[0]), &cfg); err != nil {
		t.Fatalf("config line: %v (stderr %q)", err, stderr.String())
	}
	if cfg["telemetry"] != path || cfg["telemetry_interval_ms"] != 5.0 {
		t.Errorf("config line says telemetry %v every %v ms, want %s every 5", cfg["telemetry"], cfg["telemetry_interval_ms"], path)
	}

	lines := readTelemetry(t, path)
	if len(lines) < 2 {
		t.Fatalf("%d lines, want the baseline and the final sample at least", len(lines))
	}
	first, last := lines[0], lines[len(lines)-1]
	for i, l := range lines {
		if l.Runtime != "go" || l.Seq != uint64(i) {
			t.Fatalf("line %d: runtime %q, seq %d", i, l.Runtime, l.Seq)
		}
		if len(l.Metrics) != len(first.Metrics) {
			t.Fatalf("line %d has %d metrics, line 0 %d", i, len(l.Metrics), len(first.Metrics))
		}
		if i == 0 {
			continue
		}
		prev := lines[i-1]
		if l.TUnixMs <= prev.TUnixMs {
			t.Errorf("line %d: t_unix_ms %.3f after %.3f", i, l.TUnixMs, prev.TUnixMs)
		}
		for _, name := range telemetryCounters {
			a, err1 := prev.Number(name)
			b, err2 := l.Number(name)
			if err := errors.Join(err1, err2); err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			if b < a {
				t.Errorf("line %d: counter %s went down from %v to %v", i, name, a, b)
			}
		}
		for _, name := range telemetryHistograms {
			a, err1 := prev.Histogram(name)
			b, err2 := l.Histogram(name)
			if err := errors.Join(err1, err2); err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			if b.Unit != "s" {
				t.Fatalf("line %d: %s has unit %q, want s", i, name, b.Unit)
			}
			if !reflect.DeepEqual(a.Bounds, b.Bounds) {
				t.Fatalf("line %d: %s changed its bounds", i, name)
			}
			for k := range b.Counts {
				if b.Counts[k] < a.Counts[k] {
					t.Errorf("line %d: %s bucket %d went down from %d to %d", i, name, k, a.Counts[k], b.Counts[k])
				}
			}
		}
	}
	allocsBefore, _ := first.Number("/gc/heap/allocs:bytes")
	allocsAfter, _ := last.Number("/gc/heap/allocs:bytes")
	// 50 connections, each with a 16 KiB reader and writer (the runtime
	// counts allocations by span, so only "it moved" is exact).
	if allocsAfter <= allocsBefore {
		t.Errorf("/gc/heap/allocs:bytes went from %v to %v over 50 connections", allocsBefore, allocsAfter)
	}
	if procs, _ := last.Number("/sched/gomaxprocs:threads"); procs != 2 {
		t.Errorf("/sched/gomaxprocs:threads = %v, want 2 (--procs 2)", procs)
	}
}
