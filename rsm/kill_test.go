package rsm_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/totem-gcs/totem/demo/localring"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/rsm"
	"github.com/totem-gcs/totem/totem/client"
)

// The tests here run replicas in the test process over the client library, attached to
// real totemd processes on 127.0.0.1, so that a daemon can die by SIGKILL: no leave, no
// goodbye, its replica's connection simply breaks.

var totemd struct {
	once sync.Once
	path string
	err  error
}

// totemdBinary builds totemd once per test binary; tests skip without a go command.
func totemdBinary(t *testing.T) string {
	t.Helper()
	totemd.once.Do(func() {
		dir, err := os.MkdirTemp("", "rsm-bin")
		if err != nil {
			totemd.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		totemd.err = localring.Build(ctx, dir, false, "github.com/totem-gcs/totem/cmd/totemd")
		totemd.path = filepath.Join(dir, "totemd")
	})
	switch {
	case errors.Is(totemd.err, exec.ErrNotFound):
		t.Skipf("cannot build totemd: %v", totemd.err)
	case totemd.err != nil:
		t.Fatalf("build totemd: %v", totemd.err)
	}
	return totemd.path
}

// startDaemons runs n real daemons that form one ring; they are killed at cleanup, and
// their logs printed if the test failed.
func startDaemons(t *testing.T, n int) *localring.Ring {
	t.Helper()
	bin := totemdBinary(t)
	dir, err := localring.ShortDir("rsm")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r, err := localring.Start(ctx, localring.Options{Totemd: bin, Dir: dir, Nodes: n})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		if t.Failed() {
			for _, nd := range r.Nodes {
				t.Logf("--- totemd %d:\n%s", nd.ID, nd.Log())
			}
		}
		os.RemoveAll(dir)
	})
	return r
}

// daemonReplica runs a replica attached to nd's daemon.
func daemonReplica(t *testing.T, nd *localring.Node) *treplica {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cl, err := client.Dial(ctx, nd.Socket, client.WithName("replica"))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := rsm.JoinClient(ctx, cl, group)
	if err != nil {
		cl.Close()
		t.Fatal(err)
	}
	return runReplica(t, wire.NodeID(nd.ID), ch, cl.Close, nil)
}

// Concurrent clients on three replicas while one replica's daemon is killed with
// SIGKILL and restarted: the history is linearizable, and the restarted replica ends
// with the others' state.
func TestLinearizableAcrossDaemonKill(t *testing.T) {
	ring := startDaemons(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	reps := make([]*treplica, 3)
	for i, nd := range ring.Nodes {
		reps[i] = daemonReplica(t, nd)
	}
	waitReady(t, ctx, reps...)
	h := &history{start: time.Now()}
	slots := slotsOf(reps)
	var killErr error
	runHistory(ctx, h, slots, 8*time.Second, func(runCtx context.Context) {
		time.Sleep(1500 * time.Millisecond)
		n3 := ring.Node(3)
		if killErr = ring.Kill(n3); killErr != nil {
			return
		}
		<-reps[2].done // its connection broke
		time.Sleep(1500 * time.Millisecond)
		if killErr = ring.StartNode(n3); killErr != nil {
			return
		}
		if _, killErr = ring.WaitRing(ctx, ring.Nodes...); killErr != nil {
			return
		}
		slots[2].set(daemonReplica(t, n3))
	})
	if killErr != nil {
		t.Fatalf("kill and restart of daemon 3: %v", killErr)
	}
	if reps[2].err == nil {
		t.Fatalf("replica 3 ended without an error after its daemon was killed")
	}
	if res := checkHistory(t, h.ops); res != porcupine.Ok {
		t.Fatalf("history of %d operations across a daemon kill: %s, want linearizable", len(h.ops), res)
	}
	all := []*treplica{reps[0], reps[1], slots[2].get()}
	waitReady(t, ctx, all...)
	waitEqual(t, ctx, all...)
	t.Logf("history of %d operations across SIGKILL of a daemon is linearizable; replica 3 ended with: %v", len(h.ops), reps[2].err)
}
