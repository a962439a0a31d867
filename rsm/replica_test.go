package rsm_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/totem-gcs/totem/rsm"
)

func TestConcurrentProposalsAgree(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(t, 3)
	reps := c.startReplicas(nil)
	waitReady(t, ctx, reps...)

	const perReplica = 100
	var wg sync.WaitGroup
	results := make([][]int, len(reps))
	errs := make(chan error, len(reps))
	for i, tr := range reps {
		wg.Go(func() {
			for range perReplica {
				res, err := tr.r.Propose(ctx, add("n", 1))
				if err != nil {
					errs <- fmt.Errorf("replica %d: %w", tr.node, err)
					return
				}
				v, _ := strconv.Atoi(string(res))
				results[i] = append(results[i], v)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Each add's result is the counter just after it: all distinct, 1..total.
	seen := make(map[int]bool)
	for _, rs := range results {
		for j, v := range rs {
			if seen[v] || v < 1 || v > perReplica*len(reps) || (j > 0 && v <= rs[j-1]) {
				t.Fatalf("result %d repeated, out of range or out of order: %v", v, rs)
			}
			seen[v] = true
		}
	}
	waitEqual(t, ctx, reps...)
	for _, tr := range reps {
		if got := tr.sm.get("n"); got != strconv.Itoa(perReplica*len(reps)) {
			t.Fatalf("replica %d: n = %s", tr.node, got)
		}
	}
}

func TestDuplicateCommandAppliedOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(t, 3)
	reps := c.startReplicas(func(cfg *rsm.Config) { cfg.ResultsPerClient = 2 })
	waitReady(t, ctx, reps...)

	first := rsm.Command{Client: 42, Seq: 1, Data: add("x", 5)}
	for i, tr := range reps { // the same command retried at every replica
		res, err := tr.r.Do(ctx, first)
		if err != nil || string(res) != "5" {
			t.Fatalf("try %d at replica %d: %q, %v; want the first result 5", i, tr.node, res, err)
		}
	}
	for seq := uint64(2); seq <= 3; seq++ {
		if _, err := reps[0].r.Do(ctx, rsm.Command{Client: 42, Seq: seq, Data: add("x", 7)}); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := reps[1].r.Do(ctx, rsm.Command{Client: 42, Seq: 3, Data: add("x", 7)}); err != nil || string(res) != "19" {
		t.Fatalf("retry of seq 3: %q, %v; want 19", res, err)
	}
	// Only the last two results are kept: seq 1 is a known duplicate without a result.
	if _, err := reps[2].r.Do(ctx, first); !errors.Is(err, rsm.ErrExpired) {
		t.Fatalf("retry of an evicted command: %v, want ErrExpired", err)
	}
	waitEqual(t, ctx, reps...)
	for _, tr := range reps {
		if got := tr.sm.get("x"); got != "19" {
			t.Fatalf("replica %d: x = %s, want 19 (5 + 7 + 7, each applied once)", tr.node, got)
		}
	}
}

func TestNoBootstrapWithoutEveryReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(t, 3)
	a, b := c.startReplica(1, nil), c.startReplica(2, nil)
	waitFor(t, ctx, "a view of two", func() bool { return len(a.r.Status().Members) == 2 && len(b.r.Status().Members) == 2 })
	// Two of three is a quorum, but a new cluster starts only with all its replicas: two
	// replicas that restarted empty must not start a history beside a third that has one.
	if _, err := a.r.Propose(ctx, add("n", 1)); !errors.Is(err, rsm.ErrNotReady) {
		t.Fatalf("propose before the cluster formed: %v, want ErrNotReady", err)
	}
	c3 := c.startReplica(3, nil)
	waitReady(t, ctx, a, b, c3)
	if res, err := b.r.Propose(ctx, add("n", 1)); err != nil || string(res) != "1" {
		t.Fatalf("propose: %q, %v", res, err)
	}
}

func TestNotStartedAndStopped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(t, 1)
	ch, closeCh := openGroup(t, ctx, c.node(1), group, "r")
	defer closeCh()
	r, err := rsm.New(rsm.Config{Replicas: 1}, newKV(), ch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Propose(ctx, add("n", 1)); !errors.Is(err, rsm.ErrNotReady) {
		t.Fatalf("before Run: %v, want ErrNotReady", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	if res, err := retry(ctx, func() ([]byte, error) { return r.Propose(ctx, add("n", 1)) }); err != nil || string(res) != "1" {
		t.Fatalf("propose on a one-replica cluster: %q, %v", res, err)
	}
	if res, err := r.Read(ctx, get("n")); err != nil || string(res) != "1" {
		t.Fatalf("read: %q, %v", res, err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := r.Propose(ctx, add("n", 1)); !errors.Is(err, rsm.ErrStopped) {
		t.Fatalf("after Run: %v, want ErrStopped", err)
	}
	if err := r.Run(ctx); err == nil {
		t.Fatal("second Run succeeded")
	}
}
