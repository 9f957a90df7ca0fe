// Package micro is the Go side of the runtime microbenchmarks, matching
// rust-micro subcommand for subcommand: spawn, pingpong, channels,
// blocking-burst, starve, lifo-wake. Each writes one JSON document
// (schemas/micro.schema.json) with every repeat's value of every metric;
// the harness computes medians, intervals and verdicts.
//
// spawn and blocking-burst run each repeat in a fresh child process (this
// same binary with the hidden --child flag): Go keeps dead goroutines for
// reuse and never ends idle OS threads, so a second repeat in one process
// would measure reuse, not creation.
package micro

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
)

const (
	schemaVersion = 1
	tool          = "go-micro"
	// DefaultMaxThreads is Go's default limit of debug.SetMaxThreads.
	DefaultMaxThreads = 10000
)

// startProcs is GOMAXPROCS as the process started, the default --workers.
var startProcs = runtime.GOMAXPROCS(0)

// Document is the result document, identical in shape to rust-micro's.
type Document struct {
	SchemaVersion  int              `json:"schema_version"`
	Tool           string           `json:"tool"`
	Runtime        string           `json:"runtime"`
	RuntimeVersion string           `json:"runtime_version"`
	Bench          string           `json:"bench"`
	Params         map[string]any   `json:"params"`
	Env            map[string]any   `json:"env"`
	Cases          []Case           `json:"cases"`
	Timeline       []TimelineSample `json:"timeline,omitempty"`
}

// Case is one (case, variant) with every repeat's value of each metric.
type Case struct {
	Case    string               `json:"case"`
	Variant string               `json:"variant"`
	Params  map[string]any       `json:"params"`
	Metrics map[string][]float64 `json:"metrics"`
	Notes   string               `json:"notes"`
	Skipped string               `json:"skipped,omitempty"`
}

// TimelineSample is one OS-thread sample of a blocking burst; Repeat
// counts measured repeats from 0.
type TimelineSample struct {
	Repeat    int     `json:"repeat"`
	TMs       float64 `json:"t_ms"`
	OSThreads uint64  `json:"os_threads"`
	RSSBytes  uint64  `json:"rss_bytes"`
}

type kv struct {
	k string
	v float64
}

// repeat runs warmup untimed and repeats timed calls of f and collects each
// timed call's metrics.
func repeat(warmup, repeats int, f func() ([]kv, error)) (map[string][]float64, error) {
	for i := 0; i < warmup; i++ {
		if _, err := f(); err != nil {
			return nil, err
		}
	}
	m := map[string][]float64{}
	for i := 0; i < repeats; i++ {
		s, err := f()
		if err != nil {
			return nil, err
		}
		for _, x := range s {
			m[x.k] = append(m[x.k], x.v)
		}
	}
	return m, nil
}

// usageError is a bad combination of flags; refusedError a size the
// machine cannot take, decided before starting. Both exit 2.
type usageError string
type refusedError string

func (e usageError) Error() string   { return string(e) }
func (e refusedError) Error() string { return string(e) }

type options struct {
	bench      string
	repeats    int
	warmup     int // -1: the subcommand's default
	workers    int // 0: GOMAXPROCS at start
	maxThreads int
	json       string
	child      bool

	n          int64
	via        string
	messages   int64
	capacity   int64
	producers  int64
	receivers  int64
	ms         int64
	idle       float64
	sampleMs   int64
	durationMs int64
	periodUs   int64
	samples    int64
	busyMs     int64
}

func (o *options) workersOrDefault() int {
	if o.workers > 0 {
		return o.workers
	}
	return startProcs
}

func (o *options) warmupOr(def int) int {
	if o.warmup >= 0 {
		return o.warmup
	}
	return def
}

func (o *options) baseParams(warmup int) map[string]any {
	return map[string]any{"repeats": o.repeats, "warmup": warmup, "workers": o.workersOrDefault()}
}

var benches = []struct{ name, about string }{
	{"spawn", "spawn N goroutines that wait on one signal, then release them all"},
	{"pingpong", "two goroutines bounce a message N times, with one P and with two"},
	{"channels", "channel throughput: 1->1, P->1, 1->R fan-out, latest value, oneshot"},
	{"blocking-burst", "N concurrent blocking syscalls, then idle; OS threads over time"},
	{"starve", "one P: an always-ready goroutine vs a probe due every period"},
	{"lifo-wake", "two Ps: a goroutine wakes another, then keeps the CPU without yielding"},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: go-micro SUBCOMMAND [flags]   (go-micro SUBCOMMAND -h for its flags)")
	for _, b := range benches {
		fmt.Fprintf(w, "  %-15s %s\n", b.name, b.about)
	}
}

