package micro

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// pilotTasks is the size of the pilot run that sizes a big N before it starts.
const pilotTasks = 10_000

type spawnSample struct {
	NsPerSpawn       float64 `json:"ns_per_spawn"`
	NsPerCompletion  float64 `json:"ns_per_completion"`
	RSSBytesPerTask  float64 `json:"rss_bytes_per_task"`
	HeapBytesPerTask float64 `json:"heap_bytes_per_task"`
	StackBytesPerTsk float64 `json:"stack_bytes_per_task"`
	OSThreads        float64 `json:"os_threads"`
}

// measureSpawn spawns n goroutines from the main goroutine, each parking on
// one shared channel, measures, then closes the channel to release them.
func measureSpawn(n int, workers int) (spawnSample, error) {
	defer setProcs(workers)()
	release := make(chan struct{})
	var started atomic.Int64
	var done sync.WaitGroup
	done.Add(n)

	// RSS is read after a GC, so garbage does not count; Go's heap and
	// stack figures (MemStats) are recorded beside it.
	runtime.GC()
	rss0, err := rssBytes()
	if err != nil {
		return spawnSample{}, err
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)

	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			started.Add(1)
			<-release
			done.Done()
		}()
	}
	spawnTime := time.Since(t0)

	for started.Load() < int64(n) {
		time.Sleep(time.Millisecond)
	}
	runtime.GC()
	rss1, err := rssBytes()
	if err != nil {
		return spawnSample{}, err
	}
	runtime.ReadMemStats(&m1)
	threads, err := osThreads()
	if err != nil {
		return spawnSample{}, err
	}

	t2 := time.Now()
	close(release)
	done.Wait()
	completion := time.Since(t2)

	nn := int64(n)
	delta := func(a, b uint64) float64 {
		if b < a {
			return 0
		}
		return float64(b - a)
	}
	return spawnSample{
		NsPerSpawn:       perUnit(float64(spawnTime.Nanoseconds()), nn),
		NsPerCompletion:  perUnit(float64(completion.Nanoseconds()), nn),
		RSSBytesPerTask:  perUnit(delta(rss0, rss1), nn),
		HeapBytesPerTask: perUnit(delta(m0.HeapInuse+m0.StackInuse, m1.HeapInuse+m1.StackInuse), nn),
		StackBytesPerTsk: perUnit(delta(m0.StackInuse, m1.StackInuse), nn),
		OSThreads:        float64(threads),
	}, nil
}

// checkSpawnMemory refuses n goroutines when bytesPerTask (from the pilot)
// says they would take more than budget.
func checkSpawnMemory(n int64, bytesPerTask float64, budget uint64) error {
	per := bytesPerTask
	if per < 64 {
		per = 64
	}
	need := per * float64(n) * 1.25
	if need > float64(budget) {
		return refusedError(fmt.Sprintf(
			"spawn --n %d refused: about %s needed (%.0f bytes/task from a %d-task pilot), more than half of MemAvailable (%s)",
			n, mib(need), per, pilotTasks, mib(float64(budget))))
	}
	return nil
}

func spawnChildArgs(n int64, o *options) []string {
	return []string{"spawn", "--n", strconv.FormatInt(n, 10), "--workers", strconv.Itoa(o.workersOrDefault()),
		"--max-threads", strconv.Itoa(o.maxThreads)}
}

func runSpawn(o *options, stdout io.Writer) (*Document, error) {
	workers := o.workersOrDefault()
	if o.child {
		s, err := measureSpawn(int(o.n), workers)
		if err != nil {
			return nil, err
		}
		return nil, printChild(stdout, s)
	}
	if o.n > pilotTasks {
		var pilot spawnSample
		if err := runChild(spawnChildArgs(pilotTasks, o), &pilot); err != nil {
			return nil, err
		}
		per := pilot.RSSBytesPerTask
		if pilot.HeapBytesPerTask > per {
			per = pilot.HeapBytesPerTask
		}
		if err := checkSpawnMemory(o.n, per, memoryBudgetBytes()); err != nil {
			return nil, err
		}
	}
	warmup := o.warmupOr(1)
	metrics, err := repeat(warmup, o.repeats, func() ([]kv, error) {
		var s spawnSample
		if err := runChild(spawnChildArgs(o.n, o), &s); err != nil {
			return nil, err
		}
		return []kv{
			{"ns_per_spawn", s.NsPerSpawn},
			{"ns_per_completion", s.NsPerCompletion},
			{"rss_bytes_per_task", s.RSSBytesPerTask},
			{"heap_bytes_per_task", s.HeapBytesPerTask},
			{"stack_bytes_per_task", s.StackBytesPerTsk},
			{"os_threads", s.OSThreads},
		}, nil
	})
	if err != nil {
		return nil, err
	}
	params := o.baseParams(warmup)
	params["n"] = o.n
	doc := newDocument("spawn", params, o)
	c := newCase("spawn", "default",
		map[string]any{"n": o.n, "workers": workers, "mechanism": "go statement + close of a shared channel"},
		"Each repeat in a fresh process. Goroutines are spawned from the main goroutine and each receives "+
			"from one shared channel; ns_per_spawn = spawn loop / N; ns_per_completion = close until the "+
			"WaitGroup is done / N; rss_bytes_per_task = VmRSS delta / N once all are parked, read after "+
			"runtime.GC(); heap_bytes_per_task = MemStats HeapInuse+StackInuse delta / N and "+
			"stack_bytes_per_task = StackInuse delta / N (Go's own accounting: RSS also holds runtime "+
			"structures and pages the heap has not returned).")
	c.Metrics = metrics
	doc.Cases = append(doc.Cases, c)
	return doc, nil
}
