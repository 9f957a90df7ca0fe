package micro

import "time"

// settle is the pause before each wake, so both Ps are idle and the waiter
// is parked.
const settle = 2 * time.Millisecond

// oneWake: the waiter blocks on an unbuffered channel; the waker sends on it
// and then spins for busy. Go puts the readied goroutine in the waker's P's
// runnext slot (the counterpart of tokio's LIFO slot) and wakes an idle P,
// which may steal runnext after a short grace period.
func oneWake(busy time.Duration) time.Duration {
	ready := make(chan struct{})
	wake := make(chan time.Time)
	delay := make(chan time.Duration, 1)
	wakerDone := make(chan struct{})
	go func() {
		close(ready)
		sent := <-wake
		delay <- time.Since(sent)
	}()
	go func() {
		<-ready
		time.Sleep(settle)
		t := time.Now()
		wake <- t
		// Keep the P without a blocking operation; at 5 ms this stays under
		// the ~10 ms after which Go would preempt the loop.
		for time.Since(t) < busy {
		}
		close(wakerDone)
	}()
	d := <-delay
	<-wakerDone
	return d
}

func runLifo(o *options) (*Document, error) {
	warmup := o.warmupOr(1)
	const workers = 2
	defer setProcs(workers)()
	busy := time.Duration(o.busyMs) * time.Millisecond
	params := o.baseParams(warmup)
	params["samples"], params["busy_ms"] = o.samples, o.busyMs
	doc := newDocument("lifo-wake", params, o)
	metrics, err := repeat(warmup, o.repeats, func() ([]kv, error) {
		d := make([]float64, 0, o.samples)
		for i := int64(0); i < o.samples; i++ {
			d = append(d, float64(oneWake(busy).Nanoseconds())/1e3)
		}
		return []kv{
			{"wake_delay_p50_us", median(d)},
			{"wake_delay_p99_us", percentile(d, 99)},
			{"wake_delay_max_us", maxOf(d)},
			{"wake_delay_mean_us", mean(d)},
		}, nil
	})
	if err != nil {
		return nil, err
	}
	c := newCase("lifo_wake", "default", map[string]any{
		"samples": o.samples, "busy_ms": o.busyMs, "workers": workers,
		"mechanism": "unbuffered chan send, then a spin loop of busy_ms",
	}, "GOMAXPROCS=2; the waiter blocks on an unbuffered channel, the waker sends and spins busy_ms; delay = send to the waiter running. Go's runnext slot is stealable by an idle P (after ~3 µs); tokio's LIFO slot is not, and its \"lifo_off\" variant has no Go counterpart.")
	c.Metrics = metrics
	doc.Cases = append(doc.Cases, c)
	return doc, nil
}