type rangeCheck struct {
	name   string
	lo, hi int64
}

func parse(bench string, args []string) (*options, *flag.FlagSet, error) {
	o := &options{bench: bench}
	fs := flag.NewFlagSet("go-micro "+bench, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&o.repeats, "repeats", 5, "measured repeats; every repeat's value is recorded")
	fs.IntVar(&o.warmup, "warmup", -1, "untimed repeats run first (default 1; blocking-burst 0)")
	fs.IntVar(&o.workers, "workers", 0, "GOMAXPROCS (default: GOMAXPROCS at start); cases that need one or two Ps set that themselves")
	fs.IntVar(&o.maxThreads, "max-threads", DefaultMaxThreads, "debug.SetMaxThreads limit (Go's default 10000)")
	fs.StringVar(&o.json, "json", "-", "where the JSON document goes: a file, or - for stdout")
	fs.BoolVar(&o.child, "child", false, "internal: run one measurement, print it as one JSON line")
	var checks []rangeCheck
	i64 := func(p *int64, name string, def, lo, hi int64, help string) {
		fs.Int64Var(p, name, def, help)
		checks = append(checks, rangeCheck{name: name, lo: lo, hi: hi})
	}
	switch bench {
	case "spawn":
		i64(&o.n, "n", 10_000, 1, 100_000_000, "goroutines to spawn")
	case "pingpong":
		i64(&o.n, "n", 100_000, 1, 100_000_000, "round trips per repeat")
		fs.StringVar(&o.via, "via", "all", "what carries the message: chan, oneshot, mpsc, notify, or all")
	case "channels":
		i64(&o.messages, "messages", 100_000, 1, 100_000_000, "messages per repeat (split among producers)")
		i64(&o.capacity, "capacity", 1024, 1, 1_048_576, "channel buffer")
		i64(&o.producers, "producers", 4, 1, 1024, "producers of the many-to-one case")
		i64(&o.receivers, "receivers", 4, 1, 1024, "receivers of the fan-out case")
	case "blocking-burst":
		i64(&o.n, "n", 1000, 1, 1_000_000, "concurrent blocking calls")
		i64(&o.ms, "ms", 50, 0, 60_000, "length of each blocking call, ms")
		fs.Float64Var(&o.idle, "idle", 15, "idle time after the burst has drained, seconds")
		i64(&o.sampleMs, "sample-ms", 100, 1, 10_000, "thread-count sampling period, ms (every 5 ms while the burst runs)")
	case "starve":
		i64(&o.durationMs, "duration-ms", 300, 1, 60_000, "how long the always-ready goroutine runs per repeat, ms")
		i64(&o.periodUs, "period-us", 1000, 100, 1_000_000, "the probe's period, µs")
	case "lifo-wake":
		i64(&o.samples, "samples", 20, 1, 100_000, "wake-ups per repeat")
		i64(&o.busyMs, "busy-ms", 5, 1, 1000, "how long the waker keeps the CPU after the wake, ms")
	default:
		return nil, nil, usageError(fmt.Sprintf("unknown subcommand %q (spawn, pingpong, channels, blocking-burst, starve, lifo-wake)", bench))
	}
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	if fs.NArg() > 0 {
		return nil, fs, usageError(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	values := map[string]int64{}
	fs.VisitAll(func(f *flag.Flag) {
		if g, ok := f.Value.(flag.Getter); ok {
			if v, ok := g.Get().(int64); ok {
				values[f.Name] = v
			}
		}
	})
	for _, c := range checks {
		if v := values[c.name]; v < c.lo || v > c.hi {
			return nil, fs, usageError(fmt.Sprintf("--%s must be %d..=%d, got %d", c.name, c.lo, c.hi, v))
		}
	}
	switch {
	case o.repeats < 1 || o.repeats > 1000:
		return nil, fs, usageError(fmt.Sprintf("--repeats must be 1..=1000, got %d", o.repeats))
	case o.warmup < -1 || o.warmup > 100:
		return nil, fs, usageError(fmt.Sprintf("--warmup must be 0..=100, got %d", o.warmup))
	case o.workers < 0 || o.workers > 1024:
		return nil, fs, usageError(fmt.Sprintf("--workers must be 1..=1024, got %d", o.workers))
	case o.maxThreads < 1:
		return nil, fs, usageError(fmt.Sprintf("--max-threads must be positive, got %d", o.maxThreads))
	}
	if bench == "pingpong" && o.via != "all" && !contains(vias, o.via) {
		return nil, fs, usageError(fmt.Sprintf("--via must be chan, oneshot, mpsc, notify or all, got %q", o.via))
	}
	if bench == "blocking-burst" && (o.idle != o.idle || o.idle < 0 || o.idle > 3600) {
		return nil, fs, usageError(fmt.Sprintf("--idle must be 0..=3600 seconds, got %v", o.idle))
	}
	if bench == "starve" && o.periodUs > o.durationMs*1000 {
		return nil, fs, usageError(fmt.Sprintf("--period-us (%d) must not exceed --duration-ms (%d)", o.periodUs, o.durationMs))
	}
	return o, fs, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Main runs go-micro with args (without the program name) and returns the
// exit code: 0 done, 2 bad flags or a refused size, 1 a failed measurement.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if a := args[0]; a == "-h" || a == "--help" || a == "help" {
		usage(stdout)
		return 0
	}
	o, fs, err := parse(args[0], args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "usage: go-micro %s [flags]\n", args[0])
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "go-micro: %s\n", firstLine(err.Error()))
		return 2
	}
	prev := debug.SetMaxThreads(o.maxThreads)
	defer debug.SetMaxThreads(prev)

	doc, err := run(o, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "go-micro: %s\n", firstLine(err.Error()))
		var u usageError
		var r refusedError
		if errors.As(err, &u) || errors.As(err, &r) {
			return 2
		}
		return 1
	}
	if doc == nil { // child mode printed its line
		return 0
	}
	fmt.Fprint(stderr, doc.summary())
	if err := emit(doc, o.json, stdout); err != nil {
		fmt.Fprintf(stderr, "go-micro: %s\n", firstLine(err.Error()))
		return 1
	}
	return 0
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			return strings.TrimSpace(l)
		}
	}
	return "failed"
}

