package rsm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/totem-gcs/totem/rsm"
)

func TestJoinUnderLoadEndsEqual(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(t, 3)
	reps := c.startReplicas(nil)
	waitReady(t, ctx, reps...)
	for i := range 16 { // 1 MiB of state: the transfer takes a while, commands keep coming
		if _, err := reps[0].r.Propose(ctx, put(fmt.Sprintf("pad%02d", i), strings.Repeat("x", 64<<10))); err != nil {
			t.Fatal(err)
		}
	}
	reps[2].stop() // replica 3 leaves; 1 and 2 are still a majority
	waitReady(t, ctx, reps[:2]...)

	// Two writers, a bounded number of commands each, running across the join.
	const perWriter = 300
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, tr := range reps[:2] {
		wg.Go(func() {
			for i := range perWriter {
				if _, err := retry(ctx, func() ([]byte, error) { return tr.r.Propose(ctx, add("n", 1)) }); err != nil {
					errs <- fmt.Errorf("replica %d, command %d: %w", tr.node, i, err)
					return
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	joiner := c.startReplica(3, nil) // a new, empty replica on node 3
	waitFor(t, ctx, "the joiner to be ready", func() bool { return joiner.r.Status().Ready })
	if st := reps[0].r.Status(); st.Applied >= 2*perWriter {
		t.Logf("load ended before the join completed (applied %d); the test proves less", st.Applied)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := []*treplica{reps[0], reps[1], joiner}
	waitEqual(t, ctx, all...)
	if got := joiner.sm.get("n"); got != fmt.Sprint(2*perWriter) || len(joiner.sm.get("pad15")) != 64<<10 {
		t.Fatalf("joiner: n = %s, want %d", got, 2*perWriter)
	}
}

func TestLargeStateTransfersInChunks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(t, 3)
	reps := c.startReplicas(nil)
	waitReady(t, ctx, reps...)
	const values, size = 64, 64 << 10 // 4 MiB of state, 16 chunks of 256 KiB
	for i := range values {
		v := strings.Repeat(fmt.Sprintf("%02d", i%100), size/2)
		if _, err := reps[i%2].r.Propose(ctx, put(fmt.Sprintf("big%02d", i), v)); err != nil {
			t.Fatal(err)
		}
	}
	reps[2].stop()
	waitReady(t, ctx, reps[:2]...)
	joiner := c.startReplica(3, nil)
	all := []*treplica{reps[0], reps[1], joiner}
	waitReady(t, ctx, all...)
	waitEqual(t, ctx, all...)
	total := 0
	for _, v := range joiner.sm.copy() {
		total += len(v)
	}
	if total != values*size {
		t.Fatalf("joiner holds %d bytes of values, want %d", total, values*size)
	}
	// The state is four times the largest message: it can only have come in chunks.
	if res, err := joiner.r.Read(ctx, get("big63")); err != nil || len(res) != size {
		t.Fatalf("read at the joiner: %d bytes, %v", len(res), err)
	}
}

// A joiner whose transfer outgrows Config.MaxTransfer stops with a clear error instead
// of holding ever more memory; the others serve on.
func TestTransferBoundStopsJoiner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(t, 3)
	reps := c.startReplicas(nil)
	waitReady(t, ctx, reps...)
	for i := range 4 {
		if _, err := reps[0].r.Propose(ctx, put(fmt.Sprintf("pad%d", i), strings.Repeat("x", 64<<10))); err != nil {
			t.Fatal(err)
		}
	}
	reps[2].stop()
	waitReady(t, ctx, reps[:2]...)
	joiner := c.startReplica(3, func(cfg *rsm.Config) { cfg.MaxTransfer = 100 << 10 })
	select {
	case <-joiner.done:
	case <-ctx.Done():
		t.Fatal("the joiner took a 256 KiB state with a 100 KiB bound")
	}
	if !errors.Is(joiner.err, rsm.ErrTransferTooLarge) {
		t.Fatalf("joiner ended with %v, want ErrTransferTooLarge", joiner.err)
	}
	joiner.stop() // as its program would on Run's error: its session leaves the group
	if _, err := retry(ctx, func() ([]byte, error) { return reps[1].r.Propose(ctx, add("n", 1)) }); err != nil {
		t.Fatalf("the others after the joiner stopped: %v", err)
	}
}
