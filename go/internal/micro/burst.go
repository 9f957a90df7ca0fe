package micro

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// pilotCalls is the size of the pilot burst that sizes a big N.
	pilotCalls = 64
	// burstSampleMs: while the burst runs, threads are sampled at least this
	// often, so a burst shorter than the timeline period still shows its peak.
	burstSampleMs = 5
	// spareThreads: threads the runtime may add beside one per blocked call
	// (sysmon, the template thread, Ps' threads, GC workers ride on Ps).
	spareThreads = 16
)

type burstPoint struct {
	TMs       float64 `json:"t_ms"`
	OSThreads uint64  `json:"os_threads"`
	RSSBytes  uint64  `json:"rss_bytes"`
}

type burstSample struct {
	BaselineOSThreads  uint64       `json:"baseline_os_threads"`
	BaselineRSSBytes   uint64       `json:"baseline_rss_bytes"`
	PeakOSThreads      uint64       `json:"peak_os_threads"`
	PeakRSSBytes       uint64       `json:"peak_rss_bytes"`
	DrainMs            float64      `json:"drain_ms"`
	OSThreadsAfterIdle uint64       `json:"os_threads_after_idle"`
	Timeline           []burstPoint `json:"timeline"`
}

func point(t0 time.Time) burstPoint {
	return burstPoint{float64(time.Since(t0).Nanoseconds()) / 1e6, osThreadsOrZero(), rssBytesOrZero()}
}

// blockingSleep is the raw blocking OS call: nanosleep(2) through
// syscall.Nanosleep holds its thread (the runtime's entersyscall lets
// sysmon hand the P to another thread), unlike time.Sleep, which parks only
// the goroutine.
func blockingSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	for {
		var rem syscall.Timespec
		if err := syscall.Nanosleep(&ts, &rem); !errors.Is(err, syscall.EINTR) {
			return
		}
		ts = rem
	}
}

// measureBurst runs one burst in this process.
func measureBurst(n int64, call, idle time.Duration, sampleMs int64, workers int) (burstSample, error) {
	defer setProcs(workers)()
	baseThreads, err := osThreads()
	if err != nil {
		return burstSample{}, err
	}
	baseRSS, err := rssBytes()
	if err != nil {
		return burstSample{}, err
	}
	var mu sync.Mutex
	var timeline []burstPoint
	var drained atomic.Bool
	stop, stopped := make(chan struct{}), make(chan struct{})
	t0 := time.Now()
	// The sampler is a goroutine, adding no thread of its own (rust-micro's
	// sampler is a task).
	go func() {
		defer close(stopped)
		next := t0
		for {
			p := point(t0)
			mu.Lock()
			timeline = append(timeline, p)
			mu.Unlock()
			step := sampleMs
			if !drained.Load() && step > burstSampleMs {
				step = burstSampleMs
			}
			next = next.Add(time.Duration(step) * time.Millisecond)
			timer := time.NewTimer(time.Until(next))
			select {
			case <-stop:
				timer.Stop()
				return
			case <-timer.C:
			}
		}
	}()
	var wg sync.WaitGroup
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			blockingSleep(call)
			wg.Done()
		}()
	}
	wg.Wait()
	drainMs := float64(time.Since(t0).Nanoseconds()) / 1e6
	drained.Store(true)
	p := point(t0)
	mu.Lock()
	timeline = append(timeline, p)
	mu.Unlock()
	time.Sleep(idle)
	after, err := osThreads()
	if err != nil {
		return burstSample{}, err
	}
	close(stop)
	<-stopped
	timeline = append(timeline, point(t0))
	sort.Slice(timeline, func(i, j int) bool { return timeline[i].TMs < timeline[j].TMs })
	s := burstSample{BaselineOSThreads: baseThreads, BaselineRSSBytes: baseRSS, DrainMs: drainMs,
		OSThreadsAfterIdle: after, Timeline: timeline}
	for _, p := range timeline {
		s.PeakOSThreads = max(s.PeakOSThreads, p.OSThreads)
		s.PeakRSSBytes = max(s.PeakRSSBytes, p.RSSBytes)
	}
	return s, nil
}

// checkBurstLimits refuses a burst whose threads would pass Go's
// SetMaxThreads limit (the runtime would abort the program) or the
// machine's, or whose memory at bytesPerThread (from the pilot) would pass
// the budget.
func checkBurstLimits(n int64, maxThreads int, room uint64, bytesPerThread float64, budget uint64) error {
	need := n + spareThreads
	if need > int64(maxThreads) {
		return refusedError(fmt.Sprintf(
			"blocking-burst refused: --n %d could need %d OS threads, over Go's limit of %d (debug.SetMaxThreads; raise it with --max-threads)",
			n, need, maxThreads))
	}
	if uint64(need) > room {
		return refusedError(fmt.Sprintf(
			"blocking-burst refused: needs up to %d threads, the machine allows %d more", need, room))
	}
	per := bytesPerThread
	if per < 16384 {
		per = 16384
	}
	if mem := per * float64(need) * 1.25; mem > float64(budget) {
		return refusedError(fmt.Sprintf(
			"blocking-burst refused: about %s needed for %d threads (%.0f bytes/thread from a %d-call pilot), more than half of MemAvailable (%s)",
			mib(mem), need, bytesPerThread, pilotCalls, mib(float64(budget))))
	}
	return nil
}

