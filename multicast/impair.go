package multicast

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Impairment is what Impair does to every datagram a transport receives, to test the
// protocol against a network that delays, reorders and duplicates, which nftables
// cannot do and this project's kernels may lack sch_netem for. It is a test tool: totemd
// enables it only with its hidden --impair flag, and says so loudly.
type Impairment struct {
	Delay  time.Duration // added to every datagram
	Jitter time.Duration // plus a uniform random amount in [-Jitter, +Jitter] (never below 0 in all)
	Loss   float64       // probability a datagram is dropped
	Dup    float64       // probability a datagram is delivered twice
	// Reorder is the probability a datagram is held back until the next one has been
	// delivered (or reorderHold has passed), swapping the two.
	Reorder float64
	Seed    uint64 // the random draws; 0 picks one
}

// reorderHold bounds how long a datagram held back for reordering waits for the next.
const reorderHold = 20 * time.Millisecond

// ParseImpairment reads "delay=2ms,jitter=1ms,loss=0.01,dup=0.01,reorder=0.02,seed=7";
// every key is optional.
func ParseImpairment(s string) (Impairment, error) {
	var im Impairment
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		key, value, ok := strings.Cut(kv, "=")
		if !ok {
			return Impairment{}, fmt.Errorf("impairment %q: want key=value", kv)
		}
		var err error
		switch key {
		case "delay":
			im.Delay, err = time.ParseDuration(value)
		case "jitter":
			im.Jitter, err = time.ParseDuration(value)
		case "loss":
			im.Loss, err = parseProbability(value)
		case "dup":
			im.Dup, err = parseProbability(value)
		case "reorder":
			im.Reorder, err = parseProbability(value)
		case "seed":
			im.Seed, err = strconv.ParseUint(value, 10, 64)
		default:
			return Impairment{}, fmt.Errorf("impairment: unknown key %q (delay, jitter, loss, dup, reorder, seed)", key)
		}
		if err != nil {
			return Impairment{}, fmt.Errorf("impairment %s: %w", key, err)
		}
	}
	if im.Delay < 0 || im.Jitter < 0 {
		return Impairment{}, fmt.Errorf("impairment: delay and jitter must not be negative")
	}
	return im, nil
}

func parseProbability(s string) (float64, error) {
	p, err := strconv.ParseFloat(s, 64)
	if err != nil || p < 0 || p > 1 {
		return 0, fmt.Errorf("%q is not a probability between 0 and 1", s)
	}
	return p, nil
}

// String returns the impairment in the key=value form ParseImpairment reads, with
// every field spelled out.
func (im Impairment) String() string {
	return fmt.Sprintf("delay=%s,jitter=%s,loss=%g,dup=%g,reorder=%g,seed=%d", im.Delay, im.Jitter, im.Loss, im.Dup, im.Reorder, im.Seed)
}

// Impair wraps t so that what it receives is impaired as im says; sends pass through.
// The returned transport owns t: closing it closes t.
func Impair(t Transport, im Impairment) Transport {
	if im.Seed == 0 {
		im.Seed = rand.Uint64()
	}
	it := &impaired{
		Transport: t,
		im:        im,
		rng:       rand.New(rand.NewPCG(im.Seed, im.Seed^0x9e3779b97f4a7c15)),
		out:       make(chan Packet, cap(t.Packets())+64),
		done:      make(chan struct{}),
	}
	go it.run()
	return it
}

type impaired struct {
	Transport
	im   Impairment
	rng  *rand.Rand // used by run only
	out  chan Packet
	done chan struct{} // closed when run has returned

	dropped atomic.Uint64 // impairment losses, and overflow of out
}

func (it *impaired) Packets() <-chan Packet { return it.out }

// Close closes the wrapped transport and returns once Packets is closed.
func (it *impaired) Close() error {
	err := it.Transport.Close()
	<-it.done
	return err
}

