package rsm_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/totem-gcs/totem/multicast"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/rsm"
	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/totemtest"
)

const (
	testTimeout = 60 * time.Second
	group       = "rsm-test"
)

// testLogger logs to the test's output when RSM_LOG is set (go test -v).
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("RSM_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// cluster is totem nodes over UDP multicast on loopback, each behind a transport that
// can cut it off from chosen peers (a partition without network namespaces).
type cluster struct {
	t     testing.TB
	name  string
	group netip.AddrPort
	cuts  *cuts
	mu    sync.Mutex
	nodes map[wire.NodeID]*tnode
	dirs  map[wire.NodeID]string
}

type tnode struct {
	n      *totem.Node
	cancel context.CancelFunc
	done   chan struct{}
}

func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	c := &cluster{
		t:     t,
		name:  fmt.Sprintf("%s-%x", t.Name(), rand.Uint64()),
		group: totemtest.LoopbackGroup(t),
		cuts:  &cuts{off: make(map[[2]wire.NodeID]bool)},
		nodes: make(map[wire.NodeID]*tnode),
		dirs:  make(map[wire.NodeID]string),
	}
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stopNode(id)
		}
	})
	for i := 1; i <= n; i++ {
		c.startNode(wire.NodeID(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c.waitRing(ctx, c.ids()...)
	return c
}

func (c *cluster) ids() []wire.NodeID {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []wire.NodeID
	for id := range c.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (c *cluster) node(id wire.NodeID) *totem.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id].n
}

// startNode starts node id, with the state directory of its earlier life if it had one.
func (c *cluster) startNode(id wire.NodeID) {
	t := c.t
	t.Helper()
	udp, err := multicast.NewUDP(multicast.UDPConfig{
		NodeID: id, Cluster: wire.ClusterHash(c.name), Interface: "lo", TTL: 1, Mcast: c.group,
		Listen: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0),
	})
	if err != nil {
		t.Fatalf("transport %d: %v", id, err)
	}
	tr := newCutTransport(udp, id, c.cuts)
	cfg := totemtest.LoopbackNodeConfig(id, c.name)
	c.mu.Lock()
	if c.dirs[id] == "" {
		c.dirs[id] = t.TempDir()
	}
	cfg.StateDir = c.dirs[id]
	c.mu.Unlock()
	n, err := totem.New(cfg, tr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &tnode{n: n, cancel: cancel, done: make(chan struct{})}
	go func() {
		n.Run(ctx)
		tr.Close()
		close(tn.done)
	}()
	c.mu.Lock()
	c.nodes[id] = tn
	c.mu.Unlock()
}

// stopNode stops node id (a graceful leave) and waits for it.
func (c *cluster) stopNode(id wire.NodeID) {
	c.mu.Lock()
	tn := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if tn == nil {
		return
	}
	tn.cancel()
	select {
	case <-tn.done:
	case <-time.After(testTimeout):
		c.t.Errorf("node %d did not stop", id)
	}
}

// waitRing waits until the given nodes are operational on one ring of exactly them.
func (c *cluster) waitRing(ctx context.Context, ids ...wire.NodeID) {
	c.t.Helper()
	nodes := make([]*totem.Node, len(ids))
	for i, id := range ids {
		nodes[i] = c.node(id)
	}
	totemtest.WaitRing(c.t, ctx, nodes...)
}

// cuts says which pairs of nodes cannot hear each other.
type cuts struct {
	mu  sync.Mutex
	off map[[2]wire.NodeID]bool
}

func (c *cuts) blocked(a, b wire.NodeID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.off[[2]wire.NodeID{a, b}]
}

// isolate cuts id off from every other node in ids.
func (c *cuts) isolate(id wire.NodeID, ids ...wire.NodeID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range ids {
		if o != id {
			c.off[[2]wire.NodeID{id, o}] = true
			c.off[[2]wire.NodeID{o, id}] = true
		}
	}
}

func (c *cuts) heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.off)
}

// cutTransport drops datagrams between nodes that cuts separates.
type cutTransport struct {
	multicast.Transport
	self    wire.NodeID
	cuts    *cuts
	out     chan multicast.Packet
	done    chan struct{}
	stopped chan struct{}
}

func newCutTransport(inner multicast.Transport, self wire.NodeID, c *cuts) *cutTransport {
	t := &cutTransport{Transport: inner, self: self, cuts: c,
		out: make(chan multicast.Packet, 1024), done: make(chan struct{}), stopped: make(chan struct{})}
	go t.forward()
	return t
}

