// Package telemetry samples the Go runtime's own view of itself
// (runtime/metrics) and writes one JSON line per sample, so a latency
// timeline can be read beside scheduling delay, GC pauses and CPU classes
// on the same clock. The line format is shared with the Rust server
// (PROTOCOL.md, "Runtime telemetry").
package telemetry

import (
	"context"
	"io"
	"math"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// SchemaVersion is the "schema_version" of every line.
const SchemaVersion = 1

// Names are the runtime/metrics the server samples, verbatim (Go 1.26 names;
// `go doc runtime/metrics`). A name this runtime does not know is left out of
// the lines (Supported says which are in).
var Names = []string{
	// Scheduling: time runnable goroutines waited for a P, how many wait.
	"/sched/latencies:seconds",
	"/sched/goroutines:goroutines",
	"/sched/goroutines/runnable:goroutines",
	"/sched/goroutines/not-in-go:goroutines",
	"/sched/gomaxprocs:threads",
	"/sched/threads/total:threads",
	// Stop-the-world pauses and GC cycles.
	"/sched/pauses/total/gc:seconds",
	"/sched/pauses/total/other:seconds",
	"/gc/cycles/total:gc-cycles",
	// Heap: in use (live and not yet swept objects), live after the last
	// GC, the next GC's goal, everything the runtime mapped; allocations.
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/live:bytes",
	"/gc/heap/goal:bytes",
	"/memory/classes/total:bytes",
	"/gc/heap/allocs:objects",
	"/gc/heap/allocs:bytes",
	// CPU by class. The runtime updates these at the end of each GC cycle
	// only (runtime/metrics.go, cpuStatsAggregate): between cycles they
	// stay constant.
	"/cpu/classes/gc/mark/assist:cpu-seconds",
	"/cpu/classes/gc/mark/dedicated:cpu-seconds",
	"/cpu/classes/gc/mark/idle:cpu-seconds",
	"/cpu/classes/gc/pause:cpu-seconds",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/scavenge/total:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
	"/cpu/classes/user:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
}

// Supported returns the names of Names this runtime provides, in order.
func Supported() []string {
	known := make(map[string]bool)
	for _, d := range metrics.All() {
		known[d.Name] = true
	}
	var out []string
	for _, n := range Names {
		if known[n] {
			out = append(out, n)
		}
	}
	return out
}

// Sampler reads the metrics and writes one line per Sample call. Its
// buffers are reused, so sampling allocates next to nothing after the first
// line (the runtime reuses a histogram's slices too).
type Sampler struct {
	w       io.Writer
	samples []metrics.Sample
	seq     uint64
	line    []byte
	// now is the wall clock (replaced in tests).
	now func() time.Time
}

// NewSampler returns a sampler writing to w, one Write call per line.
func NewSampler(w io.Writer) *Sampler {
	names := Supported()
	s := &Sampler{w: w, samples: make([]metrics.Sample, len(names)), now: time.Now}
	for i, n := range names {
		s.samples[i].Name = n
	}
	return s
}

// Sample reads the metrics and writes one line.
func (s *Sampler) Sample() error {
	t := s.now()
	metrics.Read(s.samples)
	s.line = AppendLine(s.line[:0], s.seq, t, s.samples)
	s.seq++
	_, err := s.w.Write(s.line)
	return err
}

// Run samples every interval until ctx is done, then takes a final sample.
// It returns the first write error (and stops sampling), or nil.
func (s *Sampler) Run(ctx context.Context, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := s.Sample(); err != nil {
				return err
			}
		case <-ctx.Done():
			return s.Sample()
		}
	}
}

// AppendLine appends one JSON line (newline included):
//
//	{"schema_version":1,"runtime":"go","seq":N,"t_unix_ms":T,"metrics":{NAME:VALUE,...}}
//
// A counter or gauge is a JSON number; a histogram is an object (see
// appendHistogram). A metric of an unsupported kind is written as null.
func AppendLine(b []byte, seq uint64, t time.Time, samples []metrics.Sample) []byte {
	b = append(b, `{"schema_version":`...)
	b = strconv.AppendInt(b, SchemaVersion, 10)
	b = append(b, `,"runtime":"go","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"t_unix_ms":`...)
	b = strconv.AppendFloat(b, float64(t.UnixNano())/1e6, 'f', 3, 64)
	b = append(b, `,"metrics":{`...)
	for i, m := range samples {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, m.Name)
		b = append(b, ':')
		switch m.Value.Kind() {
		case metrics.KindUint64:
			b = strconv.AppendUint(b, m.Value.Uint64(), 10)
		case metrics.KindFloat64:
			b = appendFloat(b, m.Value.Float64())
		case metrics.KindFloat64Histogram:
			b = appendHistogram(b, unitOf(m.Name), m.Value.Float64Histogram())
		default:
			b = append(b, "null"...)
		}
	}
	return append(b, "}}\n"...)
}

// appendHistogram writes {"unit":U,"bounds":[...],"counts":[...]}: counts[i]
// is the number of values in [bounds[i], bounds[i+1]) since the process
// started (each bucket on its own, not summed over buckets), so there is one
// more bound than count; an infinite bound is null.
func appendHistogram(b []byte, unit string, h *metrics.Float64Histogram) []byte {
	b = append(b, `{"unit":`...)
	b = appendString(b, unit)
	b = append(b, `,"bounds":[`...)
	for i, x := range h.Buckets {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFloat(b, x)
	}
	b = append(b, `],"counts":[`...)
	for i, c := range h.Counts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, c, 10)
	}
	return append(b, "]}"...)
}

// appendFloat writes x as a JSON number, or null where JSON has none
// (±Inf, NaN).
func appendFloat(b []byte, x float64) []byte {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, x, 'g', -1, 64)
}

// unitOf is a histogram's unit from its metric name: "s" for seconds, else
// the name's unit as written after the colon.
func unitOf(name string) string {
	_, unit, _ := strings.Cut(name, ":")
	if unit == "seconds" {
		return "s"
	}
	return unit
}

// appendString writes s as a JSON string. Metric names are printable ASCII;
// quotes, backslashes and control bytes are escaped all the same.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
