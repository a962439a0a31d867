package simnet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// streamSimnet is the PCG stream selector. A harness that derives several generators from
// one seed gets a network stream that differs from its own even when it reuses the seed.
const streamSimnet = 0x73696d6e6574 // "simnet"

// Delivery is one datagram copy arriving at a node. The receiver owns Data.
type Delivery struct {
	At     time.Duration // virtual arrival time
	SentAt time.Duration // virtual time of the Send
	From   wire.NodeID
	To     wire.NodeID
	Data   []byte
}

// Network is a deterministic simulated datagram network. All randomness comes from one
// PCG generator seeded in New, time is a virtual clock moved only by DeliverDue and
// Advance, and nodes are kept in a sorted slice, so the same seed and the same sequence of
// calls give the same run byte for byte.
//
// A Network is safe for concurrent use (one mutex guards it, for the Endpoint mode), but
// determinism is promised only when a single goroutine drives it.
type Network struct {
	mu  sync.Mutex
	rng *rand.Rand
	cfg Config
	now time.Duration

	nodes []*node // sorted by id: multicast fan-out order must not depend on a map
	byID  map[wire.NodeID]*node

	links       map[link]LinkConfig // per-direction overrides of cfg.Link
	cuts        map[link]struct{}   // one-way cuts
	groups      map[wire.NodeID]int // partition group of each node, while partitioned
	partitioned bool

	inflight queue
	seq      uint64 // enqueue counter, the heap's tie-breaker
	total    tally

	digest  hash.Hash
	scratch [20]byte   // digest record header, kept here to avoid allocating
	due     []Delivery // Advance's reusable buffer
}

type node struct {
	id    wire.NodeID
	up    bool
	stats tally
	ep    *Endpoint // nil unless Endpoint was called for this node
}

type link struct{ from, to wire.NodeID }

// New returns an empty network whose random choices all derive from seed. It panics if
// cfg is invalid (a probability outside [0, 1], a negative delay).
func New(seed uint64, cfg Config) *Network {
	if err := cfg.validate(); err != nil {
		panic(err)
	}
	if cfg.QueueCap == 0 {
		cfg.QueueCap = DefaultQueueCap
	}
	return &Network{
		rng:    rand.New(rand.NewPCG(seed, streamSimnet)),
		cfg:    cfg,
		byID:   make(map[wire.NodeID]*node),
		links:  make(map[link]LinkConfig),
		cuts:   make(map[link]struct{}),
		groups: make(map[wire.NodeID]int),
		digest: sha256.New(),
	}
}

// Now returns the virtual clock. It starts at 0.
func (n *Network) Now() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.now
}

// AddNode registers id as an up node. Registering an existing node does nothing. Id 0 is
// reserved for "everyone" and panics.
func (n *Network) AddNode(id wire.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addNode(id)
}

func (n *Network) addNode(id wire.NodeID) *node {
	if id == 0 {
		panic("simnet: node id 0 is reserved")
	}
	if nd := n.byID[id]; nd != nil {
		return nd
	}
	nd := &node{id: id, up: true}
	i, _ := slices.BinarySearchFunc(n.nodes, id, func(x *node, id wire.NodeID) int {
		return cmpID(x.id, id)
	})
	n.nodes = slices.Insert(n.nodes, i, nd)
	n.byID[id] = nd
	return nd
}

