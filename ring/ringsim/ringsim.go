package ringsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/totem-gcs/totem/multicast/simnet"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/ring"
)

// RunRing is the ring simulation: N processors run the ordering protocol over the simulated network
// from one seed. Every packet is encoded, sent through simnet (loss, duplication,
// reordering, jitter), decoded and stepped. Every processor submits messages. The run ends
// when every processor delivered every message; the properties of the ordering protocol
// are checked on the way and at the end.

const simCluster = "ring-sim"

// simParams is the scenario a seed selects.
type RingParams struct {
	Nodes     int     // processors, ids 1..Nodes
	PerNode   int     // messages each processor submits
	SafeRatio float64 // fraction of messages asking for safe delivery
	Link      simnet.LinkConfig
	Config    func(wire.NodeID) ring.Config // nil: RingSimConfig
	Limit     time.Duration                 // virtual time budget (0: 10 minutes)
}

// String summarises the scenario's parameters on one line, for test names and failure
// reports.
func (p RingParams) String() string {
	return fmt.Sprintf("nodes=%d msgs/node=%d safe=%.2f loss=%.2f dup=%.2f delay=%v jitter=%v reorder=%.2f",
		p.Nodes, p.PerNode, p.SafeRatio, p.Link.Loss, p.Link.Duplicate, p.Link.DelayMin, p.Link.Jitter, p.Link.Reorder)
}

// RingSimConfig is the ring configuration of the simulation: fast timers, a small send
// queue (so backpressure is exercised) and no token loss: without a membership layer the
// token must be retransmitted until it gets through.
func RingSimConfig(self wire.NodeID) ring.Config {
	c := ring.DefaultConfig(self)
	c.TokenRetransmit = 20 * time.Millisecond
	c.TokenTimeout = time.Hour
	c.Hold = 10 * time.Millisecond
	c.FailToReceive = time.Hour
	c.SendQueueMax = 64
	return c
}

// RingParamsFor derives a scenario from a seed: 2 to 8 processors, loss 0 to 30%, some
// duplication, reordering and jitter, agreed and safe messages.
func RingParamsFor(seed uint64) RingParams {
	rng := rand.New(rand.NewPCG(seed, 0x72696e67))
	p := RingParams{
		Nodes:     2 + rng.IntN(7),
		PerNode:   20 + rng.IntN(60),
		SafeRatio: []float64{0, 0.2, 0.5, 1}[rng.IntN(4)],
	}
	p.Link = simnet.LinkConfig{
		Loss:            []float64{0, 0.01, 0.05, 0.1, 0.2, 0.3}[rng.IntN(6)],
		Duplicate:       []float64{0, 0, 0.02, 0.1}[rng.IntN(4)],
		DelayMin:        time.Duration(50+rng.IntN(400)) * time.Microsecond,
		Jitter:          time.Duration(rng.IntN(300)) * time.Microsecond,
		Reorder:         []float64{0, 0, 0.05, 0.2}[rng.IntN(4)],
		ReorderDelayMax: 2 * time.Millisecond,
	}
	return p
}

type simNode struct {
	id        wire.NodeID
	r         *ring.Ring
	next      int // next message counter to submit
	delivered []*wire.Mcast
	nextSend  time.Duration
}

type sim struct {
	seed    uint64
	p       RingParams
	net     *simnet.Network
	rng     *rand.Rand
	cluster uint32
	now     time.Duration
	nodes   []*simNode
	byID    map[wire.NodeID]*simNode
	buf     []byte
	maxHeld int
	err     error
}

