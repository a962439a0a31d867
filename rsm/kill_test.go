package rsm_test

import (
	"context"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/totem-gcs/totem/demo/localring"
	"github.com/totem-gcs/totem/demo/localring/ringtest"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/rsm"
	"github.com/totem-gcs/totem/totem/client"
)

// The tests here run replicas in the test process over the client library, attached to
// real totemd processes on 127.0.0.1, so that a daemon can die by SIGKILL: no leave, no
// goodbye, its replica's connection simply breaks.

// startDaemons runs n real daemons that form one ring, for the test.
func startDaemons(t *testing.T, n int) *localring.Ring {
	t.Helper()
	return ringtest.Start(t, ringtest.Binaries(t, "github.com/totem-gcs/totem/cmd/totemd"), n)
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
	ch, err := rsm.JoinGroup(ctx, cl, group)
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
