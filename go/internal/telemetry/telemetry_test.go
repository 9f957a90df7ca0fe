package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEveryNameIsARuntimeMetric(t *testing.T) {
	// A misspelt or renamed metric would silently vanish from the lines.
	if got := Supported(); len(got) != len(Names) {
		known := make(map[string]bool)
		for _, n := range got {
			known[n] = true
		}
		for _, n := range Names {
			if !known[n] {
				t.Errorf("%s is not a metric of this Go runtime", n)
			}
		}
	}
}

func TestAppendFloatWritesJSONNumbersOrNull(t *testing.T) {
	cases := []struct {
		x    float64
		want string
	}{
		{0, "0"}, {0.5, "0.5"}, {1e-9, "1e-09"}, {123456789, "1.23456789e+08"},
		{math.Inf(-1), "null"}, {math.Inf(1), "null"}, {math.NaN(), "null"},
	}
	for _, c := range cases {
		if got := string(appendFloat(nil, c.x)); got != c.want {
			t.Errorf("appendFloat(%v) = %s, want %s", c.x, got, c.want)
		}
	}
}

func TestAppendHistogramHasOneMoreBoundThanCounts(t *testing.T) {
	h := &metrics.Float64Histogram{
		Buckets: []float64{math.Inf(-1), 0, 1e-6, math.Inf(1)},
		Counts:  []uint64{0, 7, 3},
	}
	want := `{"unit":"s","bounds":[null,0,1e-06,null],"counts":[0,7,3]}`
	if got := string(appendHistogram(nil, "s", h)); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestUnitOf(t *testing.T) {
	for name, want := range map[string]string{
		"/sched/latencies:seconds":             "s",
		"/gc/heap/allocs-by-size:bytes":        "bytes",
		"/sched/gomaxprocs:threads":            "threads",
		"no-unit":                              "",
		"/gc/cycles/total:gc-cycles":           "gc-cycles",
		"/cpu/classes/total:cpu-seconds":       "cpu-seconds",
		"/sched/pauses/total/gc:seconds":       "s",
		"/memory/classes/total:bytes":          "bytes",
		"/sched/goroutines:goroutines":         "goroutines",
		"/sched/threads/total:threads":         "threads",
		"/gc/heap/live:bytes":                  "bytes",
		"/sched/goroutines-created:goroutines": "goroutines",
	} {
		if got := unitOf(name); got != want {
			t.Errorf("unitOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestAppendStringEscapes(t *testing.T) {
	in := "a\"b\\c\n\x01/d:e"
	got := appendString(nil, in)
	var back string
	if err := json.Unmarshal(got, &back); err != nil || back != in {
		t.Fatalf("%s: decodes to %q (%v), want %q", got, back, err, in)
	}
}

func TestSamplerWritesNumberedLinesWithEveryMetric(t *testing.T) {
	var out bytes.Buffer
	s := NewSampler(&out)
	clock := time.UnixMilli(1_700_000_000_000).Add(250 * time.Microsecond)
	s.now = func() time.Time { clock = clock.Add(100 * time.Millisecond); return clock }
	for i := 0; i < 3; i++ {
		if err := s.Sample(); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.SplitAfter(out.String(), "\n")
	if len(lines) != 4 || lines[3] != "" {
		t.Fatalf("want 3 newline-terminated lines, got %q", out.String())
	}
	for i, text := range lines[:3] {
		l, err := ParseLine([]byte(text))
		if err != nil {
			t.Fatalf("line %d: %v: %s", i, err, text)
		}
		wantT := 1_700_000_000_000.25 + 100*float64(i+1)
		if l.Runtime != "go" || l.Seq != uint64(i) || l.TUnixMs != wantT {
			t.Errorf("line %d: header %+v, want go, seq %d, t %.3f", i, l, i, wantT)
		}
		if len(l.Metrics) != len(Supported()) {
			t.Errorf("line %d: %d metrics, want %d", i, len(l.Metrics), len(Supported()))
		}
		h, err := l.Histogram("/sched/latencies:seconds")
		if err != nil || h.Unit != "s" {
			t.Errorf("line %d: /sched/latencies: %v, unit %q", i, err, h.Unit)
		}
		if procs, err := l.Number("/sched/gomaxprocs:threads"); err != nil || procs < 1 {
			t.Errorf("line %d: gomaxprocs %v (%v)", i, procs, err)
		}
	}
}

// signalWriter collects lines and says when one arrives.
type signalWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return w.buf.Write(p)
}

func TestRunSamplesOnTheTickerAndOnceMoreAtTheEnd(t *testing.T) {
	w := &signalWriter{wrote: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := NewSampler(w)
	go func() { done <- s.Run(ctx, time.Millisecond) }()
	<-w.wrote // a ticker sample
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := strings.Count(w.buf.String(), "\n")
	if n < 2 || s.seq != uint64(n) {
		t.Fatalf("%d lines, seq %d: want at least a tick and the final sample", n, s.seq)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRunStopsAtTheFirstWriteError(t *testing.T) {
	s := NewSampler(failingWriter{})
	if err := s.Run(context.Background(), time.Millisecond); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Run returned %v, want the write error", err)
	}
}

// BenchmarkSample is the cost of one sample (read, encode, write to
// io.Discard): at 10 Hz, what telemetry takes from the server.
func BenchmarkSample(b *testing.B) {
	s := NewSampler(io.Discard)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := s.Sample(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseLineRefusesWhatIsNotALine(t *testing.T) {
	for _, bad := range []string{
		`{"schema_version":2,"runtime":"go","seq":0,"t_unix_ms":1,"metrics":{}}`,
		`{"schema_version":1,"runtime":"go","seq":0,"t_unix_ms":1,"metrics":{},"extra":1}`,
		`{"schema_version":1,"runtime":"go","seq":-1,"t_unix_ms":1,"metrics":{}}`,
		`not json`,
	} {
		if _, err := ParseLine([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	l, err := ParseLine([]byte(`{"schema_version":1,"runtime":"go","seq":0,"t_unix_ms":1,"metrics":` +
		`{"h":{"unit":"s","bounds":[null,0,null],"counts":[1]},"n":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Histogram("h"); err == nil || !strings.Contains(err.Error(), "3 bounds for 1 counts") {
		t.Errorf("a histogram with 3 bounds and 1 count: %v", err)
	}
	if _, err := l.Histogram("n"); err == nil {
		t.Error("a number read as a histogram")
	}
	if x, err := l.Number("n"); err != nil || x != 3 {
		t.Errorf("Number(n) = %v, %v", x, err)
	}
}
