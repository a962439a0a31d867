package multicast

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

// exchange has every node multicast one datagram and unicast one to every other node, and
// checks that each node gets exactly the others' datagrams, once, and nothing of its own.
func exchange(t *testing.T, nodes []*UDP, cluster uint32) {
	t.Helper()
	for _, u := range nodes {
		id := u.cfg.NodeID
		if err := u.Multicast(datagram(cluster, id, wire.KindMcast, fmt.Sprintf("m%d", id))); err != nil {
			t.Fatalf("node %d: Multicast: %v", id, err)
		}
	}
	expectEach(t, nodes, func(from, _ wire.NodeID) string { return fmt.Sprintf("m%d", from) })
	for _, u := range nodes {
		for _, v := range nodes {
			if u == v {
				continue
			}
			b := datagram(cluster, u.cfg.NodeID, wire.KindToken, fmt.Sprintf("u%d-%d", u.cfg.NodeID, v.cfg.NodeID))
			if err := u.Unicast(v.cfg.NodeID, b); err != nil {
				t.Fatalf("node %d: Unicast to %d: %v", u.cfg.NodeID, v.cfg.NodeID, err)
			}
		}
	}
	expectEach(t, nodes, func(from, to wire.NodeID) string { return fmt.Sprintf("u%d-%d", from, to) })
	for _, u := range nodes {
		expectQuiet(t, u)
	}
}

// expectEach checks that every node received name(from, itself) from every other node.
func expectEach(t *testing.T, nodes []*UDP, name func(from, to wire.NodeID) string) {
	t.Helper()
	for _, v := range nodes {
		var want []string
		for _, u := range nodes {
			if u != v {
				want = append(want, name(u.cfg.NodeID, v.cfg.NodeID))
			}
		}
		got := receive(t, v, len(want))
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("node %d received %q, want %q", v.cfg.NodeID, got, want)
		}
	}
}

func TestUDPMulticastExchange(t *testing.T) {
	cluster := testCluster(t)
	nodes := mcastNodes(t, 3, cluster, nil)
	if err := nodes[0].Unicast(2, datagram(cluster, 1, wire.KindToken, "early")); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("Unicast before learning: %v, want ErrUnknownNode", err)
	}
	exchange(t, nodes, cluster)
	for _, u := range nodes {
		eventually(t, fmt.Sprintf("node %d dropping its own echo", u.cfg.NodeID),
			func() bool { return u.Stats().DropSelf == 1 })
		st := u.Stats()
		if st.Sent != 3 || st.Received != 4 || st.SendErrors != 0 || st.DropOpen != 0 {
			t.Errorf("node %d stats %+v, want Sent 3, Received 4, no errors", u.cfg.NodeID, st)
		}
		if p, ok := nodes[0].lookup(u.cfg.NodeID); u != nodes[0] && (!ok || p.ap != u.LocalAddr()) {
			t.Errorf("node 1 learned %v for node %d, want %v", p.ap, u.cfg.NodeID, u.LocalAddr())
		}
	}
}

func TestUDPMulticastModeStaticPeers(t *testing.T) {
	requireLoopbackMulticast(t)
	cluster, group := testCluster(t), testGroup(t)
	b := newTestUDP(t, UDPConfig{NodeID: 2, Cluster: cluster, Listen: netip.AddrPortFrom(loopback4, 0),
		Mcast: group, Interface: "lo"})
	a := newTestUDP(t, UDPConfig{NodeID: 1, Cluster: cluster, Listen: netip.AddrPortFrom(loopback4, 0),
		Mcast: group, Interface: "lo", Peers: map[wire.NodeID]netip.AddrPort{2: b.LocalAddr()}})
	if err := a.Unicast(2, datagram(cluster, 1, wire.KindToken, "static")); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, b, 1); got[0] != "static" {
		t.Fatalf("got %q", got)
	}
}

func TestUDPUnicastModeExchange(t *testing.T) {
	cluster := testCluster(t)
	nodes := udpuNodes(t, 3, loopback4, cluster, nil)
	exchange(t, nodes, cluster)
	for _, u := range nodes {
		st := u.Stats()
		if st.Sent != 4 || st.Received != 4 || st.DropSelf != 0 || st.DropUnknown != 0 {
			t.Errorf("node %d stats %+v, want Sent 4 (2 per multicast), Received 4, no drops", u.cfg.NodeID, st)
		}
	}
}

