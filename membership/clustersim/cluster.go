package clustersim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/simnet"
	"github.com/totem-gcs/totem/multicast/wire"
)

// The cluster simulation: N processors run the membership and ordering protocols over the
// simulated network while a nemesis, scripted from the seed, crashes and restarts them,
// partitions and heals the network, makes links lossy and flaps them. Every processor keeps
// submitting messages. Each processor's deliveries and configuration changes are logged,
// and the logs are checked against Extended Virtual Synchrony (CheckEVS). After the fault
// phase the network heals and every processor restarts; then all of them must form one
// ring and deliver every message still owed within a stated bound (liveness).

const clusterName = "cluster-sim"

// ClusterSimConfig is the membership configuration of the simulation: timers scaled down
// tenfold from Corosync's so that many membership changes fit in a run, same ratios.
func ClusterSimConfig(self wire.NodeID) membership.Config {
	c := membership.DefaultConfig(self)
	c.Ring.TokenRetransmit = 60 * time.Millisecond
	c.Ring.TokenTimeout = 300 * time.Millisecond
	c.Ring.Hold = 40 * time.Millisecond
	c.Ring.FailToReceive = 2 * time.Second
	c.Ring.SendQueueMax = 128
	c.Join = 20 * time.Millisecond
	c.Consensus = 360 * time.Millisecond
	c.Merge = 100 * time.Millisecond
	return c
}

// LivenessBound is how long after the last fault every processor must share one ring
// and have delivered every message owed, in simulated time. It covers a token timeout,
// a consensus timeout (a processor that crashed during the last round is only declared
// failed when it expires), merges of the partitions, a few retried rounds, and the
// draining of backlogged messages.
const LivenessBound = 15 * time.Second

// Action is one nemesis step.
type Action struct {
	At   time.Duration
	Kind ActionKind
	Node wire.NodeID     // Crash, Restart, Flap
	To   wire.NodeID     // Flap: the other end of the link
	Sets [][]wire.NodeID // Partition
	Loss float64         // Lossy
}

// ActionKind names nemesis actions.
type ActionKind uint8

// The nemesis actions a scenario script is made of.
const (
	ActCrash     ActionKind = iota + 1 // Node stops at once, its volatile state lost
	ActRestart                         // Node starts again from its stored ring sequence number
	ActPartition                       // the network splits into Sets
	ActHeal                            // every partition and cut link is healed
	ActLossy                           // every link gets loss Loss
	ActCalm                            // loss back to the base link
	ActFlapOn                          // cut the link Node<->To both ways
	ActFlapOff                         // heal the flapped link (heals everything, as ActHeal)
	ActLeave                           // Node leaves gracefully (a later restart brings it back)
)

// String returns the action as one line of a scenario's script: time, kind, operands.
func (a Action) String() string {
	names := [...]string{"", "crash", "restart", "partition", "heal", "lossy", "calm", "flap-on", "flap-off", "leave"}
	s := fmt.Sprintf("%8v %s", a.At, names[a.Kind])
	switch a.Kind {
	case ActCrash, ActRestart, ActLeave:
		s += fmt.Sprintf(" %d", a.Node)
	case ActPartition:
		s += fmt.Sprintf(" %v", a.Sets)
	case ActLossy:
		s += fmt.Sprintf(" %.2f", a.Loss)
	case ActFlapOn, ActFlapOff:
		s += fmt.Sprintf(" %d<->%d", a.Node, a.To)
	}
	return s
}

// ClusterParams is one scenario.
type ClusterParams struct {
	Nodes   int
	Link    simnet.LinkConfig // base link
	Faults  time.Duration     // length of the fault phase
	Rate    time.Duration     // mean interval between a processor's submissions
	Safe    float64           // fraction of safe messages
	Nemesis []Action          // sorted by At, all within Faults
	// Reactive is the probability that a processor entering Gather, Commit or Recovery
	// during the fault phase triggers a further fault right then (a crash, a burst of
	// heavy loss, a partition): cascading failures during membership changes.
	Reactive float64
	Config   func(wire.NodeID) membership.Config
	Liveness time.Duration // 0: LivenessBound
	// Calm is a quiet start: no fault before it (the nemesis's actions and the fault
	// phase are shifted by it, and the reactive nemesis waits for it).
	Calm time.Duration
}

