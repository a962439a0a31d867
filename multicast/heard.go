package multicast

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// PeerSeen is a node the transport has accepted a datagram from (one that passed
// authentication and the replay check and was not our own): the source address of
// its latest datagram and when that arrived.
type PeerSeen struct {
	Node wire.NodeID
	Addr netip.AddrPort
	// LastHeard carries a monotonic clock reading: time.Since(LastHeard) is the age
	// even if the wall clock was set meanwhile.
	LastHeard time.Time
}

// maxHeard bounds the table of heard nodes. Without a key anybody can send datagrams
// with any node id; past this many distinct ids, new ones are not recorded (they are
// still received: the table is only for operators).
const maxHeard = 1024

// heardTable records, for every node id heard, its last source address and time. The
// receive path reads an immutable map with one atomic load and writes the entry's
// atomics; only a node heard for the first time (rare, bounded) copies the map under
// mu. The static peers are in the map from the start, so udpu never copies it.
type heardTable struct {
	base  time.Time // the times are kept as nanoseconds since base (monotonic)
	peers atomic.Pointer[map[wire.NodeID]*heardPeer]
	mu    sync.Mutex // serializes the writers of peers
}

type heardPeer struct {
	at   atomic.Int64 // nanoseconds since base, plus one; 0: never heard
	addr atomic.Pointer[netip.AddrPort]
}

func newHeardTable(static []wire.NodeID) *heardTable {
	h := &heardTable{base: time.Now()}
	m := make(map[wire.NodeID]*heardPeer, len(static))
	for _, id := range static {
		m[id] = new(heardPeer)
	}
	h.peers.Store(&m)
	return h
}

// clock is the time to record for datagrams received now. A reader reads it once per
// batch of datagrams.
func (h *heardTable) clock() int64 { return int64(time.Since(h.base)) + 1 }

// record notes a datagram from id at src, received at now (a clock value). It does not
// allocate unless id is new or its address changed.
func (h *heardTable) record(id wire.NodeID, src netip.AddrPort, now int64) {
	p := (*h.peers.Load())[id]
	if p == nil {
		if p = h.add(id); p == nil {
			return
		}
	}
	p.at.Store(now)
	if a := p.addr.Load(); a == nil || *a != src {
		p.setAddr(src)
	}
}

// setAddr is apart from record so that only a changed address escapes to the heap.
func (p *heardPeer) setAddr(src netip.AddrPort) { p.addr.Store(&src) }

// add inserts id (copying the map), or returns nil when the table is full.
func (h *heardTable) add(id wire.NodeID) *heardPeer {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.peers.Load()
	if p := old[id]; p != nil {
		return p
	}
	if len(old) >= maxHeard {
		return nil
	}
	m := make(map[wire.NodeID]*heardPeer, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	p := new(heardPeer)
	m[id] = p
	h.peers.Store(&m)
	return p
}

// snapshot returns every node heard, by id.
func (h *heardTable) snapshot() []PeerSeen {
	m := *h.peers.Load()
	out := make([]PeerSeen, 0, len(m))
	for id, p := range m {
		at := p.at.Load()
		a := p.addr.Load()
		if at == 0 || a == nil {
			continue
		}
		out = append(out, PeerSeen{Node: id, Addr: *a, LastHeard: h.base.Add(time.Duration(at - 1))})
	}
	slices.SortFunc(out, func(a, b PeerSeen) int { return cmp.Compare(a.Node, b.Node) })
	return out
}

// Heard returns every node this transport has accepted a datagram from, sorted by id,
// with the source address and time of its latest one. Safe for concurrent use; it
// allocates only the returned slice.
func (u *UDP) Heard() []PeerSeen { return u.heard.snapshot() }

// Describe says how the transport reaches the ring: "multicast GROUP:PORT" or "udpu".
func (u *UDP) Describe() string {
	if u.udpu {
		return "udpu"
	}
	return "multicast " + u.cfg.Mcast.String()
}
