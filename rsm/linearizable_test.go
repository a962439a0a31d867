package rsm_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The linearizability tests record a history of puts and reads from concurrent clients
// at every replica and check it with porcupine against a sequential key-value map.

type kvInput struct {
	put        bool
	key, value string
}

type kvOutput struct{ value string }

var kvModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(kvInput).key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(kvInput)
		if in.put {
			return true, in.value
		}
		return output.(kvOutput).value == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(kvInput)
		if in.put {
			return fmt.Sprintf("put(%s, %s)", in.key, in.value)
		}
		return fmt.Sprintf("get(%s) -> %s", in.key, output.(kvOutput).value)
	},
}

// history collects operations from many goroutines.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func (h *history) now() int64 { return time.Since(h.start).Nanoseconds() }

func (h *history) add(client int, in kvInput, out kvOutput, call, ret int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
}

// replicaSlot is the replica a client talks to; it changes when a node restarts.
type replicaSlot struct {
	mu sync.Mutex
	tr *treplica
}

func (s *replicaSlot) get() *treplica {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tr
}

func (s *replicaSlot) set(tr *treplica) {
	s.mu.Lock()
	s.tr = tr
	s.mu.Unlock()
}

// runClient issues random puts and reads until stop ends (the operation in progress
// then completes under ctx). A put that failed may still have been applied: it is
// recorded as never returning. A failed read had no effect and is left out.
func runClient(ctx, stop context.Context, h *history, id int, slot *replicaSlot) {
	keys := []string{"a", "b", "c", "d"}
	for i := 0; stop.Err() == nil; i++ {
		tr := slot.get()
		select {
		case <-tr.done:
			// Its replica is gone until the slot gets a new one. Calls to it would fail,
			// each recorded as a put that may yet apply: a pile of those makes the
			// history needlessly hard to check.
			time.Sleep(20 * time.Millisecond)
			continue
		default:
		}
		in := kvInput{put: rand.IntN(2) == 0, key: keys[rand.IntN(len(keys))], value: fmt.Sprintf("c%d-%d", id, i)}
		opCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		call := h.now()
		var res []byte
		var err error
		if in.put {
			_, err = tr.r.Propose(opCtx, put(in.key, in.value))
		} else {
			res, err = tr.r.Read(opCtx, get(in.key))
		}
		ret := h.now()
		cancel()
		switch {
		case err == nil && in.put:
			h.add(id, in, kvOutput{}, call, ret)
		case err == nil:
			h.add(id, in, kvOutput{string(res)}, call, ret)
		case in.put:
			h.add(id, in, kvOutput{}, call, math.MaxInt64)
		}
		if err != nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// checkTimeout bounds porcupine's search; past it the result is Unknown, which fails
// the test. Histories here take well under a second on an idle machine.
const checkTimeout = 2 * time.Minute

func checkHistory(t *testing.T, ops []porcupine.Operation) porcupine.CheckResult {
	t.Helper()
	start := time.Now()
	res, _ := porcupine.CheckOperationsVerbose(kvModel, ops, checkTimeout)
	t.Logf("checked %d operations in %s: %s", len(ops), time.Since(start).Round(time.Millisecond), res)
	return res
}

// runHistory runs two clients per replica for d, calling during(ctx) meanwhile.
func runHistory(ctx context.Context, h *history, slots []*replicaSlot, d time.Duration, during func(context.Context)) {
	runCtx, stop := context.WithTimeout(ctx, d)
	defer stop()
	var wg sync.WaitGroup
	for i := range 2 * len(slots) {
		wg.Go(func() { runClient(ctx, runCtx, h, i, slots[i%len(slots)]) })
	}
	if during != nil {
		during(runCtx)
	}
	wg.Wait()
}

func slotsOf(reps []*treplica) []*replicaSlot {
	slots := make([]*replicaSlot, len(reps))
	for i, tr := range reps {
		slots[i] = &replicaSlot{tr: tr}
	}
	return slots
}

func TestLinearizableAndStaleReadCaught(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(t, 3)
	reps := c.startReplicas(nil)
	waitReady(t, ctx, reps...)
	h := &history{start: time.Now()}
	runHistory(ctx, h, slotsOf(reps), 3*time.Second, nil)
	if res := checkHistory(t, h.ops); res != porcupine.Ok {
		t.Fatalf("history of %d operations: %s, want linearizable", len(h.ops), res)
	}
	t.Logf("history of %d operations is linearizable", len(h.ops))

	// Plant a stale read: stop replica 3, write through replica 1, then read replica 3's
	// state directly, without ordering. The checker must reject the history.
	reps[2].stop()
	call := h.now()
	if _, err := reps[0].r.Propose(ctx, put("a", "fresh")); err != nil {
		t.Fatal(err)
	}
	h.add(100, kvInput{put: true, key: "a", value: "fresh"}, kvOutput{}, call, h.now())
	call = h.now()
	stale := reps[2].sm.get("a")
	h.add(101, kvInput{key: "a"}, kvOutput{stale}, call, h.now())
	if res := checkHistory(t, h.ops); res != porcupine.Illegal {
		t.Fatalf("history with a stale read of a = %q after put(a, fresh): %s, want illegal", stale, res)
	}
}

func TestLinearizableAcrossNodeRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(t, 3)
	reps := c.startReplicas(nil)
	waitReady(t, ctx, reps...)
	h := &history{start: time.Now()}
	slots := slotsOf(reps)
	runHistory(ctx, h, slots, 6*time.Second, func(runCtx context.Context) {
		time.Sleep(1500 * time.Millisecond)
		c.stopNode(3) // "kill" node 3: its replica's channel dies with it
		<-reps[2].done
		time.Sleep(1500 * time.Millisecond)
		c.startNode(3) // same id, same state directory
		slots[2].set(c.startReplica(3, nil))
	})
	if res := checkHistory(t, h.ops); res != porcupine.Ok {
		t.Fatalf("history of %d operations across a node restart: %s, want linearizable", len(h.ops), res)
	}
	all := []*treplica{reps[0], reps[1], slots[2].get()}
	waitReady(t, ctx, all...)
	waitEqual(t, ctx, all...)
	t.Logf("history of %d operations across a node restart is linearizable; replica 3 error after the kill: %v", len(h.ops), reps[2].err)
}