// String summarises the scenario's parameters on one line, for test names and failure
// reports.
func (p ClusterParams) String() string {
	return fmt.Sprintf("nodes=%d faults=%v loss=%.2f dup=%.2f actions=%d reactive=%.2f", p.Nodes, p.Faults, p.Link.Loss, p.Link.Duplicate, len(p.Nemesis), p.Reactive)
}

// ClusterParamsFor derives a scenario from a seed: 4 to 10 processors and a random script
// of crashes, restarts, partitions into two or three parts, heals, lossy periods and
// flapping links, some of them in quick succession so that they land during Gather,
// Commit and Recovery.
func ClusterParamsFor(seed uint64) ClusterParams {
	rng := rand.New(rand.NewPCG(seed, 0x636c7573))
	p := ClusterParams{
		Nodes:    4 + rng.IntN(7),
		Faults:   time.Duration(3+rng.IntN(8)) * time.Second,
		Rate:     time.Duration(5+rng.IntN(40)) * time.Millisecond,
		Safe:     []float64{0, 0.3, 1}[rng.IntN(3)],
		Reactive: []float64{0, 0.05, 0.2}[rng.IntN(3)],
		Link: simnet.LinkConfig{
			Loss:      []float64{0, 0, 0.01, 0.05}[rng.IntN(4)],
			Duplicate: []float64{0, 0.01}[rng.IntN(2)],
			DelayMin:  200 * time.Microsecond,
			Jitter:    time.Duration(50+rng.IntN(500)) * time.Microsecond,
		},
	}
	p.Nemesis = nemesis(rng, p.Nodes, p.Faults)
	return p
}

// nemesis scripts faults: bursts of one to three actions, close enough together that
// later ones hit the membership change the earlier ones started.
func nemesis(rng *rand.Rand, n int, span time.Duration) []Action {
	var acts []Action
	down := map[wire.NodeID]bool{}
	node := func() wire.NodeID { return wire.NodeID(1 + rng.IntN(n)) }
	for at := time.Duration(rng.IntN(500)) * time.Millisecond; at < span; {
		burst := 1 + rng.IntN(3)
		for range burst {
			a := Action{At: at}
			switch k := rng.IntN(10); {
			case k < 3:
				a.Kind, a.Node = ActCrash, node()
				if rng.IntN(4) == 0 {
					a.Kind = ActLeave
				}
				if down[a.Node] {
					a.Kind = ActRestart
				}
				down[a.Node] = a.Kind != ActRestart
			case k < 5:
				a.Kind, a.Sets = ActPartition, split(rng, n)
			case k < 6:
				a.Kind = ActHeal
			case k < 7:
				a.Kind, a.Loss = ActLossy, []float64{0.1, 0.2, 0.4}[rng.IntN(3)]
			case k < 8:
				a.Kind = ActCalm
			default:
				a.Kind, a.Node, a.To = ActFlapOn, node(), node()
				if a.Node == a.To {
					a.Kind = ActHeal
				}
			}
			acts = append(acts, a)
			if a.Kind == ActFlapOn {
				off := a
				off.Kind, off.At = ActFlapOff, at+time.Duration(20+rng.IntN(300))*time.Millisecond
				acts = append(acts, off)
			}
			at += time.Duration(rng.IntN(150)) * time.Millisecond
		}
		at += time.Duration(200+rng.IntN(1500)) * time.Millisecond
	}
	slices.SortStableFunc(acts, func(a, b Action) int { return int(a.At - b.At) })
	return acts
}

// split partitions 1..n into two or three non-empty groups.
func split(rng *rand.Rand, n int) [][]wire.NodeID {
	parts := 2 + rng.IntN(2)
	sets := make([][]wire.NodeID, parts)
	for i := 1; i <= n; i++ {
		k := rng.IntN(parts)
		if i <= parts {
			k = i - 1
		}
		sets[k] = append(sets[k], wire.NodeID(i))
	}
	return sets
}

type cnode struct {
	id       wire.NodeID
	m        *membership.Machine
	up       bool
	stored   uint64 // persisted ring seq
	counter  uint64 // next message counter (unique across restarts)
	nextSend time.Duration
	log      []Event
	conf     wire.RingID // current regular configuration
	status   membership.State
}

