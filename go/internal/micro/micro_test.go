package micro

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets this test binary act as go-micro when spawn and
// blocking-burst re-run it as a per-repeat child.
func TestMain(m *testing.M) {
	if os.Getenv(ChildEnv) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func runDoc(t *testing.T, args ...string) *Document {
	t.Helper()
	o, _, err := parse(args[0], args[1:])
	if err != nil {
		t.Fatal(err)
	}
	doc, err := run(o, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func metric(t *testing.T, doc *Document, name, variant, key string) []float64 {
	t.Helper()
	for _, c := range doc.Cases {
		if c.Case == name && c.Variant == variant {
			v, ok := c.Metrics[key]
			if !ok {
				t.Fatalf("no %s in %s/%s", key, name, variant)
			}
			return v
		}
	}
	t.Fatalf("no case %s/%s", name, variant)
	return nil
}

func allPositive(t *testing.T, what string, v []float64) {
	t.Helper()
	for _, x := range v {
		if x <= 0 {
			t.Fatalf("%s: %v", what, v)
		}
	}
}

func TestSpawnDocument(t *testing.T) {
	doc := runDoc(t, "spawn", "--n", "2000", "--repeats", "2", "--warmup", "0")
	checkDoc(t, doc, "spawn", 2)
	for _, k := range []string{"ns_per_spawn", "ns_per_completion", "os_threads", "stack_bytes_per_task"} {
		allPositive(t, k, metric(t, doc, "spawn", "default", k))
	}
	if doc.Env["max_threads"] != DefaultMaxThreads {
		t.Fatalf("max_threads %v", doc.Env["max_threads"])
	}
}

func TestPingpongHasEveryViaOnOneAndTwoPs(t *testing.T) {
	doc := runDoc(t, "pingpong", "--n", "500", "--repeats", "2", "--warmup", "1")
	checkDoc(t, doc, "pingpong", 2)
	if len(doc.Cases) != 8 {
		t.Fatalf("%d cases", len(doc.Cases))
	}
	for _, c := range []string{"pingpong_1_worker", "pingpong_2_workers"} {
		for _, via := range vias {
			allPositive(t, c+"/"+via, metric(t, doc, c, via, "ns_per_round_trip"))
		}
	}
}

func TestChannelsDocument(t *testing.T) {
	doc := runDoc(t, "channels", "--messages", "1000", "--capacity", "16", "--repeats", "2", "--warmup", "0")
	checkDoc(t, doc, "channels", 2)
	for _, c := range []string{"one_to_one", "many_to_one", "fan_out", "latest_value", "oneshot"} {
		allPositive(t, c, metric(t, doc, c, "default", "msgs_per_sec"))
	}
	for _, x := range metric(t, doc, "latest_value", "default", "updates_seen_count") {
		if x < 1 {
			t.Fatalf("consumer saw %v updates", x)
		}
	}
}

func TestStarveDocument(t *testing.T) {
	doc := runDoc(t, "starve", "--duration-ms", "20", "--repeats", "2", "--warmup", "0")
	checkDoc(t, doc, "starve", 2)
	for _, v := range starveVariants {
		for _, x := range metric(t, doc, "starve", v, "probe_ticks_count") {
			if x != 20 {
				t.Fatalf("%s: %v ticks", v, x)
			}
		}
	}
}

func TestLifoWakeDocument(t *testing.T) {
	doc := runDoc(t, "lifo-wake", "--samples", "3", "--busy-ms", "2", "--repeats", "2", "--warmup", "0")
	checkDoc(t, doc, "lifo-wake", 2)
	allPositive(t, "wake delay", metric(t, doc, "lifo_wake", "default", "wake_delay_max_us"))
}

func TestBlockingBurstTimelineRisesAboveTheBaseline(t *testing.T) {
	doc := runDoc(t, "blocking-burst", "--n", "20", "--ms", "20", "--idle", "1", "--repeats", "1")
	checkDoc(t, doc, "blocking-burst", 1)
	peak := metric(t, doc, "blocking_burst", "default", "peak_os_threads")[0]
	base := metric(t, doc, "blocking_burst", "default", "baseline_os_threads")[0]
	if peak <= base {
		t.Fatalf("peak %v baseline %v", peak, base)
	}
	var maxThreads uint64
	for _, s := range doc.Timeline {
		maxThreads = max(maxThreads, s.OSThreads)
	}
	if float64(maxThreads) <= base {
		t.Fatalf("timeline never rose above %v", base)
	}
	if last := doc.Timeline[len(doc.Timeline)-1].TMs; last < 1000 {
		t.Fatalf("timeline ends at %v ms", last)
	}
}

func mainOutput(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestAbsurdSpawnIsRefusedWithOneLine(t *testing.T) {
	code, out, errs := mainOutput("spawn", "--n", "100000000")
	if code != 2 || out != "" {
		t.Fatalf("code %d stdout %q", code, out)
	}
	if strings.Count(strings.TrimRight(errs, "\n"), "\n") != 0 || !strings.HasPrefix(errs, "go-micro: spawn --n 100000000 refused") {
		t.Fatalf("stderr %q", errs)
	}
}

func TestBurstPastGoThreadLimitIsRefused(t *testing.T) {
	code, _, errs := mainOutput("blocking-burst", "--n", "20000", "--idle", "0")
	if code != 2 || !strings.Contains(errs, "SetMaxThreads") || strings.Count(strings.TrimRight(errs, "\n"), "\n") != 0 {
		t.Fatalf("code %d stderr %q", code, errs)
	}
}

func TestBadFlagsAreOneLineAndExit2(t *testing.T) {
	for _, args := range [][]string{
		{"spawn", "--n", "0"},
		{"spawn", "--n", "1000000000"},
		{"spawn", "--n", "abc"},
		{"spawn", "extra"},
		{"pingpong", "--via", "pigeon"},
		{"blocking-burst", "--idle", "-1"},
		{"starve", "--duration-ms", "1", "--period-us", "5000"},
		{"frobnicate"},
		{},
	} {
		code, _, errs := mainOutput(args...)
		if code != 2 {
			t.Errorf("%v: code %d", args, code)
		}
		if len(args) > 0 && (strings.Count(strings.TrimRight(errs, "\n"), "\n") != 0 || !strings.HasPrefix(errs, "go-micro: ")) {
			t.Errorf("%v: stderr %q", args, errs)
		}
	}
	if code, out, _ := mainOutput("spawn", "-h"); code != 0 || !strings.Contains(out, "-n") {
		t.Errorf("help: code %d out %q", code, out)
	}
}

func TestJSONGoesToTheNamedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	code, _, errs := mainOutput("pingpong", "--n", "100", "--via", "notify", "--workers", "1", "--repeats", "1", "--json", path)
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc Document
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	checkDoc(t, &doc, "pingpong", 1)
	if len(doc.Cases) != 1 {
		t.Fatalf("%d cases", len(doc.Cases))
	}
}

func TestPureHelpers(t *testing.T) {
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(100 - i)
	}
	if percentile(v, 50) != 50 || percentile(v, 99) != 99 || percentile(v, 0) != 1 || percentile(nil, 50) != 0 {
		t.Fatal("percentile")
	}
	for _, c := range [][2]int64{{10, 4}, {3, 4}, {100, 1}} {
		var sum int64
		for i := int64(0); i < c[1]; i++ {
			sum += share(c[0], c[1], i)
		}
		if sum != c[0] {
			t.Fatalf("share %v", c)
		}
	}
	if got, ok := statusField([]byte("VmRSS:\t  1234 kB\nThreads:\t7\n"), "Threads"); !ok || got != 7 {
		t.Fatal("statusField")
	}
	if checkSpawnMemory(1_000_000, 3000, 1<<34) != nil || checkSpawnMemory(100_000_000, 3000, 1<<30) == nil {
		t.Fatal("checkSpawnMemory")
	}
	if checkBurstLimits(1000, 10000, 100000, 50000, 1<<30) != nil ||
		checkBurstLimits(10000, 10000, 100000, 0, 1<<30) == nil ||
		checkBurstLimits(1000, 10000, 500, 0, 1<<30) == nil {
		t.Fatal("checkBurstLimits")
	}
}
