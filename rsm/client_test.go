package rsm_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/totem-gcs/totem/rsm"
	"github.com/totem-gcs/totem/totem/client"
	"github.com/totem-gcs/totem/totem/ipc"
)

// serveSocket serves node id's Unix socket, as its daemon would, and returns the path.
func (c *cluster) serveSocket(id int) string {
	t := c.t
	t.Helper()
	dir, err := os.MkdirTemp("", "rsm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	ln, err := ipc.Listen(sock, 0)
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stopServe := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { ipc.Serve(serveCtx, ln, c.node(nodeID(id)), ipc.ServerOptions{}) })
	t.Cleanup(func() { stopServe(); wg.Wait() })
	return sock
}

// startClientReplica runs a replica over the client library on node id, as a replica in
// its own process would.
func (c *cluster) startClientReplica(id int) *treplica {
	t := c.t
	t.Helper()
	sock := c.serveSocket(id)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cl, err := client.Dial(ctx, sock, client.WithName("replica"))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := rsm.JoinGroup(ctx, cl, group)
	if err != nil {
		t.Fatal(err)
	}
	return runReplica(t, nodeID(id), ch, cl.Close, nil)
}

func TestReplicaOverClientLibrary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(t, 3)
	reps := []*treplica{c.startReplica(1, nil), c.startReplica(2, nil), c.startClientReplica(3)}
	waitReady(t, ctx, reps...)
	var wg sync.WaitGroup
	for _, tr := range reps {
		wg.Go(func() {
			for range 50 {
				if _, err := tr.r.Propose(ctx, add("n", 1)); err != nil {
					t.Errorf("replica %d: %v", tr.node, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if res, err := reps[2].r.Read(ctx, get("n")); err != nil || string(res) != "150" {
		t.Fatalf("read over the client library: %q, %v; want 150", res, err)
	}
	waitEqual(t, ctx, reps...)
}