func TestUDPUnicastModeIPv6(t *testing.T) {
	cluster := testCluster(t)
	nodes := udpuNodes(t, 2, netip.IPv6Loopback(), cluster, nil)
	if u := nodes[0]; u.MaxPayload() != DefaultMTU-ipv6HeaderLen-udpHeaderLen-checksumOverhd {
		t.Errorf("IPv6 MaxPayload %d", u.MaxPayload())
	}
	exchange(t, nodes, cluster)
}

// TestUDPDropsForeign sends datagrams a keyed node must refuse from a listed peer's socket,
// then a good one: the good one is the only one delivered (one source over loopback keeps
// order), so none of the refused ones was delivered either.
func TestUDPDropsForeign(t *testing.T) {
	cluster := testCluster(t)
	key := GenerateKey()
	sealer, _ := NewSealer(key)
	twin, _ := NewSealer(key) // another daemon with the same key
	other, _ := NewSealer(GenerateKey())
	plain, _ := NewSealer(nil)
	raw := rawConn(t)
	peers := map[wire.NodeID]netip.AddrPort{
		1: netip.AddrPortFrom(loopback4, freePort(t)),
		7: unmapAddrPort(raw.LocalAddr().(*net.UDPAddr).AddrPort()),
	}
	var logged lines
	u := newTestUDP(t, UDPConfig{NodeID: 1, Cluster: cluster, Listen: peers[1], Peers: peers, Sealer: sealer,
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	good := datagram(cluster, 7, wire.KindToken, "good")
	dropOpen := func(s Stats) uint64 { return s.DropOpen }
	cases := []struct {
		name  string
		bytes []byte
		count func(Stats) uint64
	}{
		{"other key", other.Seal(nil, good), dropOpen},
		{"checksum only", plain.Seal(nil, good), dropOpen},
		{"tampered", flipLast(sealer.Seal(nil, good)), dropOpen},
		{"garbage", []byte("\x02not a sealed datagram at all, but long enough for the aead......"), dropOpen},
		{"empty", []byte{}, dropOpen},
		{"other cluster", sealer.Seal(nil, datagram(cluster+1, 7, wire.KindToken, "x")), func(s Stats) uint64 { return s.DropHeader }},
		{"not totem", sealer.Seal(nil, []byte("hello")), func(s Stats) uint64 { return s.DropHeader }},
		{"our own id from another daemon", twin.Seal(nil, datagram(cluster, 1, wire.KindToken, "x")), func(s Stats) uint64 { return s.DropSelf }},
		{"a copy of our own datagram", u.cfg.Sealer.Seal(nil, datagram(cluster, 1, wire.KindToken, "x")), func(s Stats) uint64 { return s.DropReplay }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := c.count(u.Stats())
			rawWrite(t, raw, u.LocalAddr(), c.bytes)
			eventually(t, c.name+" counted", func() bool { return c.count(u.Stats()) == before+1 })
		})
	}
	sealed := twin.Seal(nil, good)
	rawWrite(t, raw, u.LocalAddr(), sealed)
	if got := receive(t, u, 1); got[0] != "good" {
		t.Fatalf("got %q, want only the good datagram", got)
	}
	rawWrite(t, raw, u.LocalAddr(), sealed) // the same datagram again: a replay
	eventually(t, "the replay counted", func() bool { return u.Stats().DropReplay == 2 })
	expectQuiet(t, u)
	if st := u.Stats(); st.Received != 1 || st.DropUnknown != 0 {
		t.Errorf("stats %+v", st)
	}
	// The operator hears of each kind of stranger, with the address, the first time.
	for _, want := range []string{"failed authentication", "another cluster", "replayed datagrams"} {
		if !logged.has(want, "from=127.0.0.1×1") {
			t.Errorf("no warning %q naming the sender in %q", want, logged.String())
		}
	}
}

// lines is an io.Writer for a logger that readers write from concurrently.
type lines struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// has reports whether one line contains every part.
func (l *lines) has(parts ...string) bool {
	for _, line := range strings.Split(l.String(), "\n") {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			return true
		}
	}
	return false
}

func flipLast(b []byte) []byte {
	b[len(b)-1] ^= 1
	return b
}

func TestUDPDropsUnlistedSource(t *testing.T) {
	cluster := testCluster(t)
	nodes := udpuNodes(t, 2, loopback4, cluster, nil)
	u := nodes[0]
	sealer, _ := NewSealer(nil)
	raw := rawConn(t)
	rawWrite(t, raw, u.LocalAddr(), sealer.Seal(nil, datagram(cluster, 2, wire.KindToken, "spoof")))
	rawWrite(t, raw, u.LocalAddr(), []byte("junk"))
	eventually(t, "DropUnknown", func() bool { return u.Stats().DropUnknown == 2 })
	if st := u.Stats(); st.DropOpen != 0 || st.Received != 0 {
		t.Errorf("stats %+v: unlisted datagrams must be dropped before opening", st)
	}
	expectQuiet(t, u)
}

