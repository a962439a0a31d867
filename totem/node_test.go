package totem_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/totem-gcs/totem/multicast"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/client"
	"github.com/totem-gcs/totem/totem/totemtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testTimeout = 20 * time.Second

type testNode struct {
	n      *totem.Node
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned and the transport is closed
	err    error
}

// startCluster runs n nodes over real UDP multicast on loopback (TTL 1, interface lo).
func startCluster(t *testing.T, n int, tweak func(*totem.Config)) []*testNode {
	t.Helper()
	cluster := fmt.Sprintf("%s-%x", t.Name(), rand.Uint64())
	group := totemtest.LoopbackGroup(t)
	var nodes []*testNode
	for i := 1; i <= n; i++ {
		id := wire.NodeID(i)
		tr, err := multicast.NewUDP(multicast.UDPConfig{
			NodeID:    id,
			Cluster:   wire.ClusterHash(cluster),
			Listen:    netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0),
			Mcast:     group,
			Interface: "lo",
			TTL:       1,
		})
		if err != nil {
			t.Fatalf("transport %d: %v", i, err)
		}
		cfg := totemtest.LoopbackNodeConfig(id, cluster)
		cfg.StateDir = t.TempDir()
		if tweak != nil {
			tweak(&cfg)
		}
		node, err := totem.New(cfg, tr)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		tn := &testNode{n: node, cancel: cancel, done: make(chan struct{})}
		go func() {
			tn.err = node.Run(ctx)
			tr.Close()
			close(tn.done)
		}()
		nodes = append(nodes, tn)
	}
	t.Cleanup(func() {
		for _, tn := range nodes {
			tn.stop(t)
		}
	})
	return nodes
}

func (tn *testNode) stop(t *testing.T) {
	tn.cancel()
	select {
	case <-tn.done:
	case <-time.After(testTimeout):
		t.Error("node did not stop")
	}
}

// waitRing waits until the nodes are operational on one ring of exactly them.
func waitRing(t *testing.T, ctx context.Context, tns []*testNode) {
	t.Helper()
	nodes := make([]*totem.Node, len(tns))
	for i, tn := range tns {
		nodes[i] = tn.n
	}
	totemtest.WaitRing(t, ctx, nodes...)
}

// nextView waits for a view of group on s with want members.
func nextView(t *testing.T, ctx context.Context, s *totem.Session, group string, want int) client.View {
	t.Helper()
	for {
		ev, err := s.Receive(ctx)
		if err != nil {
			t.Fatalf("no view of %d members in %q: %v", want, group, err)
		}
		if v, ok := ev.(client.View); ok && v.Group == group && len(v.Members) == want {
			return v
		}
	}
}

// level is a service level: safe or agreed.
func level(safe bool) client.Level {
	if safe {
		return client.Safe
	}
	return client.Agreed
}

func TestThreeNodesDeliverOneOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	nodes := startCluster(t, 3, nil)
	waitRing(t, ctx, nodes)

	var sessions []*totem.Session
	for i, tn := range nodes {
		s, err := tn.n.Open(ctx, uint32(1000+i), fmt.Sprintf("client-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Join(ctx, "g"); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	for _, s := range sessions {
		nextView(t, ctx, s, "g", 3)
	}
	const perNode = 200
	for i, s := range sessions {
		go func() {
			for k := range perNode {
				if err := s.Multicast(ctx, "g", []byte(fmt.Sprintf("%d/%d", i, k)), level(k%5 == 0)); err != nil {
					return
				}
			}
		}()
	}
	var orders [][]string
	for _, s := range sessions {
		var got []string
		for len(got) < 3*perNode {
			ev, err := s.Receive(ctx)
			if err != nil {
				t.Fatalf("received %d of %d messages: %v", len(got), 3*perNode, err)
			}
			if m, ok := ev.(client.Message); ok {
				got = append(got, string(m.Data))
			}
		}
		orders = append(orders, got)
	}
	for i := 1; i < len(orders); i++ {
		if !slices.Equal(orders[0], orders[i]) {
			t.Fatalf("session %d delivered a different order than session 0", i)
		}
	}
	// Each sender's messages in the order it sent them.
	next := map[string]int{}
	for _, m := range orders[0] {
		var from, k int
		fmt.Sscanf(m, "%d/%d", &from, &k)
		key := fmt.Sprint(from)
		if k != next[key] {
			t.Fatalf("sender %d: got message %d, want %d", from, k, next[key])
		}
		next[key]++
	}
}

func TestStoppedNodeLeavesGroupsWithReasonNodeDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	nodes := startCluster(t, 3, nil)
	waitRing(t, ctx, nodes)
	var sessions []*totem.Session
	for i, tn := range nodes {
		s, err := tn.n.Open(ctx, uint32(i), "c")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Join(ctx, "g"); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	for _, s := range sessions {
		nextView(t, ctx, s, "g", 3)
	}
	nodes[2].stop(t)
	for _, s := range sessions[:2] {
		v := nextView(t, ctx, s, "g", 2)
		if len(v.Left) != 1 || v.Left[0].Member.Node != 3 || v.Left[0].Reason != client.ReasonNodeDown {
			t.Fatalf("view after node 3 stopped: left %+v, want node 3 with reason node-down", v.Left)
		}
	}
}

func TestSessionErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	nodes := startCluster(t, 1, func(c *totem.Config) { c.MaxMessageSize = 1000 })
	waitRing(t, ctx, nodes)
	s, err := nodes[0].n.Open(ctx, 1, "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Multicast(ctx, "g", []byte("x"), client.Agreed); !errorsIs(err, totem.ErrNotJoined) {
		t.Fatalf("multicast before join: %v, want ErrNotJoined", err)
	}
	if err := s.Join(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := s.Join(ctx, "g"); !errorsIs(err, totem.ErrAlreadyJoined) {
		t.Fatalf("second join: %v, want ErrAlreadyJoined", err)
	}
	if err := s.Multicast(ctx, "g", make([]byte, 1001), client.Agreed); !errorsIs(err, totem.ErrTooLarge) {
		t.Fatalf("oversized: %v, want ErrTooLarge", err)
	}
	if err := s.Join(ctx, ""); !errorsIs(err, totem.ErrBadGroup) {
		t.Fatalf("empty group: %v, want ErrBadGroup", err)
	}
	nodes[0].stop(t)
	if err := s.Multicast(ctx, "g", []byte("x"), client.Agreed); err == nil {
		t.Fatal("multicast on a stopped node succeeded")
	}
}