// Cluster is a running cluster simulation.
type Cluster struct {
	p       ClusterParams
	seed    uint64
	net     *simnet.Network
	rng     *rand.Rand
	cluster uint32
	now     time.Duration
	nodes   []*cnode
	next    int // next nemesis action
	// extra holds actions the reactive nemesis scheduled, sorted by At.
	extra    []Action
	reactive int // reactive faults injected so far
	buf      []byte
	err      error
	// faultsOver: the fault phase has ended; liveness is being checked.
	faultsOver bool
	timeline   []string
	// gs, when set, runs the group layer and its workload on every processor
	// (groupsim.go) instead of the plain message workload.
	gs *groupSim
}

func newCluster(seed uint64, p ClusterParams, gs *groupSim) (*Cluster, error) {
	if p.Config == nil {
		p.Config = ClusterSimConfig
	}
	if p.Liveness == 0 {
		p.Liveness = LivenessBound
	}
	if p.Calm > 0 {
		p.Nemesis = slices.Clone(p.Nemesis)
		for i := range p.Nemesis {
			p.Nemesis[i].At += p.Calm
		}
		p.Faults += p.Calm
	}
	c := &Cluster{
		p: p, seed: seed,
		net:     simnet.New(seed, simnet.Config{Link: p.Link}),
		rng:     rand.New(rand.NewPCG(seed, 0x776f726b)),
		cluster: wire.ClusterHash(clusterName),
		gs:      gs,
	}
	for i := 1; i <= p.Nodes; i++ {
		n := &cnode{id: wire.NodeID(i)}
		c.nodes = append(c.nodes, n)
		c.net.AddNode(n.id)
		if err := c.start(n); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) node(id wire.NodeID) *cnode { return c.nodes[id-1] }

func (c *Cluster) note(format string, args ...any) {
	c.timeline = append(c.timeline, fmt.Sprintf("%10v ", c.now)+fmt.Sprintf(format, args...))
}

func (c *Cluster) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("t=%v: %s", c.now, fmt.Sprintf(format, args...))
	}
}

func (c *Cluster) start(n *cnode) error {
	m, err := membership.New(c.p.Config(n.id), n.stored, c.now)
	if err != nil {
		return err
	}
	n.m, n.up, n.conf = m, true, wire.RingID{}
	n.log = append(n.log, Event{Kind: EventStart, At: c.now})
	n.nextSend = c.now + c.interval()
	if c.gs != nil {
		if err := c.gs.start(c, n); err != nil {
			return err
		}
	}
	c.flush(n)
	return nil
}

func (c *Cluster) interval() time.Duration {
	return time.Duration(c.rng.ExpFloat64() * float64(c.p.Rate))
}

// msgIDLen is the length of a payload that carries a MsgID (payloadOf).
const msgIDLen = 12

func payloadOf(id MsgID) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(id.Origin))
	return binary.BigEndian.AppendUint64(b, id.Counter)
}

func msgIDOf(b []byte) (MsgID, bool) {
	if len(b) != msgIDLen {
		return MsgID{}, false
	}
	return MsgID{Origin: wire.NodeID(binary.BigEndian.Uint32(b)), Counter: binary.BigEndian.Uint64(b[4:])}, true
}

// flush acts on a processor's outputs: persist, send, log deliveries.
func (c *Cluster) flush(n *cnode) {
	if c.gs != nil {
		c.gs.flush(c, n)
		return
	}
	c.actOn(n, n.m.Ready(), nil)
}

// actOn does what one Ready of n's machine asks: persist, send, log transitions, record
// each event (and hand it to deliver, if given); it reports whether the Ready held
// anything to do.
func (c *Cluster) actOn(n *cnode, rd membership.Ready, deliver func(membership.Event)) bool {
	if rd.RingSeq != 0 {
		n.stored = rd.RingSeq
	}
	for _, p := range rd.Multicast {
		c.send(n.id, 0, p)
	}
	for _, u := range rd.Unicast {
		c.send(n.id, u.To, u.Packet)
	}
	for _, tr := range rd.Transitions {
		c.note("node %d %v -> %v ring %v (%s)", n.id, tr.From, tr.To, tr.Ring, tr.Reason)
		c.maybeReact(n, tr.To)
	}
	for _, ev := range rd.Events {
		c.record(n, ev)
		if deliver != nil {
			deliver(ev)
		}
	}
	n.status = n.m.Status().State
	return len(rd.Multicast)+len(rd.Unicast)+len(rd.Events) > 0 || rd.RingSeq != 0
}

// maxReactive bounds the faults the reactive nemesis injects in one run.
const maxReactive = 12