func TestUDPSendErrors(t *testing.T) {
	cluster := testCluster(t)
	nodes := udpuNodes(t, 2, loopback4, cluster, nil)
	u := nodes[0]
	full := datagram(cluster, 1, wire.KindMcast, string(make([]byte, u.MaxPayload()-wire.HeaderLen)))
	big := append(slices.Clone(full), 0)
	if err := u.Multicast(full); err != nil {
		t.Fatalf("Multicast of MaxPayload bytes: %v", err)
	}
	if got := receive(t, nodes[1], 1); len(got[0]) != len(full)-wire.HeaderLen {
		t.Fatalf("received %d body bytes", len(got[0]))
	}
	for name, err := range map[string]error{
		"Multicast":      u.Multicast(big),
		"Unicast":        u.Unicast(2, big),
		"MulticastBatch": u.MulticastBatch([][]byte{full, big}),
		"UnicastBatch":   u.UnicastBatch(2, [][]byte{full, big}),
	} {
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s of %d bytes: %v, want ErrTooLarge", name, len(big), err)
		}
	}
	if err := u.Unicast(9, full); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Unicast to unknown node: %v", err)
	}
	if err := u.UnicastBatch(9, [][]byte{full}); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("UnicastBatch to unknown node: %v", err)
	}
	expectQuiet(t, nodes[1]) // nothing of a refused batch went out
}

func TestUDPClose(t *testing.T) {
	cluster := testCluster(t)
	nodes := udpuNodes(t, 2, loopback4, cluster, nil)
	u := nodes[0]
	b := datagram(cluster, 1, wire.KindMcast, "x")
	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := u.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, ok := <-u.Packets(); ok {
		t.Fatal("Packets still open after Close")
	}
	for name, err := range map[string]error{
		"Multicast":      u.Multicast(b),
		"Unicast":        u.Unicast(2, b),
		"Unicast self":   u.Unicast(1, b),
		"MulticastBatch": u.MulticastBatch([][]byte{b}),
		"UnicastBatch":   u.UnicastBatch(2, [][]byte{b}),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// TestUDPCloseWhileSending races sends (network and to self) against Close: every send
// either succeeds or reports ErrClosed, and nothing panics.
func TestUDPCloseWhileSending(t *testing.T) {
	cluster := testCluster(t)
	nodes := udpuNodes(t, 2, loopback4, cluster, nil)
	u := nodes[0]
	b := datagram(cluster, 1, wire.KindMcast, "x")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for to := range wire.NodeID(2) {
		wg.Go(func() {
			for range 2000 {
				if err := u.Unicast(to+1, b); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 2000 {
			if err := u.MulticastBatch([][]byte{b, b}); err != nil {
				errs <- err
				return
			}
		}
	})
	u.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("send racing Close: %v", err)
		}
	}
}

func TestUDPBatch(t *testing.T) {
	const n = 40
	batch := func(cluster uint32, from wire.NodeID, prefix string) ([][]byte, []string) {
		var bufs [][]byte
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("%s%02d", prefix, i))
			bufs = append(bufs, datagram(cluster, from, wire.KindMcast, want[i]))
		}
		return bufs, want
	}
	check := func(t *testing.T, u *UDP, want []string) {
		t.Helper()
		if got := receive(t, u, len(want)); !slices.Equal(got, want) {
			t.Fatalf("node %d received %q, want %q in order", u.cfg.NodeID, got, want)
		}
	}
	for _, mode := range []string{"multicast", "udpu"} {
		t.Run(mode, func(t *testing.T) {
			cluster := testCluster(t)
			var nodes []*UDP
			if mode == "udpu" {
				nodes = udpuNodes(t, 3, loopback4, cluster, nil)
			} else {
				nodes = mcastNodes(t, 3, cluster, nil)
			}
			bufs, want := batch(cluster, 1, "m")
			if err := nodes[0].MulticastBatch(bufs); err != nil {
				t.Fatal(err)
			}
			check(t, nodes[1], want)
			check(t, nodes[2], want)
			bufs, want = batch(cluster, 2, "u") // node 2 knows node 1 from its multicasts
			if err := nodes[1].UnicastBatch(1, bufs); err != nil {
				t.Fatal(err)
			}
			check(t, nodes[0], want)
			for _, u := range nodes {
				expectQuiet(t, u)
			}
			if err := nodes[0].MulticastBatch(nil); err != nil {
				t.Errorf("empty batch: %v", err)
			}
		})
	}
}

