// Package multicast moves totem datagrams between processors.
//
// It holds the Transport interface the node drives, sealing of datagrams (AEAD with a
// pre-shared key, or a checksum without one), the real UDP implementation (IPv4 or IPv6 multicast
// or unicast-only "udpu"), and, in multicast/simnet, a deterministic simulated network.
//
// A transport moves opaque plaintext datagrams (a wire header plus body); it seals each
// one on the way out and opens it on the way in. The UDP transport carries datagrams
// larger than the network's MTU (UDPConfig.Datagram) as frames it cuts and joins itself,
// handed to the kernel as one segmentation-offload send where Linux allows
// (udp_frag.go, udp_send.go). It peeks at the wire header only to learn
// which node sent a datagram, to drop its own multicast echo, and to drop strangers (other
// clusters, other versions) early. Everything it drops is counted in Stats.
package multicast

import (
	"errors"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Packet is one received datagram's plaintext. The receiver owns Data.
type Packet struct {
	From wire.NodeID // sender, from the datagram's header
	Data []byte      // plaintext: wire header and body, ready for wire.Decode
}

// Transport is what a node uses to talk to the ring. All methods are safe for concurrent
// use. Sends are best effort, as UDP is: the protocol recovers what is lost.
type Transport interface {
	// Multicast sends b to every other member of the ring. The sender does not receive its
	// own datagram back.
	Multicast(b []byte) error
	// Unicast sends b to one member (the token to the ring successor). It fails with
	// ErrUnknownNode if the transport does not know the member's address yet.
	Unicast(to wire.NodeID, b []byte) error
	// Packets returns the channel of received datagrams. It is closed after Close.
	Packets() <-chan Packet
	// MaxPayload is the largest plaintext datagram the transport carries.
	MaxPayload() int
	// Stats returns a snapshot of the transport's counters.
	Stats() Stats
	// Close stops the transport and releases its sockets; Packets is closed once every
	// internal goroutine has exited.
	Close() error
}

// Stats counts a transport's traffic and everything it dropped, by reason.
type Stats struct {
	Sent         uint64 // datagrams handed to the network (a udpu multicast counts once per member)
	SendErrors   uint64 // sends the OS refused
	Received     uint64 // datagrams delivered on Packets
	DropOpen     uint64 // failed to open: wrong key, forged, corrupted, bad checksum
	DropHeader   uint64 // opened but not a valid totem header for this cluster
	DropSelf     uint64 // our own multicast looped back
	DropOverflow uint64 // Packets channel full (the reader is too slow)
	DropUnknown  uint64 // udpu: from an address not in the member list
	DropFragment uint64 // frames of large datagrams: malformed, or their datagram given up incomplete
	DropReplay   uint64 // with a key: a copy of a datagram already received, or of an earlier epoch
	DropDupID    uint64 // with a key: from a second live node that uses a member's node id
	DropImpaired uint64 // dropped by Impair (a test tool), as loss or for want of room
}

var (
	// ErrUnknownNode: the transport has no address for that node id.
	ErrUnknownNode = errors.New("multicast: unknown node")
	// ErrClosed: the transport was closed.
	ErrClosed = errors.New("multicast: transport closed")
	// ErrTooLarge: the datagram exceeds MaxPayload.
	ErrTooLarge = errors.New("multicast: datagram too large")
)