func newSim(seed uint64, p RingParams) (*sim, error) {
	if p.Config == nil {
		p.Config = RingSimConfig
	}
	if p.Limit == 0 {
		p.Limit = 10 * time.Minute
	}
	s := &sim{
		seed: seed, p: p,
		net:     simnet.New(seed, simnet.Config{Link: p.Link}),
		rng:     rand.New(rand.NewPCG(seed, 0x776f726b)),
		cluster: wire.ClusterHash(simCluster),
		byID:    make(map[wire.NodeID]*simNode),
	}
	id := wire.RingID{Rep: 1, Seq: 4}
	var members []wire.NodeID
	for i := 1; i <= p.Nodes; i++ {
		members = append(members, wire.NodeID(i))
	}
	for _, m := range members {
		r, err := ring.New(p.Config(m), id, members, 0)
		if err != nil {
			return nil, err
		}
		n := &simNode{id: m, r: r}
		s.nodes = append(s.nodes, n)
		s.byID[m] = n
		s.net.AddNode(m)
	}
	return s, nil
}

// payload encodes (origin, counter) so that checks can identify each message.
func payload(origin wire.NodeID, counter int) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(origin))
	return binary.BigEndian.AppendUint32(b, uint32(counter))
}

func decodePayload(b []byte) (wire.NodeID, int) {
	return wire.NodeID(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:]))
}

func (s *sim) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("t=%v: %s", s.now, fmt.Sprintf(format, args...))
	}
}

// flush sends a node's outputs into the network and records and checks its deliveries.
func (s *sim) flush(n *simNode) {
	rd := n.r.Ready()
	for _, p := range rd.Multicast {
		s.send(n.id, 0, p)
	}
	for _, u := range rd.Unicast {
		s.send(n.id, u.To, u.Packet)
	}
	for _, f := range rd.Faults {
		s.fail("node %d reported fault %v: the ring alone must recover from loss", n.id, f.Kind)
	}
	for _, m := range rd.Deliver {
		s.checkDelivery(n, m)
		n.delivered = append(n.delivered, m)
	}
	if st := n.r.Status(); st.Stored > s.maxHeld {
		s.maxHeld = st.Stored
	}
}

func (s *sim) send(from, to wire.NodeID, p wire.Packet) {
	var err error
	s.buf, err = wire.Append(s.buf[:0], s.cluster, from, p)
	if err != nil {
		s.fail("encode %v: %v", p.Kind(), err)
		return
	}
	s.net.Send(from, to, s.buf)
}

// checkDelivery asserts the properties that must hold at the instant of delivery.
func (s *sim) checkDelivery(n *simNode, m *wire.Mcast) {
	if want := wire.Seq(len(n.delivered) + 1); m.Seq != want {
		s.fail("node %d delivered seq %d, want %d (gap or duplicate)", n.id, m.Seq, want)
	}
	if m.Guarantee == wire.Safe {
		for _, o := range s.nodes {
			st := o.r.Status()
			if m.Seq > st.Released && o.r.Message(m.Seq) == nil {
				s.fail("node %d delivered seq %d as safe but node %d has not received it", n.id, m.Seq, o.id)
			}
		}
	}
}

func (s *sim) step(d simnet.Delivery) {
	n := s.byID[d.To]
	_, p, err := wire.Decode(d.Data, s.cluster)
	if err != nil {
		s.fail("decode from %d: %v", d.From, err)
		return
	}
	switch p := p.(type) {
	case *wire.Token:
		n.r.StepToken(s.now, p)
	case *wire.Mcast:
		n.r.StepMcast(s.now, p)
	case *wire.TokenHoldCancel:
		n.r.StepHoldCancel(s.now)
	default:
		s.fail("unexpected %v", p.Kind())
	}
	s.flush(n)
}

// submit gives a node's workload a chance to queue messages; it keeps a random pace and
// retries later when the ring pushes back.
func (s *sim) submit(n *simNode) {
	for n.next < s.p.PerNode && s.now >= n.nextSend {
		g := wire.Agreed
		if s.rng.Float64() < s.p.SafeRatio {
			g = wire.Safe
		}
		err := n.r.Submit(s.now, payload(n.id, n.next), g)
		if errors.Is(err, ring.ErrQueueFull) {
			n.nextSend = s.now + time.Millisecond
			break
		}
		if err != nil {
			s.fail("submit: %v", err)
			return
		}
		n.next++
		n.nextSend = s.now + time.Duration(s.rng.IntN(2000))*time.Microsecond
	}
	s.flush(n)
}

