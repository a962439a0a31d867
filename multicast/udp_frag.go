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

// frameSender reads the sender's node id from a frame's header.
func frameSender(plain []byte) (wire.NodeID, bool) {
	if len(plain) < fragHeaderLen {
		return 0, false
	}
	return wire.NodeID(binary.BigEndian.Uint32(plain[5:9])), true
}

// reassembler collects frames into datagrams. Safe for concurrent use (both readers).
type reassembler struct {
	mu      sync.Mutex
	self    wire.NodeID
	cluster uint32
	max     int // the largest datagram accepted
	senders map[wire.NodeID][]*partial
}

// partial is an incomplete datagram, put together in place: every chunk but the last
// has the same length, so a chunk's index says where it goes.
type partial struct {
	id    uint32
	count int
	chunk int    // the length of every chunk but the last (0: none seen yet)
	buf   []byte // count*chunk bytes, allocated at the first chunk that is not the last
	got   []bool
	last  []byte // the last chunk
	have  int
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

// add takes one frame's plaintext (copied: the caller may reuse it) and returns the
// whole datagram once its last frame has come.
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
		p = &partial{id: id, count: count, got: make([]bool, count)}
		ps = append(ps, p)
		ra.senders[sender] = ps
	}
	if !p.put(index, count, chunk, ra.max) {
		return nil, fragBad
	}
	if p.have < p.count {
		return nil, result
	}
	out := append(p.buf[:(p.count-1)*p.chunk], p.last...)
	ps = removePartial(ps, p)
	if len(ps) == 0 {
		delete(ra.senders, sender)
	} else {
		ra.senders[sender] = ps
	}
	return out, fragComplete
}

// put copies chunk i into place; false if it does not fit what came before.
func (p *partial) put(i, count int, chunk []byte, max int) bool {
	switch {
	case count != p.count || p.got[i]:
		return false
	case i == count-1:
		if p.chunk != 0 && len(chunk) > p.chunk {
			return false
		}
		p.last = append([]byte(nil), chunk...)
	default:
		if p.chunk == 0 {
			if len(chunk)*(count-1) > max || (p.last != nil && len(p.last) > len(chunk)) {
				return false
			}
			p.chunk = len(chunk)
			p.buf = make([]byte, len(chunk)*count) // room for the last chunk too
		}
		if len(chunk) != p.chunk {
			return false
		}
		copy(p.buf[i*p.chunk:], chunk)
	}
	if p.chunk != 0 && (p.count-1)*p.chunk+len(p.last) > max {
		return false
	}
	p.got[i] = true
	p.have++
	return true
}

func removePartial(ps []*partial, p *partial) []*partial {
	for i, q := range ps {
		if q == p {
			return append(ps[:i], ps[i+1:]...)
		}
	}
	return ps
}
