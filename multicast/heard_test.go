package multicast

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// A udpu node knows when it last heard each peer and from where; a peer never heard is
// not listed, and neither is the node itself.
func TestUDPHeardUnicast(t *testing.T) {
	cluster := testCluster(t)
	nodes := udpuNodes(t, 3, loopback4, cluster, nil)
	if got := nodes[1].Heard(); len(got) != 0 {
		t.Fatalf("heard before any datagram: %+v", got)
	}
	before := time.Now()
	if err := nodes[0].Unicast(2, datagram(cluster, 1, wire.KindToken, "hello")); err != nil {
		t.Fatal(err)
	}
	receive(t, nodes[1], 1)
	after := time.Now()
	got := nodes[1].Heard()
	if len(got) != 1 || got[0].Node != 1 || got[0].Addr != nodes[0].LocalAddr() {
		t.Fatalf("heard %+v, want node 1 at %v only", got, nodes[0].LocalAddr())
	}
	if at := got[0].LastHeard; at.Before(before) || at.After(after) {
		t.Errorf("last heard %v, not between the send (%v) and the receipt (%v)", at, before, after)
	}
	if got := nodes[2].Heard(); len(got) != 0 {
		t.Errorf("node 3 heard %+v, sent nothing to it", got)
	}
	if d := nodes[0].Describe(); d != "udpu" {
		t.Errorf("Describe %q, want udpu", d)
	}
}

// Multicast mode records the nodes it learns, with the group in its description.
func TestUDPHeardMulticast(t *testing.T) {
	cluster := testCluster(t)
	nodes := mcastNodes(t, 2, cluster, nil)
	if err := nodes[0].Multicast(datagram(cluster, 1, wire.KindMcast, "m")); err != nil {
		t.Fatal(err)
	}
	receive(t, nodes[1], 1)
	if got := nodes[1].Heard(); len(got) != 1 || got[0].Node != 1 || got[0].Addr != nodes[0].LocalAddr() {
		t.Errorf("heard %+v, want node 1 at %v", got, nodes[0].LocalAddr())
	}
	if got := nodes[0].Heard(); len(got) != 0 {
		t.Errorf("the sender heard %+v: its own echo is not a peer", got)
	}
	if d, want := nodes[0].Describe(), "multicast "+nodes[0].cfg.Mcast.String(); d != want {
		t.Errorf("Describe %q, want %q", d, want)
	}
}

// Only datagrams the transport accepts count: one that fails authentication, or is a
// replay, does not make its claimed sender heard.
func TestUDPHeardOnlyAccepted(t *testing.T) {
	cluster := testCluster(t)
	key := GenerateKey()
	sealer, _ := NewSealer(key)
	peerSealer, _ := NewSealer(key)
	other, _ := NewSealer(GenerateKey())
	raw := rawConn(t)
	peers := map[wire.NodeID]netip.AddrPort{
		1: netip.AddrPortFrom(loopback4, freePort(t)),
		7: unmapAddrPort(raw.LocalAddr().(*net.UDPAddr).AddrPort()),
	}
	u := newTestUDP(t, UDPConfig{NodeID: 1, Cluster: cluster, Listen: peers[1], Peers: peers, Sealer: sealer})
	rawWrite(t, raw, u.LocalAddr(), other.Seal(nil, datagram(cluster, 7, wire.KindToken, "forged")))
	eventually(t, "the forgery counted", func() bool { return u.Stats().DropOpen == 1 })
	if got := u.Heard(); len(got) != 0 {
		t.Fatalf("heard %+v after a datagram of another key", got)
	}
	good := peerSealer.Seal(nil, datagram(cluster, 7, wire.KindToken, "good"))
	rawWrite(t, raw, u.LocalAddr(), good)
	receive(t, u, 1)
	first := u.Heard()
	if len(first) != 1 || first[0].Node != 7 {
		t.Fatalf("heard %+v, want node 7", first)
	}
	rawWrite(t, raw, u.LocalAddr(), good) // a replay
	eventually(t, "the replay counted", func() bool { return u.Stats().DropReplay == 1 })
	if got := u.Heard(); len(got) != 1 || !got[0].LastHeard.Equal(first[0].LastHeard) {
		t.Errorf("heard %+v after a replay, want %+v unchanged", got, first)
	}
}

// The table is bounded, and recording a known node allocates nothing.
func TestHeardTable(t *testing.T) {
	h := newHeardTable([]wire.NodeID{2, 3})
	a := netip.MustParseAddrPort("127.0.0.1:5405")
	if got := h.snapshot(); len(got) != 0 {
		t.Fatalf("fresh table lists %+v", got)
	}
	for id := range wire.NodeID(maxHeard + 10) {
		h.record(id+1, a, h.clock())
	}
	if got := h.snapshot(); len(got) != maxHeard {
		t.Errorf("%d nodes listed, want the bound %d", len(got), maxHeard)
	}
	now := h.clock()
	if allocs := testing.AllocsPerRun(100, func() { h.record(2, a, now) }); allocs != 0 {
		t.Errorf("record of a known node: %v allocations, want 0", allocs)
	}
	b := netip.MustParseAddrPort("127.0.0.1:5406")
	h.record(3, b, now)
	for _, p := range h.snapshot() {
		if p.Node == 3 && p.Addr != b {
			t.Errorf("node 3 at %v after it moved to %v", p.Addr, b)
		}
	}
}

// BenchmarkHeardRecord is what the receive path pays per datagram for last-heard.
func BenchmarkHeardRecord(b *testing.B) {
	h := newHeardTable([]wire.NodeID{1, 2, 3})
	a := netip.MustParseAddrPort("127.0.0.1:5405")
	now := h.clock()
	b.ReportAllocs()
	for b.Loop() {
		h.record(2, a, now)
	}
}