func cmpID(a, b wire.NodeID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// mustNode returns a registered node; anything else is a harness bug.
func (n *Network) mustNode(id wire.NodeID) *node {
	nd := n.byID[id]
	if nd == nil {
		panic(fmt.Sprintf("simnet: node %d is not registered", id))
	}
	return nd
}

// Send hands data from one node to the network: to one node, or with to == 0 to every
// other registered node (the sender does not hear its own multicast). Each copy draws its
// own fate. data is copied, so the caller may reuse it at once. Sending from an
// unregistered node panics; sending to one is counted as DroppedUnknown.
func (n *Network) Send(from, to wire.NodeID, data []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.send(from, to, data)
}

func (n *Network) send(from, to wire.NodeID, data []byte) {
	src := n.mustNode(from)
	p := &payload{data: bytes.Clone(data)}
	if to != 0 {
		n.sendCopy(src, to, p)
		return
	}
	for _, dst := range n.nodes {
		if dst.id != from {
			n.sendCopy(src, dst.id, p)
		}
	}
}

// sendCopy decides one copy's fate: dropped now, or scheduled (perhaps twice).
func (n *Network) sendCopy(src *node, to wire.NodeID, p *payload) {
	n.count(src, cSent)
	dst := n.byID[to]
	switch {
	case dst == nil:
		n.count(src, cDroppedUnknown)
		return
	case !src.up || !dst.up:
		n.count(dst, cDroppedCrash)
		return
	case !n.reachable(src.id, to):
		n.count(dst, cDroppedPartition)
		return
	}
	lc := n.linkConfig(src.id, to)
	if n.chance(lc.Loss) {
		n.count(dst, cDroppedLoss)
		return
	}
	n.schedule(src.id, to, p, lc)
	if n.chance(lc.Duplicate) {
		n.count(dst, cDuplicated)
		n.schedule(src.id, to, p, lc)
	}
}

func (n *Network) schedule(from, to wire.NodeID, p *payload, lc LinkConfig) {
	p.refs++
	n.seq++
	n.inflight.push(flight{
		at:     n.now + n.delay(lc),
		seq:    n.seq,
		sentAt: n.now,
		from:   from,
		to:     to,
		p:      p,
	})
}

// chance reports true with probability p. It draws nothing when p is 0, so a fault that
// is switched off does not perturb the random stream.
func (n *Network) chance(p float64) bool {
	return p > 0 && n.rng.Float64() < p
}

// delay draws one copy's one-way delay, within [DelayMin, DelayMax()].
func (n *Network) delay(lc LinkConfig) time.Duration {
	d := lc.DelayMin
	if lc.Jitter > 0 {
		x := min(n.rng.ExpFloat64(), JitterCapFactor)
		d += time.Duration(x * float64(lc.Jitter))
	}
	if lc.ReorderDelayMax > 0 && n.chance(lc.Reorder) {
		d += time.Duration(n.rng.Int64N(int64(lc.ReorderDelayMax) + 1))
	}
	return d
}

// NextDue returns when the earliest in-flight copy arrives; false if nothing is in flight.
// The copy may still be dropped on arrival if a partition has come up since it was sent.
func (n *Network) NextDue() (time.Duration, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.inflight.len() == 0 {
		return 0, false
	}
	return n.inflight.peek().at, true
}

// DeliverDue moves the clock to now (never backwards; an earlier now leaves it where it
// is) and returns every copy that arrives at or before it, ordered by arrival time and,
// for equal times, by the order in which they were scheduled. It returns nil if nothing
// arrives.
func (n *Network) DeliverDue(now time.Duration) []Delivery {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.appendDue(nil, now)
}

func (n *Network) appendDue(out []Delivery, now time.Duration) []Delivery {
	n.now = max(n.now, now)
	for n.inflight.len() > 0 && n.inflight.peek().at <= n.now {
		f := n.inflight.pop()
		if d, ok := n.land(f); ok {
			out = append(out, d)
		}
	}
	return out
}

// land completes one copy's flight. Partitions are checked again on arrival, so a copy
// that crosses a cut made while it was in flight is lost, as on a real network. Crashes
// need no check here: Crash removes the victim's copies at once.
func (n *Network) land(f flight) (Delivery, bool) {
	dst := n.byID[f.to]
	if !n.reachable(f.from, f.to) {
		f.p.release()
		n.count(dst, cDroppedPartition)
		return Delivery{}, false
	}
	if !dst.up {
		panic("simnet: copy in flight to a crashed node")
	}
	d := Delivery{At: f.at, SentAt: f.sentAt, From: f.from, To: f.to, Data: f.p.take()}
	n.count(dst, cDelivered)
	n.record(&d)
	return d, true
}

// record feeds one delivery into the running digest.
func (n *Network) record(d *Delivery) {
	b := n.scratch[:]
	binary.BigEndian.PutUint64(b[0:8], uint64(d.At))
	binary.BigEndian.PutUint32(b[8:12], uint32(d.From))
	binary.BigEndian.PutUint32(b[12:16], uint32(d.To))
	binary.BigEndian.PutUint32(b[16:20], uint32(len(d.Data)))
	n.digest.Write(b)
	n.digest.Write(d.Data)
}

// Digest returns the SHA-256 of every delivery so far (arrival time, sender, receiver,
// data, in delivery order). Two runs are identical exactly when their digests are.
func (n *Network) Digest() [32]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	var sum [32]byte
	n.digest.Sum(sum[:0])
	return sum
}

// count charges one event to the totals and, if nd is not nil, to that node.
func (n *Network) count(nd *node, c counter) {
	n.total[c]++
	if nd != nil {
		nd.stats[c]++
	}
}

// Stats returns a snapshot of the counters.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Stats{
		Counters: n.total.counters(),
		InFlight: n.inflight.len(),
		Nodes:    make([]NodeStats, len(n.nodes)),
	}
	for i, nd := range n.nodes {
		s.Nodes[i] = NodeStats{ID: nd.id, Counters: nd.stats.counters()}
	}
	return s
}
