package multicast

import (
	"encoding/binary"
	"sync"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Fragmentation of large datagrams into frames, by the transport itself.
//
// Larger datagrams carry more messages per token visit, which is most of what decides
// throughput (UDPConfig.Datagram). Leaving their fragmentation to IP is not safe: the
// kernel keeps every incomplete datagram for ipfrag_time (30 s) within a few MiB per
// network namespace, so under a little frame loss the incomplete ones fill that memory
// and from then on every fragmented datagram is dropped: on the benchmark LAN with 1%
// loss a ring of 9000-byte datagrams stopped delivering within seconds and expelled its
// members for failing to receive. So a datagram larger than one frame (UDPConfig.MTU)
// is cut into frames here, each sealed on its own, and the receiver keeps at most
// fragKeep incomplete datagrams per sender: a lost frame costs its datagram, which the
// ring retransmits, and never anything else.
//
// A frame's plaintext: the magic 0x7A7F, version, index, count, the sender's node id,
// the cluster hash, the sender's datagram number, then the chunk. Every chunk but the
// last has the same length.

const (
	fragMagic     uint16 = 0x7A7F
	fragVersion   uint8  = 1
	fragHeaderLen        = 17
	maxFrags             = 255
	// fragKeep is how many incomplete datagrams of one sender a receiver keeps: frames of
	// one sender arrive in order on a LAN, so more than one is rare.
	fragKeep = 4
	// fragSenders bounds the senders with incomplete datagrams (forged ids, without a key).
	fragSenders = 256
)

// fragment cuts b into frames of at most frame bytes each (headers included), appending
// them to arena; it returns the arena and each frame's end offset appended to ends.
func fragment(arena []byte, ends []int, b []byte, frame int, sender wire.NodeID, cluster, id uint32) ([]byte, []int) {
	chunk := frame - fragHeaderLen
	count := (len(b) + chunk - 1) / chunk
	for i := range count {
		part := b[i*chunk : min((i+1)*chunk, len(b))]
		arena = binary.BigEndian.AppendUint16(arena, fragMagic)
		arena = append(arena, fragVersion, byte(i), byte(count))
		arena = binary.BigEndian.AppendUint32(arena, uint32(sender))
		arena = binary.BigEndian.AppendUint32(arena, cluster)
		arena = binary.BigEndian.AppendUint32(arena, id)
		arena = append(arena, part...)
		ends = append(ends, len(arena))
	}
	return arena, ends
}

// isFrame reports whether an opened plaintext is a frame of a fragmented datagram.
func isFrame(plain []byte) bool {
	return len(plain) >= 2 && binary.BigEndian.Uint16(plain) == fragMagic
}

// reassembler collects frames into datagrams. Safe for concurrent use (both readers).
type reassembler struct {
	mu      sync.Mutex
	self    wire.NodeID
	cluster uint32
	max     int // the largest datagram accepted
	senders map[wire.NodeID][]*partial
}

// partial is an incomplete datagram.
type partial struct {
	id    uint32
	parts [][]byte // by index; nil: not received yet
	have  int
	size  int
}

func newReassembler(self wire.NodeID, cluster uint32, max int) *reassembler {
	return &reassembler{self: self, cluster: cluster, max: max, senders: make(map[wire.NodeID][]*partial)}
}

// fragResult says what a frame came to.
type fragResult uint8

const (
	fragPending  fragResult = iota // kept, the datagram is not complete yet
	fragComplete                   // the datagram is complete
	fragSelf                       // one of our own frames (multicast echo)
	fragBad                        // malformed, foreign, or an incomplete datagram was given up
)

// add takes one frame's plaintext (which it keeps: the caller must not reuse it) and
// returns the whole datagram once its last frame has come.
func (ra *reassembler) add(plain []byte) ([]byte, fragResult) {
	if len(plain) <= fragHeaderLen || plain[2] != fragVersion {
		return nil, fragBad
	}
	index, count := int(plain[3]), int(plain[4])
	sender := wire.NodeID(binary.BigEndian.Uint32(plain[5:9]))
	cluster := binary.BigEndian.Uint32(plain[9:13])
	id := binary.BigEndian.Uint32(plain[13:17])
	switch {
	case sender == ra.self:
		return nil, fragSelf
	case sender == 0 || cluster != ra.cluster || count < 2 || index >= count:
		return nil, fragBad
	}
	chunk := plain[fragHeaderLen:]
	ra.mu.Lock()
	defer ra.mu.Unlock()
	ps, known := ra.senders[sender]
	if !known && len(ra.senders) >= fragSenders {
		return nil, fragBad
	}
	var p *partial
	for _, q := range ps {
		if q.id == id {
			p = q
		}
	}
	result := fragPending
	if p == nil {
		if len(ps) == fragKeep { // give up the oldest
			ps = append(ps[:0], ps[1:]...)
			result = fragBad
		}
		p = &partial{id: id, parts: make([][]byte, count)}
		ps = append(ps, p)
		ra.senders[sender] = ps
	}
	if len(p.parts) != count || p.parts[index] != nil || p.size+len(chunk) > ra.max {
		return nil, fragBad
	}
	p.parts[index] = chunk
	p.have++
	p.size += len(chunk)
	if p.have < count {
		return nil, result
	}
	out := make([]byte, 0, p.size)
	for _, c := range p.parts {
		out = append(out, c...)
	}
	ps = removePartial(ps, p)
	if len(ps) == 0 {
		delete(ra.senders, sender)
	} else {
		ra.senders[sender] = ps
	}
	return out, fragComplete
}

func removePartial(ps []*partial, p *partial) []*partial {
	for i, q := range ps {
		if q == p {
			return append(ps[:i], ps[i+1:]...)
		}
	}
	return ps
}
