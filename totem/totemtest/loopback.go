package totemtest

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem"
)

// LoopbackNodeConfig is a node configuration for tests of real nodes on loopback:
// Corosync's timers scaled down so that failures are detected in a fraction of a second.
func LoopbackNodeConfig(id wire.NodeID, cluster string) totem.Config {
	c := totem.DefaultConfig(id)
	c.ClusterName = cluster
	c.Membership.Ring.TokenRetransmit = 50 * time.Millisecond
	c.Membership.Ring.TokenTimeout = 250 * time.Millisecond
	c.Membership.Ring.Hold = 20 * time.Millisecond
	c.Membership.Join = 10 * time.Millisecond
	c.Membership.Consensus = 300 * time.Millisecond
	c.Membership.Merge = 100 * time.Millisecond
	return c
}

// FreeUDPPort asks the OS for a currently unused UDP port on 127.0.0.1.
func FreeUDPPort(t testing.TB) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// LoopbackGroup picks an administratively scoped multicast group (239.255/16) and a free
// port at random, so that concurrent test runs on one host do not hear each other. Tests
// pin the outgoing interface to "lo" with TTL 1.
func LoopbackGroup(t testing.TB) netip.AddrPort {
	g := netip.AddrFrom4([4]byte{239, 255, byte(1 + rand.IntN(254)), byte(1 + rand.IntN(254))})
	return netip.AddrPortFrom(g, FreeUDPPort(t))
}
