package micro

import (
	"fmt"
	"sync"
	"time"
)

// The channels cases, each next to the tokio mechanism rust-micro uses for
// the same job (variant "default" is the pair the harness compares):
//
//	case          Go                                       tokio
//	one_to_one    chan with buffer capacity                mpsc::channel(capacity)
//	many_to_one   the same, P producers                    the same, P producers
//	fan_out       one buffered chan per receiver           broadcast::channel(capacity)
//	latest_value  mutex-guarded value + 1-slot signal chan watch::channel (not equivalent)
//	oneshot       request over a chan, reply on a fresh    request over mpsc, reply on a fresh oneshot
//	              unbuffered chan

// share is how many messages producer i of p sends so that all send m.
func share(m, p, i int64) int64 {
	s := m / p
	if i < m%p {
		s++
	}
	return s
}

func chanThroughput(m, producers int64, capacity int) (time.Duration, error) {
	t := time.Now()
	ch := make(chan int64, capacity)
	var wg sync.WaitGroup
	for p := int64(0); p < producers; p++ {
		wg.Add(1)
		go func(k int64) {
			defer wg.Done()
			for i := int64(0); i < k; i++ {
				ch <- i
			}
		}(share(m, producers, p))
	}
	// Closing after the last producer is Go's way to end a range loop;
	// tokio's channel closes when the last sender drops.
	go func() { wg.Wait(); close(ch) }()
	got := make(chan int64)
	go func() {
		var n int64
		for range ch {
			n++
		}
		got <- n
	}()
	n := <-got
	e := time.Since(t)
	if n != m {
		return 0, fmt.Errorf("lost messages: got %d of %d", n, m)
	}
	return e, nil
}

// chanFanOut sends m values to each of r receivers, one buffered channel
// per receiver; a full channel blocks the producer (backpressure).
func chanFanOut(m, r int64, capacity int) (time.Duration, error) {
	t := time.Now()
	chans := make([]chan int64, r)
	got := make(chan int64, r)
	for i := range chans {
		chans[i] = make(chan int64, capacity)
		go func(ch chan int64) {
			var n int64
			for range ch {
				n++
			}
			got <- n
		}(chans[i])
	}
	go func() {
		for i := int64(0); i < m; i++ {
			for _, ch := range chans {
				ch <- i
			}
		}
		for _, ch := range chans {
			close(ch)
		}
	}()
	for i := int64(0); i < r; i++ {
		if n := <-got; n != m {
			return 0, fmt.Errorf("receiver got %d of %d", n, m)
		}
	}
	return time.Since(t), nil
}

// latest is Go's usual stand-in for a watch channel: the newest value under
// a mutex plus a one-slot channel that signals "changed" (sends coalesce).
type latest struct {
	mu      sync.Mutex
	v       int64
	changed chan struct{}
}

func (l *latest) set(v int64) {
	l.mu.Lock()
	l.v = v
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

func (l *latest) get() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.v
}

func latestValue(m int64) (time.Duration, int64) {
	t := time.Now()
	l := &latest{changed: make(chan struct{}, 1)}
	seenCh := make(chan int64)
	go func() {
		var seen int64
		for range l.changed {
			seen++
			if l.get() == m {
				break
			}
		}
		seenCh <- seen
	}()
	go func() {
		for i := int64(1); i <= m; i++ {
			l.set(i)
		}
	}()
	seen := <-seenCh
	return time.Since(t), seen
}

func oneshotRequestReply(m int64, capacity int) time.Duration {
	t := time.Now()
	req := make(chan chan int64, capacity)
	responderDone := make(chan struct{})
	go func() {
		for reply := range req {
			reply <- 1
		}
		close(responderDone)
	}()
	clientDone := make(chan struct{})
	go func() {
		for i := int64(0); i < m; i++ {
			reply := make(chan int64)
			req <- reply
			<-reply
		}
		close(clientDone)
	}()
	<-clientDone
	e := time.Since(t)
	close(req)
	<-responderDone
	return e
}

func rate(m int64, d time.Duration) []kv {
	s := d.Seconds()
	if s < 1e-9 {
		s = 1e-9
	}
	return []kv{{"msgs_per_sec", float64(m) / s}, {"ns_per_msg", perUnit(float64(d.Nanoseconds()), m)}}
}

func runChannels(o *options) (*Document, error) {
	warmup := o.warmupOr(1)
	workers := o.workersOrDefault()
	defer setProcs(workers)()
	m, capacity, p, r := o.messages, int(o.capacity), o.producers, o.receivers
	params := o.baseParams(warmup)
	params["messages"], params["capacity"], params["producers"], params["receivers"] = m, o.capacity, p, r
	doc := newDocument("channels", params, o)
	add := func(name, mech string, extra map[string]any, notes string, metrics map[string][]float64) {
		ps := map[string]any{"messages": m, "workers": workers, "mechanism": mech}
		for k, v := range extra {
			ps[k] = v
		}
		c := newCase(name, "default", ps, notes)
		c.Metrics = metrics
		doc.Cases = append(doc.Cases, c)
	}

	for _, cs := range []struct {
		name      string
		producers int64
	}{{"one_to_one", 1}, {"many_to_one", p}} {
		metrics, err := repeat(warmup, o.repeats, func() ([]kv, error) {
			d, err := chanThroughput(m, cs.producers, capacity)
			return rate(m, d), err
		})
		if err != nil {
			return nil, err
		}
		add(cs.name, "chan with buffer capacity", map[string]any{"producers": cs.producers, "capacity": capacity},
			"Producers and the consumer are goroutines; time from before the first go statement until the consumer has received every message. tokio's extra variant \"unbounded\" has no Go counterpart.",
			metrics)
	}

	metrics, err := repeat(warmup, o.repeats, func() ([]kv, error) {
		d, err := chanFanOut(m, r, capacity)
		s := d.Seconds()
		if s < 1e-9 {
			s = 1e-9
		}
		return append(rate(m, d), kv{"deliveries_per_sec", float64(m*r) / s}), err
	})
	if err != nil {
		return nil, err
	}
	add("fan_out", "one chan with buffer capacity per receiver", map[string]any{"receivers": r, "capacity": capacity},
		"msgs_per_sec counts values sent (each reaches every receiver); the producer sends each value to every receiver's channel in turn and blocks on a full one. tokio's broadcast is one shared ring instead.",
		metrics)

	metrics, err = repeat(warmup, o.repeats, func() ([]kv, error) {
		d, seen := latestValue(m)
		return append(rate(m, d), kv{"updates_seen_count", float64(seen)}), nil
	})
	if err != nil {
		return nil, err
	}
	add("latest_value", "sync.Mutex-guarded value + chan struct{} buffer 1 as signal", map[string]any{},
		"Not equivalent to tokio's watch: no per-receiver version, one consumer; Go has no watch channel. msgs_per_sec counts updates published until the consumer saw the last one.",
		metrics)

	metrics, err = repeat(warmup, o.repeats, func() ([]kv, error) {
		return rate(m, oneshotRequestReply(m, capacity)), nil
	})
	if err != nil {
		return nil, err
	}
	add("oneshot", "fresh unbuffered chan per reply, requests over a buffered chan", map[string]any{"capacity": capacity},
		"Sequential request/reply: each request carries a fresh unbuffered reply channel; msgs_per_sec counts replies.",
		metrics)
	return doc, nil
}