func (s *sim) done() bool {
	total := s.p.Nodes * s.p.PerNode
	for _, n := range s.nodes {
		if len(n.delivered) < total {
			return false
		}
	}
	return true
}

// nextEvent is the earliest of: a datagram arriving, a ring timer, a workload send.
func (s *sim) nextEvent() (time.Duration, bool) {
	var at time.Duration
	found := false
	consider := func(t time.Duration) {
		if !found || t < at {
			at, found = t, true
		}
	}
	if t, ok := s.net.NextDue(); ok {
		consider(t)
	}
	for _, n := range s.nodes {
		if d := n.r.Deadline(); d != 0 {
			consider(d)
		}
		if n.next < s.p.PerNode {
			consider(n.nextSend)
		}
	}
	return max(at, s.now), found
}

func (s *sim) run() {
	limit := s.p.Limit
	for _, n := range s.nodes {
		n.r.Start(0)
		s.flush(n)
	}
	for s.err == nil && !s.done() {
		at, ok := s.nextEvent()
		if !ok {
			s.fail("nothing left to happen but not every message was delivered")
			break
		}
		if at > limit {
			s.fail("not finished after %v of virtual time", limit)
			break
		}
		s.now = at
		for _, d := range s.net.DeliverDue(s.now) {
			s.step(d)
		}
		for _, n := range s.nodes {
			if d := n.r.Deadline(); d != 0 && d <= s.now {
				n.r.Tick(s.now)
				s.flush(n)
			}
			s.submit(n)
		}
	}
	if s.err == nil {
		s.checkFinal()
	}
}

// checkFinal asserts the whole-run properties: one identical sequence everywhere, each
// sender's messages in submission order, every message exactly once, bounded store.
func (s *sim) checkFinal() {
	ref := s.nodes[0].delivered
	for _, n := range s.nodes[1:] {
		for i := range ref {
			a, b := ref[i], n.delivered[i]
			if a.Seq != b.Seq || a.Origin != b.Origin || string(a.Payload) != string(b.Payload) || a.Guarantee != b.Guarantee {
				s.fail("node %d position %d is (%d from %d), node 1 has (%d from %d)", n.id, i, b.Seq, b.Origin, a.Seq, a.Origin)
				return
			}
		}
	}
	next := make(map[wire.NodeID]int)
	for _, m := range ref {
		origin, counter := decodePayload(m.Payload)
		if origin != m.Origin {
			s.fail("seq %d: payload says origin %d, packet %d", m.Seq, origin, m.Origin)
		}
		if counter != next[origin] {
			s.fail("seq %d: message %d of node %d, want %d (FIFO order)", m.Seq, counter, origin, next[origin])
		}
		next[origin] = counter + 1
	}
	if limit := s.p.Config(1).StoreMax; s.maxHeld > limit {
		s.fail("store held %d messages, bound %d", s.maxHeld, limit)
	}
}

// RingResult is the outcome of one simulated run.
type RingResult struct {
	Seed        uint64
	Params      RingParams
	Err         error         // first property violated, nil if the run passed
	VirtualTime time.Duration // simulated time the run took
	Ordered     int           // messages every processor delivered
	MaxStored   int           // most messages any processor held at once
	Network     simnet.Stats
	Digest      [32]byte     // hash of every datagram delivery: equal runs, equal digests
	Rings       []ring.Stats // per processor
}

// RunRing runs one seed of the ring simulation with the given scenario.
func RunRing(seed uint64, p RingParams) RingResult {
	s, err := newSim(seed, p)
	if err != nil {
		return RingResult{Seed: seed, Params: p, Err: err}
	}
	s.run()
	res := RingResult{
		Seed: seed, Params: s.p, Err: s.err, VirtualTime: s.now,
		Ordered: len(s.nodes[0].delivered), MaxStored: s.maxHeld,
		Network: s.net.Stats(), Digest: s.net.Digest(),
	}
	for _, n := range s.nodes {
		res.Rings = append(res.Rings, n.r.Status().Stats)
	}
	return res
}
