package totem_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/client"
	"github.com/totem-gcs/totem/totem/totemtest"
)

// Transition causes are a fixed set of words: the reasons' node and ring ids are gone,
// so that a metric labelled by cause stays small.
func TestTransitionCause(t *testing.T) {
	for reason, want := range map[string]string{
		"start":                          "start",
		"join from 3":                    "join",
		"join from 12 during recovery":   "join",
		"foreign ring 2.40":              "merge",
		"token lost":                     "token_lost",
		"token lost: none from 2 for 3s": "token_lost",
		"failed to receive":              "failed_to_receive",
		"consensus timeout: no agreement from 2, 3": "consensus",
		"commit token":                      "commit_token",
		"commit token lost":                 "commit_token_lost",
		"commit token lost: not back in 3s": "commit_token_lost",
		"commit token complete":             "commit_token_complete",
		"bad commit token: no members":      "bad_commit_token",
		"installed":                         "installed",
		"leave":                             "leave",
		"something new":                     "other",
		"":                                  "other",
	} {
		if got := totem.TransitionCause(reason); got != want {
			t.Errorf("TransitionCause(%q) = %q, want %q", reason, got, want)
		}
	}
}

// The status counters are the node's since it started: a new ring does not reset them.
func TestStatusCountersSurviveARingChange(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	nodes := startCluster(t, 3, nil)
	waitRing(t, ctx, nodes)
	s, err := nodes[0].n.Open(ctx, 1, "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Join(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	nextView(t, ctx, s, "g", 1)
	if err := s.Multicast(ctx, "g", []byte("safe"), client.Safe); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := s.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ev.(client.Message); ok {
			break
		}
	}
	before := nodes[0].n.Status()
	if before.RingStats.TokensAccepted == 0 || before.RingStats.Originated == 0 || before.DeliveredSafe == 0 || before.Sessions != 1 {
		t.Fatalf("status on a ring with traffic: %+v", before)
	}
	installed := totem.Transition{From: membership.Recovery, To: membership.Operational, Cause: "installed"}
	start := totem.Transition{From: 0, To: membership.Gather, Cause: "start"}
	if before.Transitions[start] != 1 || before.Transitions[installed] == 0 {
		t.Fatalf("transitions %v: want one start and an installation", before.Transitions)
	}

	nodes[2].stop(t)
	waitRing(t, ctx, nodes[:2])
	after := nodes[0].n.Status()
	if after.Ring == before.Ring {
		t.Fatal("no new ring")
	}
	b, a := before.RingStats, after.RingStats
	if a.TokensAccepted < b.TokensAccepted || a.Originated < b.Originated || a.Delivered < b.Delivered ||
		a.Rotations.Count < b.Rotations.Count || after.DeliveredSafe < before.DeliveredSafe {
		t.Fatalf("counters went down across a ring change:\nbefore %+v\nafter  %+v", b, a)
	}
	if after.Transitions[installed] <= before.Transitions[installed] {
		t.Fatalf("transitions %v after a new ring, before %v: want one more installation", after.Transitions, before.Transitions)
	}
}

// Status lists the configured nodes, in the ring or missing, with when each was last
// heard, and says how the node reaches the ring and with which timers.
func TestStatusNodesTransportTimers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	absent := netip.MustParseAddrPort("127.0.0.1:9") // node 3: configured, never started
	nodes := startCluster(t, 2, func(c *totem.Config) {
		c.Nodes = map[wire.NodeID]netip.AddrPort{3: absent}
	})
	waitRing(t, ctx, nodes)
	st := nodes[0].n.Status()
	if len(st.Nodes) != 3 {
		t.Fatalf("nodes %+v, want 1, 2 and 3", st.Nodes)
	}
	self, peer, missing := st.Nodes[0], st.Nodes[1], st.Nodes[2]
	if self.ID != 1 || !self.Self || self.State != totem.NodeMember || !self.LastHeard.IsZero() || !self.Addr.IsValid() {
		t.Errorf("this node: %+v, want a member with its address and no last heard", self)
	}
	if peer.ID != 2 || peer.Self || peer.Configured || peer.State != totem.NodeMember || peer.LastHeard.IsZero() || !peer.Addr.IsValid() {
		t.Errorf("node 2: %+v, want a member heard from its address", peer)
	}
	if missing.ID != 3 || !missing.Configured || missing.State != totem.NodeMissing || missing.Addr != absent || !missing.LastHeard.IsZero() {
		t.Errorf("node 3: %+v, want missing at %v, never heard", missing, absent)
	}
	if !strings.HasPrefix(st.Transport, "multicast ") {
		t.Errorf("transport %q, want multicast GROUP:PORT", st.Transport)
	}
	cfg := totemtest.LoopbackNodeConfig(1, "x").Membership
	want := totem.Timers{
		Token: cfg.Ring.TokenTimeout, TokenRetransmit: cfg.Ring.TokenRetransmit,
		TokenRetransmitMin: cfg.Ring.TokenRetransmitMin, Hold: cfg.Ring.Hold, FailToReceive: cfg.Ring.FailToReceive,
		Consensus: cfg.Consensus, Join: cfg.Join, Merge: cfg.Merge,
	}
	if st.Timers != want || st.Timers.Token == 0 {
		t.Errorf("timers %+v, want %+v", st.Timers, want)
	}
}