func TestUDPUnicastToSelf(t *testing.T) {
	cluster := testCluster(t)
	u := udpuNodes(t, 1, loopback4, cluster, nil)[0]
	b := datagram(cluster, 1, wire.KindToken, "self")
	if err := u.Unicast(1, b); err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] = 'X' // the transport must have copied it
	if got := receive(t, u, 1); got[0] != "self" {
		t.Fatalf("got %q", got)
	}
	if st := u.Stats(); st.Received != 1 || st.Sent != 0 {
		t.Errorf("stats %+v, want Received 1 and nothing on the network", st)
	}
	if err := u.Multicast(b); err != nil { // a one-node udpu ring multicasts to nobody
		t.Fatal(err)
	}
	expectQuiet(t, u)
}

func TestUDPQueueOverflow(t *testing.T) {
	cluster := testCluster(t)
	peers := map[wire.NodeID]netip.AddrPort{
		1: netip.AddrPortFrom(loopback4, freePort(t)),
		2: netip.AddrPortFrom(loopback4, freePort(t)),
	}
	a := newTestUDP(t, UDPConfig{NodeID: 1, Cluster: cluster, Listen: peers[1], Peers: peers})
	b := newTestUDP(t, UDPConfig{NodeID: 2, Cluster: cluster, Listen: peers[2], Peers: peers, QueueLen: 2})
	const n = 20
	for i := range n {
		if err := a.Unicast(2, datagram(cluster, 1, wire.KindMcast, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "all datagrams accounted for", func() bool {
		st := b.Stats()
		return st.Received+st.DropOverflow == n
	})
	if st := b.Stats(); st.Received != 2 || st.DropOverflow != n-2 {
		t.Errorf("stats %+v, want 2 queued and %d dropped", st, n-2)
	}
}

func TestUDPConfigErrors(t *testing.T) {
	listen := netip.AddrPortFrom(loopback4, 0)
	peer := map[wire.NodeID]netip.AddrPort{2: netip.MustParseAddrPort("127.0.0.1:5405")}
	group := netip.MustParseAddrPort("239.255.1.1:5405")
	cases := map[string]UDPConfig{
		"node id 0":        {Listen: listen, Peers: peer},
		"no listen":        {NodeID: 1, Peers: peer},
		"udpu no peers":    {NodeID: 1, Listen: listen},
		"unicast group":    {NodeID: 1, Listen: listen, Mcast: netip.MustParseAddrPort("127.0.0.1:5405")},
		"group port 0":     {NodeID: 1, Listen: listen, Mcast: netip.MustParseAddrPort("239.255.1.1:0")},
		"peer id 0":        {NodeID: 1, Listen: listen, Peers: map[wire.NodeID]netip.AddrPort{0: peer[2]}},
		"peer port 0":      {NodeID: 1, Listen: listen, Peers: map[wire.NodeID]netip.AddrPort{2: netip.MustParseAddrPort("127.0.0.1:0")}},
		"peer family":      {NodeID: 1, Listen: listen, Peers: map[wire.NodeID]netip.AddrPort{2: netip.MustParseAddrPort("[::1]:5405")}},
		"v6 listen v4 grp": {NodeID: 1, Listen: netip.MustParseAddrPort("[::1]:0"), Mcast: group},
		"MTU too small":    {NodeID: 1, Listen: listen, Peers: peer, MTU: 500},
		"MTU too large":    {NodeID: 1, Listen: listen, Peers: peer, MTU: 70000},
		"TTL":              {NodeID: 1, Listen: listen, Peers: peer, TTL: 256},
		"no interface":     {NodeID: 1, Listen: listen, Mcast: group, Interface: "no-such-if0"},
		"foreign listen":   {NodeID: 1, Listen: netip.MustParseAddrPort("192.0.2.1:0"), Peers: map[wire.NodeID]netip.AddrPort{2: netip.MustParseAddrPort("192.0.2.2:5405")}},
	}
	for name, cfg := range cases {
		if u, err := NewUDP(cfg); err == nil {
			u.Close()
			t.Errorf("%s: NewUDP succeeded", name)
		}
	}
	if _, err := NewUDP(UDPConfig{NodeID: 1, Listen: listen, Mcast: netip.MustParseAddrPort("[ff15::1]:5405")}); err == nil || !strings.Contains(err.Error(), "one IP family") {
		t.Errorf("an IPv6 group with an IPv4 listen address: %v, want a refusal naming the families", err)
	}
}

// IPv6 multicast itself runs in demo/netlab (TestIPv6): Linux's loopback interface has
// no IPv6 multicast route and does not loop IPv6 multicast back, so on 127.0.0.1's
// counterpart there is nothing to test.

func TestUDPMaxPayload(t *testing.T) {
	aead, _ := NewSealer(GenerateKey())
	cases := []struct {
		mtu    int
		v4     bool
		sealer Sealer
		want   int
	}{
		{1500, true, nil, 1500 - 20 - 8 - 5},
		{1500, true, aead, 1500 - 20 - 8 - 45},
		{1500, false, aead, 1500 - 40 - 8 - 45},
		{9000, true, aead, 9000 - 20 - 8 - 45},
		{65535, true, nil, wire.MaxDatagram - 5},
		{65535, false, nil, 65535 - 40 - 8 - 5},
	}
	plain, _ := NewSealer(nil)
	for _, c := range cases {
		s := c.sealer
		if s == nil {
			s = plain
		}
		if got := maxPayload(c.mtu, c.v4, s.Overhead()); got != c.want {
			t.Errorf("maxPayload(%d, v4 %v, overhead %d) = %d, want %d", c.mtu, c.v4, s.Overhead(), got, c.want)
		}
	}
	u := udpuNodes(t, 1, loopback4, testCluster(t), aead)[0]
	if u.MaxPayload() != 1427 {
		t.Errorf("default MaxPayload with a key: %d, want 1427", u.MaxPayload())
	}
}

// The unicast port may be the group's port, as corosync deployments and the benchmark
// harness have it: the group socket binds the group address, not the whole port.
func TestUDPMulticastSamePortAsUnicast(t *testing.T) {
	requireLoopbackMulticast(t)
	cluster, group := testCluster(t), testGroup(t)
	var nodes []*UDP
	for i, last := range []byte{2, 3} { // two addresses of 127/8, both on lo
		listen := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, last}), group.Port())
		u, err := NewUDP(UDPConfig{NodeID: wire.NodeID(i + 1), Cluster: cluster, Listen: listen,
			Mcast: group, Interface: "lo", TTL: 1})
		if err != nil {
			t.Fatalf("node %d on %v with group %v: %v", i+1, listen, group, err)
		}
		t.Cleanup(func() { u.Close() })
		nodes = append(nodes, u)
	}
	exchange(t, nodes, cluster)
}

