package rsm_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/totem-gcs/totem/rsm"
)

// noQuorumBound is how long a cut-off replica may take to refuse writes: the ring's
// failure detection (token timeout, join and consensus, a few hundred ms with the test
// timers) plus slack for a loaded machine.
const noQuorumBound = 5 * time.Second

func TestPartitionMinorityRefusesMajorityGoesOn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(t, 3)
	reps := c.startReplicas(nil)
	waitReady(t, ctx, reps...)
	load := startLoad(ctx, reps, "k")
	time.Sleep(200 * time.Millisecond) // commands in flight when the cut comes

	cutAt := time.Now()
	c.cuts.isolate(3, c.ids()...)
	minority := reps[2]
	for {
		pctx, pcancel := context.WithTimeout(ctx, noQuorumBound)
		_, err := minority.r.Propose(pctx, add("m", 1))
		pcancel()
		if errors.Is(err, rsm.ErrNoQuorum) {
			break
		}
		if err != nil || time.Since(cutAt) > noQuorumBound {
			t.Fatalf("minority propose %v after the cut: %v, want ErrNoQuorum within %v", time.Since(cutAt), err, noQuorumBound)
		}
	}
	t.Logf("minority refused writes %v after the cut", time.Since(cutAt))
	if _, err := minority.r.Read(ctx, get("m")); !errors.Is(err, rsm.ErrNoQuorum) {
		t.Fatalf("minority read: %v, want ErrNoQuorum", err)
	}
	majority := reps[:2]
	waitReady(t, ctx, majority...)
	for i := range 20 {
		if _, err := majority[i%2].r.Propose(ctx, add("maj", 1)); err != nil {
			t.Fatalf("majority propose: %v", err)
		}
	}

	c.cuts.heal()
	waitReady(t, ctx, reps...)
	load.stop()
	waitEqual(t, ctx, reps...)
	if got := minority.sm.get("maj"); got != "20" {
		t.Fatalf("returned minority: maj = %q, want 20", got)
	}
	if got, ok := minority.sm.get("k"), load.succeeded(); atoi(got) < ok {
		t.Errorf("k = %s after %d successful increments: a write returned to a client was lost", got, ok)
	}
	if n := load.errs(); n > 0 {
		t.Logf("%d load proposals failed during the partition (expected at the minority)", n)
	}
}

// load keeps every replica proposing until stopped.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	failed int
	ok     int
}

func startLoad(ctx context.Context, reps []*treplica, key string) *load {
	ctx, cancel := context.WithCancel(ctx)
	l := &load{cancel: cancel}
	for _, tr := range reps {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				_, err := tr.r.Propose(ctx, add(key, 1))
				if err == nil {
					l.mu.Lock()
					l.ok++
					l.mu.Unlock()
				}
				if err != nil && ctx.Err() == nil {
					l.mu.Lock()
					l.failed++
					l.mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	return l
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) errs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

func (l *load) succeeded() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