// maybeReact injects a fault right as a processor starts a membership change, so that
// faults land during Gather, Commit and Recovery and cascade.
func (c *Cluster) maybeReact(n *cnode, to membership.State) {
	if c.faultsOver || c.now < c.p.Calm || c.reactive >= maxReactive || to == membership.Operational || to == membership.Left ||
		c.rng.Float64() >= c.p.Reactive {
		return
	}
	c.reactive++
	a := Action{At: c.now}
	switch c.rng.IntN(4) {
	case 0:
		a.Kind, a.Node = ActCrash, n.id
	case 1:
		a.Kind, a.Node = ActCrash, wire.NodeID(1+c.rng.IntN(len(c.nodes)))
	case 2:
		a.Kind, a.Loss = ActLossy, 0.5
		c.schedule(Action{At: c.now + time.Duration(50+c.rng.IntN(300))*time.Millisecond, Kind: ActCalm})
	default:
		a.Kind, a.Sets = ActPartition, split(c.rng, len(c.nodes))
		c.schedule(Action{At: c.now + time.Duration(100+c.rng.IntN(1000))*time.Millisecond, Kind: ActHeal})
	}
	c.schedule(a)
	if a.Kind == ActCrash {
		c.schedule(Action{At: c.now + time.Duration(200+c.rng.IntN(2000))*time.Millisecond, Kind: ActRestart, Node: a.Node})
	}
}

// schedule inserts a reactive action, keeping extra sorted (stable for equal times).
func (c *Cluster) schedule(a Action) {
	i, _ := slices.BinarySearchFunc(c.extra, a.At, func(x Action, at time.Duration) int {
		if x.At <= at {
			return -1
		}
		return 1
	})
	c.extra = slices.Insert(c.extra, i, a)
}

func (c *Cluster) record(n *cnode, ev membership.Event) {
	if ev.Config != nil {
		cf := ev.Config
		n.log = append(n.log, Event{Kind: EventConfig, At: c.now, Conf: &Configuration{
			Transitional: cf.Transitional, Ring: cf.Ring,
			Members: cf.Members, Left: cf.Left, Joined: cf.Joined,
		}})
		if !cf.Transitional {
			n.conf = cf.Ring
		}
		kind := "regular"
		if cf.Transitional {
			kind = "transitional"
		}
		c.note("node %d delivers %s configuration %v %v", n.id, kind, cf.Ring, cf.Members)
		return
	}
	b := ev.Msg.Payload
	if c.gs != nil && len(b) >= msgIDLen {
		b = b[:msgIDLen] // the group payload follows the id (groupsim.go)
	}
	id, ok := msgIDOf(b)
	if !ok {
		c.fail("node %d delivered a message with a foreign payload %x", n.id, ev.Msg.Payload)
		return
	}
	n.log = append(n.log, Event{Kind: EventDeliver, Msg: id, Safe: ev.Msg.Guarantee == wire.Safe, Ring: ev.Msg.Ring, Seq: ev.Msg.Seq})
}

func (c *Cluster) send(from, to wire.NodeID, p wire.Packet) {
	var err error
	c.buf, err = wire.Append(c.buf[:0], c.cluster, from, p)
	if err != nil {
		c.fail("node %d: encode %v: %v", from, p.Kind(), err)
		return
	}
	c.net.Send(from, to, c.buf)
}

func (c *Cluster) deliver(d simnet.Delivery) {
	n := c.node(d.To)
	if !n.up {
		return
	}
	h, p, err := wire.Decode(d.Data, c.cluster)
	if err != nil {
		c.fail("node %d: decode from %d: %v", d.To, d.From, err)
		return
	}
	n.m.Step(c.now, h.Sender, p)
	c.flush(n)
}

// submit runs a processor's workload: a message every Rate on average, retried later
// when the machine pushes back.
func (c *Cluster) submit(n *cnode) {
	if !n.up || c.now < n.nextSend {
		return
	}
	if c.gs != nil {
		c.gs.workload(c, n)
		return
	}
	id := MsgID{Origin: n.id, Counter: n.counter}
	g := wire.Agreed
	if c.rng.Float64() < c.p.Safe {
		g = wire.Safe
	}
	err := n.m.Submit(c.now, payloadOf(id), g)
	switch {
	case errors.Is(err, membership.ErrQueueFull):
		n.nextSend = c.now + 10*time.Millisecond
		return
	case err != nil:
		c.fail("node %d: submit: %v", n.id, err)
		return
	}
	n.log = append(n.log, Event{Kind: EventSend, Msg: id, Safe: g == wire.Safe, Ring: n.conf})
	n.counter++
	n.nextSend = c.now + c.interval()
	c.flush(n)
}