func (t *cutTransport) forward() {
	defer close(t.stopped)
	defer close(t.out)
	for p := range t.Transport.Packets() {
		if t.cuts.blocked(t.self, p.From) {
			continue
		}
		select {
		case t.out <- p:
		case <-t.done:
			return
		}
	}
}

func (t *cutTransport) Packets() <-chan multicast.Packet { return t.out }

func (t *cutTransport) Unicast(to wire.NodeID, b []byte) error {
	if t.cuts.blocked(t.self, to) {
		return nil
	}
	return t.Transport.Unicast(to, b)
}

func (t *cutTransport) Close() error {
	close(t.done)
	err := t.Transport.Close()
	<-t.stopped
	return err
}

// treplica is a replica on one node, with its own channel and kv state machine.
type treplica struct {
	node     wire.NodeID
	r        *rsm.Replica
	sm       *kv
	closeCh  func() error // leaves the group
	cancel   context.CancelFunc
	done     chan struct{}
	err      error
	stopOnce sync.Once
}

// startReplica runs a replica on an embedded session of node id.
func (c *cluster) startReplica(id wire.NodeID, tweak func(*rsm.Config)) *treplica {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ch, closeCh := openGroup(t, ctx, c.node(id), group, fmt.Sprintf("replica-%d", id))
	return runReplica(t, id, ch, closeCh, tweak)
}

// openGroup opens a session named name on n and joins group with it; closeCh closes
// the session.
func openGroup(t testing.TB, ctx context.Context, n *totem.Node, group, name string) (ch *rsm.GroupChannel, closeCh func() error) {
	t.Helper()
	s, err := n.Open(ctx, uint32(os.Getpid()), name)
	if err != nil {
		t.Fatal(err)
	}
	ch, err = rsm.JoinGroup(ctx, s, group)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	return ch, s.Close
}

// runReplica runs a kv replica over ch until the test ends or stop; closeCh closes ch.
func runReplica(t testing.TB, id wire.NodeID, ch rsm.Channel, closeCh func() error, tweak func(*rsm.Config)) *treplica {
	t.Helper()
	cfg := rsm.Config{Replicas: 3, Logger: testLogger(t)}
	if tweak != nil {
		tweak(&cfg)
	}
	sm := newKV()
	r, err := rsm.New(cfg, sm, ch)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	tr := &treplica{node: id, r: r, sm: sm, closeCh: closeCh, cancel: stop, done: make(chan struct{})}
	go func() {
		tr.err = r.Run(runCtx)
		close(tr.done)
	}()
	t.Cleanup(tr.stop)
	return tr
}

// stop stops the replica and leaves the group.
func (tr *treplica) stop() {
	tr.stopOnce.Do(func() {
		tr.cancel()
		<-tr.done
		tr.closeCh()
	})
}

func (c *cluster) startReplicas(tweak func(*rsm.Config)) []*treplica {
	var reps []*treplica
	for _, id := range c.ids() {
		reps = append(reps, c.startReplica(id, tweak))
	}
	return reps
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitReady waits until every replica serves in one view of all of them.
func waitReady(t testing.TB, ctx context.Context, reps ...*treplica) {
	t.Helper()
	waitFor(t, ctx, "replicas ready", func() bool {
		for _, tr := range reps {
			st := tr.r.Status()
			if !st.Ready || len(st.Members) != len(reps) || st.Epoch != reps[0].r.Status().Epoch {
				return false
			}
		}
		return true
	})
}

// waitEqual waits until every replica has applied the same commands.
func waitEqual(t testing.TB, ctx context.Context, reps ...*treplica) {
	t.Helper()
	waitFor(t, ctx, "replicas equal", func() bool {
		s0 := reps[0].r.Status()
		for _, tr := range reps[1:] {
			st := tr.r.Status()
			if st.Applied != s0.Applied || st.Digest != s0.Digest {
				return false
			}
		}
		return true
	})
	for _, tr := range reps[1:] {
		if a, b := reps[0].sm.copy(), tr.sm.copy(); !mapsEqual(a, b) {
			t.Fatalf("replica %d and %d hold the same digest but different states", reps[0].node, tr.node)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// retry calls f until it succeeds or fails with something other than a transient
// error of the replicas.
func retry(ctx context.Context, f func() ([]byte, error)) ([]byte, error) {
	for {
		res, err := f()
		if err == nil || !(errors.Is(err, rsm.ErrNotReady) || errors.Is(err, rsm.ErrNoQuorum)) || ctx.Err() != nil {
			return res, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func nodeID(i int) wire.NodeID { return wire.NodeID(i) }
