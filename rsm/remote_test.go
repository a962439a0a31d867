package rsm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/totem-gcs/totem/rsm"
	"github.com/totem-gcs/totem/totem/client"
)

// serve runs tr's gateway for remote clients on a session of its own node.
func (c *cluster) serve(tr *treplica) {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ch, closeCh := openGroup(t, ctx, c.node(tr.node), rsm.ClientsGroup(group), "gateway")
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.r.Serve(runCtx, ch, rsm.ServeConfig{}) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("gateway of replica %d: %v", tr.node, err)
		}
		closeCh()
	})
}

// servedCluster is three nodes with a serving replica and its gateway on each.
func servedCluster(t *testing.T, ctx context.Context) (*cluster, []*treplica) {
	t.Helper()
	c := newCluster(t, 3)
	reps := c.startReplicas(nil)
	waitReady(t, ctx, reps...)
	for _, tr := range reps {
		c.serve(tr)
	}
	return c, reps
}

func (c *cluster) remote(id int, cfg rsm.RemoteConfig) *rsm.Remote {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := c.node(nodeID(id)).Open(ctx, uint32(os.Getpid()), fmt.Sprintf("client-%d", id))
	if err != nil {
		t.Fatal(err)
	}
	r, err := rsm.Connect(ctx, s, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); s.Close() })
	return r
}

// Remote clients on every node send commands through the replicas' gateways; every
// command is applied once, reads see every write that completed, the replicas end equal.
func TestRemoteClients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, reps := servedCluster(t, ctx)
	var wg sync.WaitGroup
	for id := 1; id <= 3; id++ {
		r := c.remote(id, rsm.RemoteConfig{})
		wg.Go(func() {
			for i := range 30 {
				if _, err := r.Propose(ctx, add("n", 1)); err != nil {
					t.Errorf("client on node %d, command %d: %v", id, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	r := c.remote(2, rsm.RemoteConfig{})
	if res, err := r.Read(ctx, get("n")); err != nil || string(res) != "90" {
		t.Fatalf("remote read: %q, %v; want 90", res, err)
	}
	waitEqual(t, ctx, reps...)
}

// A client that retries a command under the same client id and sequence number, here
// from a second process with the same identity, has it applied once and gets the first
// result back.
func TestRemoteRetryAppliedOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, reps := servedCluster(t, ctx)
	first := c.remote(1, rsm.RemoteConfig{ClientID: 77})
	res1, err := first.Propose(ctx, add("n", 5))
	if err != nil || string(res1) != "5" {
		t.Fatalf("first: %q, %v", res1, err)
	}
	again := c.remote(3, rsm.RemoteConfig{ClientID: 77}) // same id, sequence restarts at 1
	res2, err := again.Propose(ctx, add("n", 5))
	if err != nil || string(res2) != "5" {
		t.Fatalf("retry: %q, %v; want the first result 5", res2, err)
	}
	if res, err := again.Propose(ctx, add("n", 1)); err != nil || string(res) != "6" {
		t.Fatalf("next command: %q, %v; want 6 (the retry was not applied again)", res, err)
	}
	waitEqual(t, ctx, reps...)
}

// A client whose replicas are all in a minority gets ErrNoQuorum at once rather than
// waiting; the majority's clients go on.
func TestRemoteMinorityFailsFast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, reps := servedCluster(t, ctx)
	minority := c.remote(3, rsm.RemoteConfig{})
	majority := c.remote(1, rsm.RemoteConfig{})
	if _, err := majority.Propose(ctx, add("n", 1)); err != nil {
		t.Fatal(err)
	}
	c.cuts.isolate(3, c.ids()...)
	waitFor(t, ctx, "node 3 alone", func() bool { return len(reps[2].r.Status().Members) == 1 })
	_, err := minority.Propose(ctx, add("n", 100))
	if !errors.Is(err, rsm.ErrNoQuorum) {
		t.Fatalf("propose in the minority: %v; want ErrNoQuorum", err)
	}
	if _, err := retry(ctx, func() ([]byte, error) { return majority.Propose(ctx, add("n", 1)) }); err != nil {
		t.Fatalf("propose in the majority: %v", err)
	}
	c.cuts.heal()
	waitReady(t, ctx, reps...)
	res, err := retry(ctx, func() ([]byte, error) { return minority.Read(ctx, get("n")) })
	if err != nil || string(res) != "2" {
		t.Fatalf("read after healing: %q, %v; want 2", res, err)
	}
	waitEqual(t, ctx, reps...)
}

// Garbage on the clients group, and requests for replicas that do not exist, cost the
// gateways nothing; a request to a missing replica is retried at a real one.
func TestRemoteBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, reps := servedCluster(t, ctx)
	raw, closeRaw := openGroup(t, ctx, c.node(2), rsm.ClientsGroup(group), "noise")
	defer closeRaw()
	for _, b := range [][]byte{{}, {0}, {8}, {8, 0xc1}, {9, 0x91, 0xff}, []byte("hello")} {
		if err := raw.Send(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	ghost := rsm.Member{Node: 9, Session: 9}
	calls := 0
	lister := func(context.Context) ([]rsm.Member, error) {
		calls++
		if calls == 1 {
			return []rsm.Member{ghost}, nil
		}
		return []rsm.Member{reps[0].r.Status().Self}, nil
	}
	r := rsm.NewRemote(raw, lister, rsm.RemoteConfig{Attempt: 200 * time.Millisecond})
	defer r.Close()
	res, err := r.Propose(ctx, add("n", 3))
	if err != nil || string(res) != "3" {
		t.Fatalf("propose after a missing replica: %q, %v", res, err)
	}
	if calls < 2 {
		t.Fatalf("the replica list was read %d times; want a second pass after the ghost", calls)
	}
	waitEqual(t, ctx, reps...)
}

// The gateway over the client library: Connect finds the replicas through the
// daemon's member list.
func TestRemoteOverClientLibrary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, reps := servedCluster(t, ctx)
	sock := c.serveSocket(2)
	cl, err := client.Dial(ctx, sock, client.WithName("remote"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r, err := rsm.Connect(ctx, cl, group, rsm.RemoteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 1; i <= 10; i++ {
		res, err := r.Propose(ctx, add("n", 1))
		if err != nil || string(res) != strconv.Itoa(i) {
			t.Fatalf("command %d: %q, %v", i, res, err)
		}
	}
	waitEqual(t, ctx, reps...)
}
