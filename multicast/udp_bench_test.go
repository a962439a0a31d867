package multicast

import (
	"net/netip"
	"testing"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// BenchmarkUDPLoopback measures unicast send and receive of 1 KiB datagrams between two
// udpu transports on 127.0.0.1. The sender runs window datagrams ahead of the receiver,
// few enough that the socket buffer never overflows, so nothing is lost.
func BenchmarkUDPLoopback(b *testing.B) { benchUDPLoopback(b, nil) }

// BenchmarkUDPLoopbackKeyed is the same with a pre-shared key: sealing, opening and
// the replay check on every datagram.
func BenchmarkUDPLoopbackKeyed(b *testing.B) {
	s, err := NewSealer(GenerateKey())
	if err != nil {
		b.Fatal(err)
	}
	benchUDPLoopback(b, s)
}

func benchUDPLoopback(b *testing.B, sealer Sealer) {
	const window = 32
	cluster := wire.ClusterHash("bench")
	peers := map[wire.NodeID]netip.AddrPort{}
	for id := range wire.NodeID(2) {
		peers[id+1] = netip.AddrPortFrom(loopback4, freePort(b))
	}
	var nodes [2]*UDP
	for i := range nodes {
		u, err := NewUDP(UDPConfig{NodeID: wire.NodeID(i + 1), Cluster: cluster, Listen: peers[wire.NodeID(i+1)], Peers: peers, Sealer: sealer})
		if err != nil {
			b.Fatal(err)
		}
		defer u.Close()
		nodes[i] = u
	}
	msg := datagram(cluster, 1, wire.KindMcast, string(make([]byte, 1024-wire.HeaderLen)))
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	sent, got := 0, 0
	for got < b.N {
		for sent < b.N && sent-got < window {
			if err := nodes[0].Unicast(2, msg); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		timer.Reset(testTimeout)
		select {
		case <-nodes[1].Packets():
			got++
		case <-timer.C:
			b.Fatalf("timed out after %d of %d datagrams (stats %+v)", got, b.N, nodes[1].Stats())
		}
	}
}

// BenchmarkFragmentAndReassemble measures cutting a 16 KiB datagram into 1500-byte frames
// and joining them again: the transport's user-space cost per large datagram.
func BenchmarkFragmentAndReassemble(b *testing.B) {
	d := make([]byte, 16384)
	ra := newReassembler(9, 77, 65507)
	var arena []byte
	var ends []int
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	id := uint32(0)
	for b.Loop() {
		id++
		arena, ends = fragment(arena[:0], ends[:0], d, 1472, 2, 77, id)
		start := 0
		for _, end := range ends {
			ra.add(arena[start:end])
			start = end
		}
	}
}