func burstChildArgs(o *options, n, ms int64, idle float64, sampleMs int64) []string {
	return []string{"blocking-burst",
		"--n=" + strconv.FormatInt(n, 10),
		"--ms=" + strconv.FormatInt(ms, 10),
		"--idle=" + strconv.FormatFloat(idle, 'g', -1, 64),
		"--sample-ms=" + strconv.FormatInt(sampleMs, 10),
		"--workers=" + strconv.Itoa(o.workersOrDefault()),
		"--max-threads=" + strconv.Itoa(o.maxThreads),
	}
}

func runBurst(o *options, stdout io.Writer) (*Document, error) {
	workers := o.workersOrDefault()
	if o.child {
		s, err := measureBurst(o.n, time.Duration(o.ms)*time.Millisecond,
			time.Duration(o.idle*float64(time.Second)), o.sampleMs, workers)
		if err != nil {
			return nil, err
		}
		return nil, printChild(stdout, s)
	}
	var perThread float64
	if o.n > pilotCalls {
		// Go's own limit first: the pilot itself is far below it.
		if err := checkBurstLimits(o.n, o.maxThreads, ^uint64(0), 0, ^uint64(0)); err != nil {
			return nil, err
		}
		var pilot burstSample
		if err := runChild(burstChildArgs(o, pilotCalls, max(o.ms, 20), 0, burstSampleMs), &pilot); err != nil {
			return nil, err
		}
		threads := uint64(1)
		if pilot.PeakOSThreads > pilot.BaselineOSThreads {
			threads = pilot.PeakOSThreads - pilot.BaselineOSThreads
		}
		if pilot.PeakRSSBytes > pilot.BaselineRSSBytes {
			perThread = float64(pilot.PeakRSSBytes-pilot.BaselineRSSBytes) / float64(threads)
		}
	}
	if err := checkBurstLimits(o.n, o.maxThreads, threadRoom(), perThread, memoryBudgetBytes()); err != nil {
		return nil, err
	}

	warmup := o.warmupOr(0)
	var timelines [][]burstPoint
	metrics, err := repeat(warmup, o.repeats, func() ([]kv, error) {
		var s burstSample
		if err := runChild(burstChildArgs(o, o.n, o.ms, o.idle, o.sampleMs), &s); err != nil {
			return nil, err
		}
		timelines = append(timelines, s.Timeline)
		return []kv{
			{"peak_os_threads", float64(s.PeakOSThreads)},
			{"baseline_os_threads", float64(s.BaselineOSThreads)},
			{"os_threads_after_idle", float64(s.OSThreadsAfterIdle)},
			{"drain_ms", s.DrainMs},
			{"peak_rss_bytes", float64(s.PeakRSSBytes)},
		}, nil
	})
	if err != nil {
		return nil, err
	}
	params := o.baseParams(warmup)
	params["n"], params["call_ms"], params["idle_s"], params["sample_ms"] = o.n, o.ms, o.idle, o.sampleMs
	doc := newDocument("blocking-burst", params, o)
	// Warm-up runs came first: keep the measured timelines.
	for r, tl := range timelines[len(timelines)-o.repeats:] {
		for _, p := range tl {
			doc.Timeline = append(doc.Timeline, TimelineSample{Repeat: r, TMs: p.TMs, OSThreads: p.OSThreads, RSSBytes: p.RSSBytes})
		}
	}
	c := newCase("blocking_burst", "default", map[string]any{
		"n": o.n, "call_ms": o.ms, "idle_s": o.idle, "sample_ms": o.sampleMs,
		"workers": workers, "max_threads": o.maxThreads,
		"mechanism": "goroutine per call, syscall.Nanosleep",
	}, fmt.Sprintf("Each repeat in a fresh process. Threads from /proc/self/status, sampled by a goroutine every %d ms until the burst drains, then every sample_ms, plus once at drain and at the end. Go has no cap below debug.SetMaxThreads (%d here; past it the runtime aborts, so larger N is refused before starting) and never ends idle threads.", burstSampleMs, o.maxThreads))
	c.Metrics = metrics
	doc.Cases = append(doc.Cases, c)
	return doc, nil
}
