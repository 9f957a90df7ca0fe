package micro

import (
	"fmt"
	"time"
)

// vias and what each means, next to rust-micro's:
//
//	via      Go                                        tokio
//	chan     unbuffered chan                           mpsc::channel(1) (tokio has no rendezvous channel)
//	mpsc     chan with buffer 64                       mpsc::channel(64)
//	oneshot  a fresh unbuffered chan per message       a fresh oneshot per message
//	notify   chan struct{} buffer 1, non-blocking send Notify::notify_one
var vias = []string{"chan", "oneshot", "mpsc", "notify"}

const mpscCapacity = 64

func mechanism(via string) string {
	switch via {
	case "chan":
		return "unbuffered chan"
	case "mpsc":
		return "chan with buffer 64"
	case "oneshot":
		return "a fresh unbuffered chan per message, carried in the previous one"
	default:
		return "chan struct{} with buffer 1, non-blocking send"
	}
}

type trip struct {
	elapsed     time.Duration
	vcsw, ivcsw uint64
}

// timed runs f, the ping goroutine's loop; context switches are the whole
// process's.
func timed(f func()) trip {
	v0, i0 := ctxSwitches()
	t := time.Now()
	f()
	e := time.Since(t)
	v1, i1 := ctxSwitches()
	return trip{e, v1 - v0, i1 - i0}
}

func ppChan(n int64, capacity int) trip {
	toB, toA := make(chan int64, capacity), make(chan int64, capacity)
	done, pongDone := make(chan trip), make(chan struct{})
	go func() {
		for v := range toB {
			toA <- v + 1
		}
		close(pongDone)
	}()
	go func() {
		tr := timed(func() {
			for i := int64(0); i < n; i++ {
				toB <- i
				<-toA
			}
		})
		close(toB)
		done <- tr
	}()
	tr := <-done
	<-pongDone
	return tr
}

// ball is a message that carries the channel of the reply.
type ball chan ball

func ppOneshot(n int64) trip {
	first := make(ball)
	done, pongDone := make(chan trip), make(chan struct{})
	go func() {
		// Each reply arrives on the channel the previous message carried
		// (a range loop would keep receiving on the first one).
		in := first
		for {
			reply, ok := <-in
			if !ok {
				break
			}
			next := make(ball)
			reply <- next
			in = next
		}
		close(pongDone)
	}()
	go func() {
		toB := first
		tr := timed(func() {
			for i := int64(0); i < n; i++ {
				reply := make(ball)
				toB <- reply
				toB = <-reply
			}
		})
		close(toB)
		done <- tr
	}()
	tr := <-done
	<-pongDone
	return tr
}

func ppNotify(n int64) trip {
	aSig, bSig := make(chan struct{}, 1), make(chan struct{}, 1)
	done, pongDone := make(chan trip), make(chan struct{})
	go func() {
		for i := int64(0); i < n; i++ {
			<-bSig
			select {
			case aSig <- struct{}{}:
			default:
			}
		}
		close(pongDone)
	}()
	go func() {
		done <- timed(func() {
			for i := int64(0); i < n; i++ {
				select {
				case bSig <- struct{}{}:
				default:
				}
				<-aSig
			}
		})
	}()
	tr := <-done
	<-pongDone
	return tr
}

// pingpongCase is "pingpong_1_worker", "pingpong_2_workers", …
func pingpongCase(workers int) string {
	if workers == 1 {
		return "pingpong_1_worker"
	}
	return fmt.Sprintf("pingpong_%d_workers", workers)
}

func runPingpong(o *options) (*Document, error) {
	warmup := o.warmupOr(1)
	workerCounts := []int{1, 2} // one P and two, as the issue asks, unless --workers picks one
	if o.workers > 0 {
		workerCounts = []int{o.workers}
	}
	list := vias
	if o.via != "all" {
		list = []string{o.via}
	}
	params := o.baseParams(warmup)
	params["n"] = o.n
	params["via"] = o.via
	doc := newDocument("pingpong", params, o)
	for _, w := range workerCounts {
		restore := setProcs(w)
		for _, via := range list {
			n := o.n
			metrics, err := repeat(warmup, o.repeats, func() ([]kv, error) {
				var t trip
				switch via {
				case "chan":
					t = ppChan(n, 0)
				case "mpsc":
					t = ppChan(n, mpscCapacity)
				case "oneshot":
					t = ppOneshot(n)
				default:
					t = ppNotify(n)
				}
				return []kv{
					{"ns_per_round_trip", perUnit(float64(t.elapsed.Nanoseconds()), n)},
					{"os_ctx_switches_per_round_trip", perUnit(float64(t.vcsw+t.ivcsw), n)},
					{"voluntary_ctx_switches_per_round_trip", perUnit(float64(t.vcsw), n)},
					{"involuntary_ctx_switches_per_round_trip", perUnit(float64(t.ivcsw), n)},
				}, nil
			})
			if err != nil {
				restore()
				return nil, err
			}
			c := newCase(pingpongCase(w), via,
				map[string]any{"n": n, "via": via, "workers": w, "mechanism": mechanism(via)},
				"Two goroutines; the timed loop runs in the ping goroutine. Context switches from "+
					"getrusage(RUSAGE_SELF) around the loop (all threads of the process).")
			c.Metrics = metrics
			doc.Cases = append(doc.Cases, c)
		}
		restore()
	}
	return doc, nil
}