// MulticastBatch and UnicastBatch keep the wrapped transport's batch sends.
func (it *impaired) MulticastBatch(bufs [][]byte) error {
	if b, ok := it.Transport.(interface{ MulticastBatch([][]byte) error }); ok {
		return b.MulticastBatch(bufs)
	}
	for _, buf := range bufs {
		if err := it.Transport.Multicast(buf); err != nil {
			return err
		}
	}
	return nil
}

func (it *impaired) UnicastBatch(to wire.NodeID, bufs [][]byte) error {
	if b, ok := it.Transport.(interface {
		UnicastBatch(wire.NodeID, [][]byte) error
	}); ok {
		return b.UnicastBatch(to, bufs)
	}
	for _, buf := range bufs {
		if err := it.Transport.Unicast(to, buf); err != nil {
			return err
		}
	}
	return nil
}

func (it *impaired) Stats() Stats {
	st := it.Transport.Stats()
	st.DropImpaired = it.dropped.Load()
	return st
}

// run moves packets from the wrapped transport to out, each at its due time.
func (it *impaired) run() {
	defer close(it.done)
	defer close(it.out)
	in := it.Transport.Packets()
	var (
		pending  delayQueue
		held     *Packet // a packet held back for reordering
		heldAt   time.Time
		timer    = time.NewTimer(time.Hour)
		sequence uint64
	)
	defer timer.Stop()
	schedule := func(p Packet, now time.Time) {
		d := it.im.Delay
		if it.im.Jitter > 0 {
			d += time.Duration(it.rng.Int64N(int64(2*it.im.Jitter)+1)) - it.im.Jitter
		}
		sequence++
		heap.Push(&pending, delayed{due: now.Add(max(d, 0)), seq: sequence, p: p})
	}
	for {
		now := time.Now()
		for len(pending) > 0 && !pending[0].due.After(now) {
			it.emit(heap.Pop(&pending).(delayed).p)
		}
		if held != nil && now.Sub(heldAt) >= reorderHold {
			schedule(*held, now)
			held = nil
			continue
		}
		wait := time.Hour
		if len(pending) > 0 {
			wait = pending[0].due.Sub(now)
		}
		if held != nil {
			wait = min(wait, reorderHold-now.Sub(heldAt))
		}
		timer.Reset(wait)
		select {
		case p, ok := <-in:
			timer.Stop()
			if !ok { // closed: what is still delayed or held goes out now, in order
				if held != nil {
					schedule(*held, now)
				}
				for len(pending) > 0 {
					it.emit(heap.Pop(&pending).(delayed).p)
				}
				return
			}
			now = time.Now()
			if it.rng.Float64() < it.im.Loss {
				it.dropped.Add(1)
				continue
			}
			if it.rng.Float64() < it.im.Dup {
				schedule(Packet{From: p.From, Data: append([]byte(nil), p.Data...)}, now)
			}
			if held == nil && it.rng.Float64() < it.im.Reorder {
				held, heldAt = &p, now
				continue
			}
			schedule(p, now)
			if held != nil { // the next one has gone ahead: release the held one after it
				schedule(*held, now)
				held = nil
			}
		case <-timer.C:
		}
	}
}

func (it *impaired) emit(p Packet) {
	select {
	case it.out <- p:
	default:
		it.dropped.Add(1)
	}
}

// delayed is a packet waiting for its due time; seq keeps equal times in arrival order.
type delayed struct {
	due time.Time
	seq uint64
	p   Packet
}

type delayQueue []delayed

func (q delayQueue) Len() int { return len(q) }
func (q delayQueue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].seq < q[j].seq
}
func (q delayQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *delayQueue) Push(x any)   { *q = append(*q, x.(delayed)) }
func (q *delayQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// Unwrap returns the impaired transport, so that callers can reach what it offers
// beyond Transport (Heard, Describe).
func (it *impaired) Unwrap() Transport { return it.Transport }