// TestUDPReportsTwoLiveNodesWithOneID: two daemons that share node id 7 (and the key)
// both keep sending. The receiver keeps the one that started later, drops the other's
// datagrams as from a duplicate id, and says so with both addresses.
func TestUDPReportsTwoLiveNodesWithOneID(t *testing.T) {
	cluster := testCluster(t)
	key := GenerateKey()
	first, _ := NewSealer(key)
	second, _ := NewSealer(key) // a later epoch
	mine, _ := NewSealer(key)
	rawFirst, rawSecond := rawConn(t), rawConn(t)
	var logged lines
	peers := map[wire.NodeID]netip.AddrPort{ // udpu: both sources must be listed to be heard
		1: netip.AddrPortFrom(loopback4, freePort(t)),
		7: unmapAddrPort(rawFirst.LocalAddr().(*net.UDPAddr).AddrPort()),
		8: unmapAddrPort(rawSecond.LocalAddr().(*net.UDPAddr).AddrPort()),
	}
	u := newTestUDP(t, UDPConfig{NodeID: 1, Cluster: cluster, Listen: peers[1], Peers: peers,
		Sealer: mine, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	send := func(c *net.UDPConn, s Sealer, what string) {
		rawWrite(t, c, u.LocalAddr(), s.Seal(nil, datagram(cluster, 7, wire.KindMcast, what)))
	}
	send(rawFirst, first, "a1")
	send(rawSecond, second, "b1")
	if got := receive(t, u, 2); got[0] != "a1" || got[1] != "b1" {
		t.Fatalf("got %q", got)
	}
	send(rawFirst, first, "a2") // the first daemon is still there
	eventually(t, "the duplicate id counted", func() bool { return u.Stats().DropDupID == 1 })
	send(rawSecond, second, "b2")
	if got := receive(t, u, 1); got[0] != "b2" {
		t.Fatalf("got %q, want the later daemon's datagram", got)
	}
	secondAddr := rawSecond.LocalAddr().String()
	if !logged.has("two nodes send with one node id", "node=7", "accepted_from="+secondAddr, "dropped_from="+rawFirst.LocalAddr().String()) {
		t.Errorf("no error naming both addresses in %q", logged.String())
	}
}