func (c *Cluster) act(a Action) {
	c.note("nemesis %v", a)
	switch a.Kind {
	case ActCrash:
		n := c.node(a.Node)
		if n.up {
			n.up = false
			n.log = append(n.log, Event{Kind: EventCrash, At: c.now})
			c.net.Crash(n.id)
			if c.gs != nil {
				c.gs.crash(c, n)
			}
		}
	case ActLeave:
		// The processor announces its leave, then stops. For the checker a processor that
		// left is one that stopped: it owes nothing more.
		n := c.node(a.Node)
		if n.up {
			n.m.Leave(c.now)
			c.flush(n)
			n.up = false
			n.log = append(n.log, Event{Kind: EventCrash, At: c.now})
			c.net.Crash(n.id)
			if c.gs != nil {
				c.gs.crash(c, n)
			}
		}
	case ActRestart:
		c.restart(c.node(a.Node))
	case ActPartition:
		c.net.Partition(a.Sets...)
	case ActHeal:
		c.net.Heal()
	case ActLossy:
		c.setLoss(a.Loss)
	case ActCalm:
		c.setLoss(c.p.Link.Loss)
	case ActFlapOn:
		c.net.Cut(a.Node, a.To)
		c.net.Cut(a.To, a.Node)
	case ActFlapOff:
		// Heal removes every cut and partition; re-apply nothing else: flaps are short.
		c.net.Heal()
	}
}

func (c *Cluster) restart(n *cnode) {
	if n.up {
		return
	}
	c.net.Restart(n.id)
	if err := c.start(n); err != nil {
		c.fail("restart %d: %v", n.id, err)
	}
}

func (c *Cluster) setLoss(loss float64) {
	lc := c.p.Link
	lc.Loss = loss
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a != b {
				c.net.SetLink(a.id, b.id, lc)
			}
		}
	}
}

// endFaults heals everything and restarts every crashed processor.
func (c *Cluster) endFaults() {
	c.faultsOver = true
	c.note("faults over: heal, calm, restart all")
	c.net.Heal()
	c.setLoss(c.p.Link.Loss)
	for _, n := range c.nodes {
		c.restart(n)
	}
}

func (c *Cluster) nextEvent() time.Duration {
	at := time.Duration(-1)
	consider := func(t time.Duration) {
		if at < 0 || t < at {
			at = t
		}
	}
	if t, ok := c.net.NextDue(); ok {
		consider(t)
	}
	for _, n := range c.nodes {
		if !n.up {
			continue
		}
		if d := n.m.Deadline(); d != 0 {
			consider(d)
		}
		if !c.faultsOver {
			consider(n.nextSend)
		}
	}
	if c.next < len(c.p.Nemesis) {
		consider(c.p.Nemesis[c.next].At)
	} else if !c.faultsOver {
		consider(c.p.Faults)
	}
	if len(c.extra) > 0 && !c.faultsOver {
		consider(c.extra[0].At)
	}
	return max(at, c.now)
}

// settled: every processor is operational on one ring of all of them, and every message
// submitted anywhere has been delivered everywhere.
func (c *Cluster) settled() bool {
	ref := c.nodes[0]
	for _, n := range c.nodes {
		st := n.m.Status()
		if st.State != membership.Operational || len(st.Members) != len(c.nodes) || n.conf != ref.conf || st.Queued != 0 {
			return false
		}
	}
	if c.gs != nil && !c.gs.settled(c) {
		return false
	}
	return c.owedDelivered()
}

// owedDelivered reports whether every processor delivered, in its current configuration,
// every message submitted in it or queued for it.
func (c *Cluster) owedDelivered() bool {
	for _, n := range c.nodes {
		st, ok := n.m.RingStatus()
		if !ok || st.Queued != 0 || st.HighDelivered != st.HighSeq || st.Aru != st.HighSeq {
			return false
		}
	}
	return true
}

