package micro

import (
	"time"
)

// starve: with one P, an always-ready goroutine against a probe due every
// period. Tick k is due at start + k*period; its delay runs until the probe
// next runs, so a starved probe records a delay for every tick it missed.
//
// Variants (rust-micro adds "unconstrained"):
//   - idle: no competing goroutine — the timer's own lateness.
//   - default: the goroutine sends to and receives from its own buffered
//     channel in a loop, never blocking (the same loop as tokio's default).
//     Go has no budget: only asynchronous preemption (sysmon, after ~10 ms
//     on the CPU) lets the probe in.
//   - cpu_loop: a pure CPU loop.
var starveVariants = []string{"idle", "default", "cpu_loop"}

const checkEvery = 256

// sink keeps the loops' results alive so the compiler keeps the loops.
var sink uint64

func probe(start time.Time, period time.Duration, ticks int) []float64 {
	delays := make([]float64, 0, ticks)
	for k := 1; k <= ticks; {
		time.Sleep(time.Until(start.Add(period * time.Duration(k))))
		now := time.Now()
		for ; k <= ticks; k++ {
			due := start.Add(period * time.Duration(k))
			if due.After(now) {
				break
			}
			delays = append(delays, float64(now.Sub(due).Nanoseconds())/1e3)
		}
	}
	return delays
}

func channelLoop(deadline time.Time) {
	ch := make(chan uint64, 1024)
	var i uint64
	for {
		ch <- i
		sink += <-ch
		i++
		if i%checkEvery == 0 && !time.Now().Before(deadline) {
			return
		}
	}
}

func cpuLoop(deadline time.Time) {
	var i uint64
	for {
		i++
		if i%checkEvery == 0 && !time.Now().Before(deadline) {
			sink += i
			return
		}
	}
}

func starveOnce(variant string, duration, period time.Duration) []float64 {
	ticks := max(int(duration/period), 1)
	start := time.Now()
	deadline := start.Add(duration)
	ready := make(chan struct{})
	result := make(chan []float64, 1)
	// The probe starts first and has armed its timer before the competitor starts.
	go func() {
		close(ready)
		result <- probe(start, period, ticks)
	}()
	<-ready
	done := make(chan struct{})
	switch variant {
	case "idle":
		close(done)
	case "default":
		go func() { channelLoop(deadline); close(done) }()
	default:
		go func() { cpuLoop(deadline); close(done) }()
	}
	<-done
	return <-result
}

func runStarve(o *options) (*Document, error) {
	warmup := o.warmupOr(1)
	const workers = 1 // the claim is about one P
	defer setProcs(workers)()
	duration := time.Duration(o.durationMs) * time.Millisecond
	period := time.Duration(o.periodUs) * time.Microsecond
	params := o.baseParams(warmup)
	params["duration_ms"], params["period_us"] = o.durationMs, o.periodUs
	doc := newDocument("starve", params, o)
	for _, v := range starveVariants {
		metrics, err := repeat(warmup, o.repeats, func() ([]kv, error) {
			d := starveOnce(v, duration, period)
			return []kv{
				{"probe_delay_p50_us", median(d)},
				{"probe_delay_p99_us", percentile(d, 99)},
				{"probe_delay_max_us", maxOf(d)},
				{"probe_ticks_count", float64(len(d))},
			}, nil
		})
		if err != nil {
			return nil, err
		}
		what := map[string]string{
			"idle":     "no competing goroutine (timer lateness alone)",
			"default":  "always-ready goroutine: send + receive on its own buffered channel",
			"cpu_loop": "pure CPU loop",
		}[v]
		c := newCase("starve", v, map[string]any{
			"duration_ms": o.durationMs, "period_us": o.periodUs, "workers": workers, "mechanism": what,
		}, "GOMAXPROCS=1. Tick k is due at start + k*period; its delay runs until the probe next runs, so missed ticks each count. Go has no cooperative budget; asynchronous preemption (~10 ms) is what lets the probe run. There is no \"unconstrained\" variant in Go.")
		c.Metrics = metrics
		doc.Cases = append(doc.Cases, c)
	}
	return doc, nil
}