func run(o *options, stdout io.Writer) (*Document, error) {
	switch o.bench {
	case "spawn":
		return runSpawn(o, stdout)
	case "pingpong":
		return runPingpong(o)
	case "channels":
		return runChannels(o)
	case "blocking-burst":
		return runBurst(o, stdout)
	case "starve":
		return runStarve(o)
	default:
		return runLifo(o)
	}
}

func newDocument(bench string, params map[string]any, o *options) *Document {
	return &Document{
		SchemaVersion:  schemaVersion,
		Tool:           tool,
		Runtime:        "go",
		RuntimeVersion: runtime.Version(),
		Bench:          bench,
		Params:         params,
		Env:            env(o),
	}
}

func env(o *options) map[string]any {
	return map[string]any{
		"workers":               o.workersOrDefault(),
		"max_threads":           o.maxThreads,
		"gomaxprocs":            startProcs,
		"go_version":            runtime.Version(),
		"available_parallelism": runtime.NumCPU(),
		"cpus_allowed":          cpusAllowed(),
		"mem_available_bytes":   memAvailableBytes(),
		"kernel":                kernelRelease(),
		"pid":                   os.Getpid(),
	}
}

func newCase(name, variant string, params map[string]any, notes string) Case {
	return Case{Case: name, Variant: variant, Params: params, Metrics: map[string][]float64{}, Notes: notes}
}

// setProcs sets GOMAXPROCS for one case and returns the undo.
func setProcs(n int) func() {
	prev := runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(prev) }
}

func emit(doc *Document, dest string, stdout io.Writer) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if dest == "-" {
		_, err = stdout.Write(b)
		return err
	}
	if err := os.WriteFile(dest, b, 0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", dest, err)
	}
	return nil
}

// summary is one line per case with the median of each metric, for people.
func (d *Document) summary() string {
	var sb strings.Builder
	for _, c := range d.Cases {
		fmt.Fprintf(&sb, "%s %s/%s:", d.Tool, c.Case, c.Variant)
		if c.Skipped != "" {
			fmt.Fprintf(&sb, " skipped (%s)", c.Skipped)
		}
		keys := make([]string, 0, len(c.Metrics))
		for k := range c.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			m := median(c.Metrics[k])
			if m != 0 && m < 10 && m > -10 {
				fmt.Fprintf(&sb, " %s=%.3f", k, m)
			} else {
				fmt.Fprintf(&sb, " %s=%.0f", k, m)
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// memoryBudgetBytes is half of MemAvailable: the most a run may expect to take.
func memoryBudgetBytes() uint64 { return memAvailableBytes() / 2 }

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1024*1024)) }

func perUnit(total float64, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return total / float64(n)
}