func (c *Cluster) run() {
	spins, steps := 0, 0
	for c.err == nil {
		// Every loop is bounded: a run that needs this many steps has a packet storm.
		if steps++; steps > 3_000_000 {
			c.fail("runaway: 3000000 steps by %v: %s", c.now, c.describe())
			return
		}
		at := c.nextEvent()
		if at == c.now {
			// A processor whose deadline never moves would spin here forever.
			if spins++; spins > 100_000 {
				c.fail("livelock: 100000 steps without time advancing: %s", c.describe())
				return
			}
		} else {
			spins = 0
		}
		if c.faultsOver && at > c.p.Faults+c.p.Liveness {
			c.fail("liveness: not settled %v after the last fault: %s", c.p.Liveness, c.describe())
			return
		}
		c.now = at
		if !c.faultsOver && c.next >= len(c.p.Nemesis) && c.now >= c.p.Faults {
			c.endFaults()
		}
		for c.next < len(c.p.Nemesis) && c.p.Nemesis[c.next].At <= c.now {
			c.act(c.p.Nemesis[c.next])
			c.next++
		}
		for len(c.extra) > 0 && c.extra[0].At <= c.now && !c.faultsOver {
			a := c.extra[0]
			c.extra = c.extra[1:]
			c.act(a)
		}
		for _, d := range c.net.DeliverDue(c.now) {
			c.deliver(d)
		}
		for _, n := range c.nodes {
			if !n.up {
				continue
			}
			if d := n.m.Deadline(); d != 0 && d <= c.now {
				n.m.Tick(c.now)
				c.flush(n)
			}
			if !c.faultsOver {
				c.submit(n)
			}
		}
		if c.faultsOver && c.settled() {
			return
		}
	}
}

func (c *Cluster) describe() string {
	var b strings.Builder
	for _, n := range c.nodes {
		st := n.m.Status()
		fmt.Fprintf(&b, "\n  node %d up=%v %v ring %v members %v queued %d", n.id, n.up, st.State, st.Ring, st.Members, st.Queued)
		if rs, ok := n.m.RingStatus(); ok {
			fmt.Fprintf(&b, " aru %d high %d delivered %d", rs.Aru, rs.HighSeq, rs.HighDelivered)
		}
	}
	return b.String()
}

// ClusterResult is the outcome of one run.
type ClusterResult struct {
	Seed        uint64
	Params      ClusterParams
	Err         error       // a liveness failure or a harness error
	Violations  []Violation // EVS properties violated
	VirtualTime time.Duration
	Settled     time.Duration // time from the end of faults to one ring with everything delivered
	Delivered   int           // message deliveries over all processors
	Configs     int           // regular configurations installed over all processors
	Timeline    []string
	History     History
}

// Failed reports whether the run violated anything.
func (r ClusterResult) Failed() bool { return r.Err != nil || len(r.Violations) > 0 }

// writeViolations appends the first ten of vs to a report, one a line, and how many more
// there are (what names them).
func writeViolations[V fmt.Stringer](b *strings.Builder, what string, vs []V) {
	for i, v := range vs {
		if i == 10 {
			fmt.Fprintf(b, "\n... %d more %s", len(vs)-10, what)
			return
		}
		fmt.Fprintf(b, "\n%v", v)
	}
}

// Report describes a failed run: the error, the violations and the last timeline lines.
func (r ClusterResult) Report(tail int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d (%v)", r.Seed, r.Params)
	if r.Err != nil {
		fmt.Fprintf(&b, "\n%v", r.Err)
	}
	writeViolations(&b, "violations", r.Violations)
	tl := r.Timeline
	if len(tl) > tail {
		tl = tl[len(tl)-tail:]
	}
	fmt.Fprintf(&b, "\nlast %d timeline entries:\n%s", len(tl), strings.Join(tl, "\n"))
	return b.String()
}

// RunCluster runs one seed of the cluster simulation and checks its history.
func RunCluster(seed uint64, p ClusterParams) ClusterResult {
	c, err := newCluster(seed, p, nil)
	if err != nil {
		return ClusterResult{Seed: seed, Params: p, Err: err}
	}
	c.run()
	return c.result()
}

// result collects a finished run's logs and checks them against EVS.
func (c *Cluster) result() ClusterResult {
	res := ClusterResult{
		Seed: c.seed, Params: c.p, Err: c.err, VirtualTime: c.now,
		Settled: c.now - c.p.Faults, Timeline: c.timeline,
		History: History{Logs: map[wire.NodeID][]Event{}},
	}
	for _, n := range c.nodes {
		res.History.Logs[n.id] = n.log
		for _, e := range n.log {
			switch {
			case e.Kind == EventDeliver:
				res.Delivered++
			case e.Kind == EventConfig && !e.Conf.Transitional:
				res.Configs++
			}
		}
	}
	res.Violations = CheckEVS(res.History)
	return res
}
