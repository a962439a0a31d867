package multicast

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Every wait in these tests is bounded by testTimeout; quietPeriod is how long a node must
// stay silent to show that nothing more (no duplicate, no stray) is coming.
const (
	testTimeout = 5 * time.Second
	quietPeriod = 150 * time.Millisecond
	pollEvery   = 5 * time.Millisecond
)

var loopback4 = netip.MustParseAddr("127.0.0.1")

// testCluster returns a cluster hash unique to this test run, so that a concurrent run of the
// same tests on this host (another engineer, CI) cannot be mistaken for our traffic.
func testCluster(t *testing.T) uint32 {
	return wire.ClusterHash(fmt.Sprintf("%s/%x", t.Name(), rand.Uint64()))
}

// freePort asks the OS for a currently unused loopback UDP port.
func freePort(t testing.TB) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// testGroup picks an administratively scoped group (239.255/16) and port at random.
func testGroup(t *testing.T) netip.AddrPort {
	g := netip.AddrFrom4([4]byte{239, 255, byte(1 + rand.IntN(254)), byte(1 + rand.IntN(254))})
	return netip.AddrPortFrom(g, freePort(t))
}

var (
	mcastProbeOnce sync.Once
	mcastProbeErr  error
)

// requireLoopbackMulticast skips the test when this host cannot loop IPv4 multicast over
// "lo" (checked once, with raw sockets, independently of the transport under test).
func requireLoopbackMulticast(t *testing.T) {
	t.Helper()
	mcastProbeOnce.Do(func() { mcastProbeErr = probeLoopbackMulticast(testGroup(t)) })
	if mcastProbeErr != nil {
		t.Skipf("IPv4 multicast over lo unavailable (try `ip link set lo multicast on`): %v", mcastProbeErr)
	}
}

func probeLoopbackMulticast(group netip.AddrPort) error {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return err
	}
	rc, err := listenShared(group)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := ipv4.NewPacketConn(rc).JoinGroup(lo, net.UDPAddrFromAddrPort(group)); err != nil {
		return err
	}
	sc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer sc.Close()
	p := ipv4.NewPacketConn(sc)
	if err := p.SetMulticastInterface(lo); err != nil {
		return err
	}
	if err := p.SetMulticastTTL(1); err != nil {
		return err
	}
	if _, err := sc.WriteToUDPAddrPort([]byte("probe"), group); err != nil {
		return err
	}
	rc.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _, err = rc.ReadFromUDPAddrPort(make([]byte, 64))
	return err
}

// newTestUDP opens a transport that is closed when the test ends.
func newTestUDP(t *testing.T, cfg UDPConfig) *UDP {
	t.Helper()
	u, err := NewUDP(cfg)
	if err != nil {
		t.Fatalf("NewUDP(node %d): %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// mcastNodes opens n multicast-mode nodes (ids 1..n) on 127.0.0.1 sharing a random group,
// multicasting over lo with TTL 1, without static peers.
func mcastNodes(t *testing.T, n int, cluster uint32, sealer Sealer) []*UDP {
	t.Helper()
	requireLoopbackMulticast(t)
	group := testGroup(t)
	nodes := make([]*UDP, n)
	for i := range nodes {
		nodes[i] = newTestUDP(t, UDPConfig{
			NodeID:    wire.NodeID(i + 1),
			Cluster:   cluster,
			Listen:    netip.AddrPortFrom(loopback4, 0),
			Mcast:     group,
			Interface: "lo",
			TTL:       1,
			Sealer:    sealer,
		})
	}
	return nodes
}

// udpuNodes opens n udpu nodes (ids 1..n) on addr with static peers.
func udpuNodes(t *testing.T, n int, addr netip.Addr, cluster uint32, sealer Sealer) []*UDP {
	t.Helper()
	peers := make(map[wire.NodeID]netip.AddrPort, n)
	for i := range n {
		peers[wire.NodeID(i+1)] = netip.AddrPortFrom(addr, freePortOn(t, addr))
	}
	nodes := make([]*UDP, n)
	for i := range nodes {
		id := wire.NodeID(i + 1)
		nodes[i] = newTestUDP(t, UDPConfig{
			NodeID:  id,
			Cluster: cluster,
			Listen:  peers[id],
			Peers:   peers,
			Sealer:  sealer,
		})
	}
	return nodes
}

func freePortOn(t *testing.T, addr netip.Addr) uint16 {
	t.Helper()
	if addr.Is4() {
		return freePort(t)
	}
	c, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Skipf("no IPv6 on %v: %v", addr, err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// datagram builds a plaintext with a valid wire header and an opaque body. The transport
// only peeks at the header, so the body can be any text the test wants to recognise.
func datagram(cluster uint32, from wire.NodeID, kind wire.Kind, body string) []byte {
	b := binary.BigEndian.AppendUint16(nil, wire.Magic)
	b = append(b, wire.Version, byte(kind))
	b = binary.BigEndian.AppendUint32(b, cluster)
	b = binary.BigEndian.AppendUint32(b, uint32(from))
	return append(b, body...)
}

// body returns the text after the header of a received packet.
func body(p Packet) string { return string(p.Data[wire.HeaderLen:]) }

// receive waits for want packets on u and returns their bodies.
func receive(t *testing.T, u *UDP, want int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var got []string
	for len(got) < want {
		select {
		case p, ok := <-u.Packets():
			if !ok {
				t.Fatalf("node %d: Packets closed after %d of %d packets", u.cfg.NodeID, len(got), want)
			}
			if h, err := wire.PeekHeader(p.Data, u.cfg.Cluster); err != nil || h.Sender != p.From {
				t.Fatalf("node %d: packet %q: header %+v, err %v, From %d", u.cfg.NodeID, p.Data, h, err, p.From)
			}
			got = append(got, body(p))
		case <-ctx.Done():
			t.Fatalf("node %d: timed out with %d of %d packets: %q", u.cfg.NodeID, len(got), want, got)
		}
	}
	return got
}

// expectQuiet fails if u delivers anything within quietPeriod.
func expectQuiet(t *testing.T, u *UDP) {
	t.Helper()
	timer := time.NewTimer(quietPeriod)
	defer timer.Stop()
	select {
	case p := <-u.Packets():
		t.Fatalf("node %d: unexpected packet from %d: %q", u.cfg.NodeID, p.From, p.Data)
	case <-timer.C:
	}
}

// eventually polls cond until it holds, failing after testTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pollEvery)
	}
}

// rawConn opens a plain loopback socket that is not a transport, closed when the test ends.
func rawConn(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func rawWrite(t *testing.T, c *net.UDPConn, to netip.AddrPort, b []byte) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}
