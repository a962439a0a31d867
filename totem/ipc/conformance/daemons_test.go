package conformance

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/simnet"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/ipc"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
	"github.com/totem-gcs/totem/totem/totemtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ringTimeout bounds every wait for a ring to form or re-form.
const ringTimeout = 30 * time.Second

// oneNode starts a one-node daemon and returns its socket.
func oneNode(t *testing.T, o ipctest.Options) string {
	t.Helper()
	return ipctest.StartOperational(t, o).Socket
}

// ring is n nodes on one simulated network, each served on its own socket.
type ring struct {
	net     *simnet.Network
	nodes   []*totem.Node
	sockets []string
}

// startRing starts n nodes and their servers and waits until they form one ring.
func startRing(t *testing.T, n int) *ring {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	r := &ring{net: simnet.New(1, simnet.Config{})}
	dir, err := os.MkdirTemp("", "conf")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		os.RemoveAll(dir)
	})
	for i := range n {
		id := wire.NodeID(i + 1)
		r.net.AddNode(id)
		cfg := totemtest.LoopbackNodeConfig(id, "conformance")
		cfg.Logger = log.With("node", id)
		node, err := totem.New(cfg, r.net.Endpoint(id, 1400))
		if err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(dir, fmt.Sprintf("n%d.sock", id))
		ln, err := ipc.Listen(sock, 0)
		if err != nil {
			t.Fatal(err)
		}
		r.nodes, r.sockets = append(r.nodes, node), append(r.sockets, sock)
		wg.Go(func() { node.Run(ctx) })
		wg.Go(func() {
			ipc.Serve(ctx, ln, node, ipc.ServerOptions{MaxMessageSize: cfg.MaxMessageSize, Logger: log.With("node", id)})
		})
	}
	wg.Go(func() { r.net.Run(ctx, time.Millisecond) })
	var all []wire.NodeID
	for i := range n {
		all = append(all, wire.NodeID(i+1))
	}
	r.wait(t, all)
	return r
}

// wait waits until each node of each group is operational on a ring of exactly that
// group.
func (r *ring) wait(t *testing.T, groups ...[]wire.NodeID) {
	t.Helper()
	deadline := time.Now().Add(ringTimeout)
	for {
		ok := true
		for _, g := range groups {
			for _, id := range g {
				st := r.nodes[id-1].Status()
				if st.State != membership.Operational || !slices.Equal(st.Members, g) {
					ok = false
				}
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ring of %v within %s", groups, ringTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
