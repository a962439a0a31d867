package clustersim

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// The EVS checker: Extended Virtual Synchrony, as the checkable properties of
// shared/design/totem-protocol.md §6, verified over per-processor logs of plain data so
// that any harness can use it (the simulations, and fault tests that collect delivery logs
// from real daemons).
//
// Log model. Each processor contributes one ordered list of events: the messages it
// submitted (Send), the messages and configuration changes it delivered (Deliver, Config)
// in delivery order, and crashes and restarts (Crash, Start). A Start begins a new
// incarnation: everything the checker counts "per node" (duplicates, FIFO, the order of a
// ring's sequence numbers) it counts per incarnation, because a restarted processor has
// forgotten everything. A leading Start is allowed and begins the first incarnation; a
// Start not preceded by a Crash ends the previous incarnation as if it had crashed. A
// configuration, at one processor, is the span of events from one Config event to the
// next Config event, Crash or end of log. A span that ends with a Crash or the end of the
// log is open: the processor may still have been about to deliver, so the properties that
// say what must be delivered "before the next configuration" (13, 14, 16) impose nothing on
// it.
//
// Identity. A regular configuration is identified by its ring id alone (the ring id names
// one ring; EVS-2 checks that everybody agrees on its members). A transitional
// configuration carries the id of the ring it leads to, which both sides of a merge share,
// so it is identified by (ring id, members).

// EventKind says what an Event records.
type EventKind uint8

const (
	// EventSend: the processor submitted Msg for multicast (sending order must equal
	// Counter order: the FIFO property relies on it).
	EventSend EventKind = iota + 1
	// EventDeliver: the processor delivered Msg to its application.
	EventDeliver
	// EventConfig: the processor delivered the configuration change Conf.
	EventConfig
	// EventCrash: the processor stopped; its current configuration ends without a change.
	EventCrash
	// EventStart: the processor (re)started; a new incarnation begins, whose first
	// configuration is a regular one with no transitional configuration before it.
	EventStart
)

var eventKindNames = [...]string{
	EventSend:    "send",
	EventDeliver: "deliver",
	EventConfig:  "config",
	EventCrash:   "crash",
	EventStart:   "start",
}

// String returns the kind's name ("send", "deliver", ...).
func (k EventKind) String() string {
	if k >= EventSend && k <= EventStart {
		return eventKindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MsgID is a message's application-level identity. It is unique per origin; the harness
// keeps counters unique across restarts and gives each origin's messages increasing
// counters in the order it sends them.
type MsgID struct {
	Origin  wire.NodeID
	Counter uint64
}

// String returns the id as "origin:counter".
func (m MsgID) String() string { return fmt.Sprintf("%d:%d", m.Origin, m.Counter) }

// Configuration is a configuration change as a processor delivered it.
type Configuration struct {
	Transitional bool
	// Ring: regular: the new ring's id; transitional: the id of the new ring it leads to
	// (Corosync reports the new ring id for both).
	Ring    wire.RingID
	Members []wire.NodeID // sorted, no duplicates
	// Left: transitional: members of the previous regular configuration not in Members
	// (checked); regular: informative, not checked.
	Left []wire.NodeID
	// Joined: regular: Members not in the transitional configuration before it (checked,
	// except for a processor's first configuration after Start); transitional: unused.
	Joined []wire.NodeID
}

// String returns the kind, ring and members, as failure reports print a configuration.
func (c *Configuration) String() string {
	kind := "regular"
	if c.Transitional {
		kind = "transitional"
	}
	return fmt.Sprintf("%s %v %v", kind, c.Ring, c.Members)
}

// Event is one entry of a processor's log.
type Event struct {
	Kind EventKind
	Msg  MsgID // Send, Deliver
	Safe bool  // Send: safe delivery requested; Deliver: delivered as safe
	// Ring: Deliver: the ring that sequenced the message (its original ring, also when it
	// was recovered on a later ring); Send: the ring of the sender's regular configuration
	// when it submitted, zero if unknown or between configurations.
	Ring wire.RingID
	Seq  wire.Seq       // Deliver: the message's sequence number on Ring
	Conf *Configuration // Config
	// At is when the event happened (simulated time in the simulation); informational,
	// the checker ignores it.
	At time.Duration
}

// String returns the event as one line of a processor's log.
func (e Event) String() string {
	switch e.Kind {
	case EventSend, EventDeliver:
		safe := ""
		if e.Safe {
			safe = " safe"
		}
		return fmt.Sprintf("%v %v%s @%v#%d", e.Kind, e.Msg, safe, e.Ring, e.Seq)
	case EventConfig:
		if e.Conf == nil {
			return "config <nil>"
		}
		return "config " + e.Conf.String()
	}
	return e.Kind.String()
}

// History is what a run produced: each processor's log, in its own order.
type History struct {
	Logs map[wire.NodeID][]Event
}

// Add appends events to a processor's log.
func (h *History) Add(node wire.NodeID, evs ...Event) {
	if h.Logs == nil {
		h.Logs = make(map[wire.NodeID][]Event)
	}
	h.Logs[node] = append(h.Logs[node], evs...)
}

// Property names one checked property, numbered as in totem-protocol.md §6 so that a
// report can be looked up there.
type Property string

const (
	// PropLogFormat: the log itself is malformed (events after a crash, a config event
	// without a configuration, unsorted members, a delivery without a ring position...).
	// Not an EVS property; the other checks may be unreliable for such a log.
	PropLogFormat Property = "log-format"
	// PropSelfInclusion (1): every configuration a processor delivers lists it.
	PropSelfInclusion Property = "EVS-1 self-inclusion"
	// PropMembershipAgreement (2): everybody reports the same members for one ring id.
	PropMembershipAgreement Property = "EVS-2 membership-agreement"
	// PropMonotonicRings (3): a processor's regular ring seqs strictly increase, also
	// across restarts.
	PropMonotonicRings Property = "EVS-3 monotonic-ring-ids"
	// PropTransStructure (5): a regular configuration (but a processor's first after
	// Start) comes right after exactly one transitional configuration t, with
	// t ⊆ previous regular ∩ next regular, t leading to that next ring, and Left/Joined as
	// defined on Configuration.
	PropTransStructure Property = "EVS-5 transitional-structure"
	// PropTransAgreement (6): processors that deliver the same transitional configuration
	// come from the same regular configuration.
	PropTransAgreement Property = "EVS-6 transitional-agreement"
	// PropPlacement (7): a message two processors deliver is on the same side, at both,
	// of every configuration change both deliver.
	PropPlacement Property = "EVS-7 config-change-placement"
	// PropIntegrity (8): every delivered message was sent; no incarnation delivers a
	// message twice.
	PropIntegrity Property = "EVS-8 integrity"
	// PropDeliveryScope (9): a message is delivered in a configuration of its ring: the
	// regular configuration of that ring or the transitional configuration right after it.
	PropDeliveryScope Property = "EVS-9 delivery-scope"
	// PropTotalOrder (10): common messages (and configurations) are delivered in the same
	// relative order everywhere; a message has one (ring, seq) everywhere and a (ring,
	// seq) one message; a processor delivers a ring's messages in increasing seq.
	PropTotalOrder Property = "EVS-10 total-order"
	// PropGapFree (11): in a regular configuration a processor delivers its ring's
	// messages without gaps.
	PropGapFree Property = "EVS-11 gap-freedom"
	// PropTransContent (12): in a transitional configuration, after the first gap in the
	// old ring's order, only messages originated by members of the transitional
	// configuration are delivered.
	PropTransContent Property = "EVS-12 transitional-content"
	// PropFailureAtomicity (13): processors that deliver the same two consecutive
	// configurations deliver the same messages between them.
	PropFailureAtomicity Property = "EVS-13 failure-atomicity"
	// PropSelfDelivery (14): a processor that keeps running delivers its own messages.
	PropSelfDelivery Property = "EVS-14 self-delivery"
	// PropFIFO (15): a processor delivers one origin's messages of one ring in sending
	// (Counter) order.
	PropFIFO Property = "EVS-15 fifo"
	// PropSafe (16): a message delivered as safe in a configuration is delivered by every
	// member of that configuration that does not crash.
	PropSafe Property = "EVS-16 safe-delivery"
)

// propertyOrder is the order of CheckEVS's output: by property number.
var propertyOrder = []Property{
	PropLogFormat, PropSelfInclusion, PropMembershipAgreement, PropMonotonicRings,
	PropTransStructure, PropTransAgreement, PropPlacement, PropIntegrity,
	PropDeliveryScope, PropTotalOrder, PropGapFree, PropTransContent,
	PropFailureAtomicity, PropSelfDelivery, PropFIFO, PropSafe,
}

// Violation is one failure of one property. Node is the processor whose log shows it;
// Other, when not zero, the processor it was compared with.
type Violation struct {
	Property Property
	Node     wire.NodeID
	Other    wire.NodeID
	Detail   string
}

// String returns the violation as "property: node N [vs node M]: detail".
func (v Violation) String() string {
	who := fmt.Sprintf("node %d", v.Node)
	if v.Other != 0 {
		who += fmt.Sprintf(" vs node %d", v.Other)
	}
	return fmt.Sprintf("%s: %s: %s", v.Property, who, v.Detail)
}

// CheckEVS checks a history against the EVS properties and returns every violation found,
// sorted by property number, then node, then other node (and in log order within that).
// An empty result means the history satisfies all of them. Details name events by their
// index in the node's log ("event 7" is Logs[node][7]).
//
// The rules, as implemented (numbers from totem-protocol.md §6):
//
//	 1  Every Config lists its processor in Members.
//	 2  Regular configurations with the same Ring have the same Members.
//	 3  A processor's successive regular configurations have strictly increasing
//	    Ring.Seq, across restarts.
//	 5  A regular configuration other than an incarnation's first is preceded (messages
//	    in between allowed) by a transitional t that follows a regular c, with
//	    t.Members ⊆ c.Members ∩ Members, t.Ring = Ring, t.Left = c.Members − t.Members and
//	    Joined = Members − t.Members. An incarnation's first configuration is regular; no
//	    two transitional configurations follow each other.
//	 6  Processors delivering the same transitional configuration came from the same
//	    regular ring.
//	 7  For two incarnations, a message both deliver is preceded by the same number of the
//	    configurations both deliver (one report per pair).
//	 8  A delivered message appears as a Send in its origin's log, unless that log has no
//	    Send at all; an incarnation delivers a message at most once.
//	 9  Deliveries in regular configuration R have Ring R; deliveries in a transitional
//	    configuration have the ring of the regular configuration it follows; nothing is
//	    delivered before an incarnation's first configuration; a message is never sequenced
//	    on a ring older than the one its Send event names.
//	10  Two incarnations deliver their common messages in the same order, and their common
//	    configurations in the same order (one report each per pair); a MsgID has one
//	    (Ring, Seq) and a (Ring, Seq) one MsgID across all logs; an incarnation delivers
//	    the messages of one ring in strictly increasing Seq.
//	11  In regular configuration R a processor delivers the Seqs of ring R from the ring's
//	    first delivered Seq on with no holes. The first Seq is the lowest Seq of R anybody
//	    delivered, not 1: recovery copies of older rings' messages occupy the lowest
//	    sequence numbers of a new ring and are delivered under their original ring.
//	12  In a transitional configuration following regular R, numbering continues after
//	    the highest Seq of R delivered in R; once a Seq is skipped, every further message
//	    must have been originated by a member of the transitional configuration.
//	13  Processors (incarnations) that deliver the same two consecutive configurations
//	    c, c′ deliver the same set of messages between them (reg→trans and trans→reg).
//	14  (a) The origin p of a message delivered anywhere as sequenced on ring R, if p
//	    installed R, delivers it in R or in the transitional configuration after R, unless
//	    that span is open (crash, end of log). (b) An incarnation that delivers its own
//	    message m also delivers every message it sent before m (its queue is FIFO; the
//	    order of the deliveries is 15's). A rule
//	    of the form "delivered within k configuration changes of the Send" is not used: a
//	    long send queue legitimately drains several rings after the submit. A message that
//	    is sent last and never delivered by anybody is the liveness check's (17) to catch.
//	15  An incarnation delivers the messages of one origin on one ring in increasing
//	    Counter order; an incarnation's Send events have increasing Counters (else a
//	    log-format violation: the harness broke the contract FIFO relies on).
//	16  If m is delivered as safe in regular configuration c (before the transitional
//	    one), every member q of c installed c and delivers m in c or in the transitional
//	    configuration after it, unless q's c or transitional span is open (crash, end of
//	    log); a member absent from the history is not checked. If m is delivered as safe in
//	    transitional t, every member of t that delivers t and then a regular configuration
//	    delivered m in t (or before it, in the regular configuration t follows).
//
// Property 4 (termination) and 17 (liveness) are about time and are the harness's to
// check. The cost is linear in the size of the history plus, for 7 and 10, linear per
// pair of incarnations.
func CheckEVS(h History) []Violation {
	c := newChecker(h)
	for _, check := range []func(){
		c.checkSelfInclusion, c.checkMembershipAgreement, c.checkMonotonicRings,
		c.checkTransStructure, c.checkTransAgreement, c.checkPairs,
		c.checkIntegrity, c.checkDeliveryScope, c.checkPositions, c.checkRingSeqOrder,
		c.checkGaps, c.checkFailureAtomicity, c.checkSelfDelivery, c.checkFIFO,
		c.checkSafe,
	} {
		check()
	}
	slices.SortStableFunc(c.out, func(a, b Violation) int {
		return cmp.Or(
			cmp.Compare(slices.Index(propertyOrder, a.Property), slices.Index(propertyOrder, b.Property)),
			cmp.Compare(a.Node, b.Node),
			cmp.Compare(a.Other, b.Other))
	})
	return c.out
}

// delivery is one Deliver event of an incarnation.
type delivery struct {
	msg  MsgID
	safe bool
	ring wire.RingID
	seq  wire.Seq
	pos  int   // index of the event in the processor's log
	item int32 // index in incarnation.items; -1 for a duplicate
	span *span // configuration it was delivered in; nil before the first one
}

func (d *delivery) dup() bool { return d.item < 0 }

// sendRec is one Send event.
type sendRec struct {
	msg  MsgID
	ring wire.RingID
	pos  int
}

// item is one entry of an incarnation's order of first deliveries and configurations,
// which the pairwise checks (7, 10) compare.
type item struct {
	conf int32 // configuration id, or -1 for a delivery
	idx  int32 // index in incarnation.dels (delivery) or incarnation.spans (configuration)
}

// span is one configuration at one incarnation, with what was delivered in it.
type span struct {
	inc  *incarnation
	conf *Configuration
	id   int32 // interned identity (see confKey)
	pos  int   // index of the Config event in the log
	prev *span // previous configuration of the incarnation
	next *span // next one; nil if the span is open (crash or end of log)
	dels []int32
}

func (s *span) node() wire.NodeID { return s.inc.node }

// incarnation is a processor's log between two starts.
type incarnation struct {
	node     wire.NodeID
	events   int // Send, Deliver and Config events recorded
	spans    []*span
	dels     []delivery
	sends    []sendRec
	items    []item
	first    map[MsgID]int32 // message -> index in dels of its first delivery
	confItem map[int32]int32 // configuration id -> index in items of its first delivery
}

func (inc *incarnation) current() *span {
	if len(inc.spans) == 0 {
		return nil
	}
	return inc.spans[len(inc.spans)-1]
}

// deliveredIn reports whether the incarnation delivered m while in span s.
func (inc *incarnation) deliveredIn(m MsgID, s *span) bool {
	i, ok := inc.first[m]
	return ok && s != nil && inc.dels[i].span == s
}

// confKey identifies a configuration across processors: a regular one by its ring, a
// transitional one by its ring and members.
type confKey struct {
	trans   bool
	ring    wire.RingID
	members string
}

type checker struct {
	h       History
	nodes   []wire.NodeID // sorted
	incs    []*incarnation
	byNode  map[wire.NodeID][]*incarnation
	spanOf  map[wire.NodeID]map[int32]*span // first span of each configuration per node
	confIDs map[confKey]int32
	sent    map[MsgID]sendRec // Send events, found in the origin's own log
	sends   map[wire.NodeID]bool
	out     []Violation
}

func newChecker(h History) *checker {
	c := &checker{
		h:       h,
		byNode:  make(map[wire.NodeID][]*incarnation),
		spanOf:  make(map[wire.NodeID]map[int32]*span),
		confIDs: make(map[confKey]int32),
		sent:    make(map[MsgID]sendRec),
		sends:   make(map[wire.NodeID]bool),
	}
	for node := range h.Logs {
		c.nodes = append(c.nodes, node)
	}
	slices.Sort(c.nodes)
	for _, node := range c.nodes {
		c.spanOf[node] = make(map[int32]*span)
		c.parseLog(node, h.Logs[node])
	}
	return c
}

// report records a violation; other is dropped when it is the node itself (a node's own
// message, two incarnations of one node).
func (c *checker) report(p Property, node, other wire.NodeID, format string, args ...any) {
	if other == node {
		other = 0
	}
	c.out = append(c.out, Violation{Property: p, Node: node, Other: other, Detail: fmt.Sprintf(format, args...)})
}

// newIncarnation begins an incarnation whose events start with log; its tables are sized
// from the deliveries ahead, which saves most of the checker's time on big logs.
func (c *checker) newIncarnation(node wire.NodeID, log []Event) *incarnation {
	n := 0
	for i, ev := range log {
		if i > 0 && ev.Kind == EventStart {
			break
		}
		if ev.Kind == EventDeliver {
			n++
		}
	}
	inc := &incarnation{
		node: node, dels: make([]delivery, 0, n), items: make([]item, 0, n),
		first: make(map[MsgID]int32, n), confItem: make(map[int32]int32),
	}
	c.incs = append(c.incs, inc)
	c.byNode[node] = append(c.byNode[node], inc)
	return inc
}

// parseLog splits a processor's log into incarnations and configurations.
func (c *checker) parseLog(node wire.NodeID, log []Event) {
	inc := c.newIncarnation(node, log)
	dead := false
	for pos, ev := range log {
		switch ev.Kind {
		case EventStart:
			if dead || inc.events > 0 {
				inc = c.newIncarnation(node, log[pos:])
			}
			dead = false
		case EventCrash:
			dead = true
		case EventSend, EventDeliver, EventConfig:
			if dead {
				c.report(PropLogFormat, node, 0, "event %d (%v) follows a crash without a start", pos, ev)
				continue
			}
			inc.events++
			c.record(inc, pos, ev)
		default:
			c.report(PropLogFormat, node, 0, "event %d has unknown kind %v", pos, ev.Kind)
		}
	}
}

func (c *checker) record(inc *incarnation, pos int, ev Event) {
	switch ev.Kind {
	case EventSend:
		c.recordSend(inc, pos, ev)
	case EventDeliver:
		c.recordDelivery(inc, pos, ev)
	case EventConfig:
		c.recordConfig(inc, pos, ev)
	}
}

// recordSend also checks the harness's contract: a processor sends its own messages, each
// once, in increasing Counter order within an incarnation.
func (c *checker) recordSend(inc *incarnation, pos int, ev Event) {
	node := inc.node
	if ev.Msg.Origin != node {
		c.report(PropLogFormat, node, 0, "event %d: sends %v, whose origin is another node", pos, ev.Msg)
		return
	}
	if prev, dup := c.sent[ev.Msg]; dup {
		c.report(PropLogFormat, node, 0, "event %d: sends %v again (first at event %d)", pos, ev.Msg, prev.pos)
		return
	}
	if n := len(inc.sends); n > 0 && ev.Msg.Counter <= inc.sends[n-1].msg.Counter {
		c.report(PropLogFormat, node, 0, "event %d: sends %v after %v: counters must follow sending order",
			pos, ev.Msg, inc.sends[n-1].msg)
	}
	s := sendRec{msg: ev.Msg, ring: ev.Ring, pos: pos}
	inc.sends = append(inc.sends, s)
	c.sent[ev.Msg] = s
	c.sends[node] = true
}

func (c *checker) recordDelivery(inc *incarnation, pos int, ev Event) {
	if ev.Ring.IsZero() || ev.Seq == 0 {
		c.report(PropLogFormat, inc.node, 0, "event %d: delivery of %v without a ring position", pos, ev.Msg)
	}
	idx := int32(len(inc.dels))
	d := delivery{msg: ev.Msg, safe: ev.Safe, ring: ev.Ring, seq: ev.Seq, pos: pos, item: -1, span: inc.current()}
	if _, seen := inc.first[ev.Msg]; !seen {
		inc.first[ev.Msg] = idx
		d.item = int32(len(inc.items))
		inc.items = append(inc.items, item{conf: -1, idx: idx})
		if d.span != nil {
			d.span.dels = append(d.span.dels, idx)
		}
	}
	inc.dels = append(inc.dels, d)
}

func (c *checker) recordConfig(inc *incarnation, pos int, ev Event) {
	if ev.Conf == nil {
		c.report(PropLogFormat, inc.node, 0, "event %d: config event without a configuration", pos)
		return
	}
	c.checkMemberList(inc.node, pos, ev.Conf)
	s := &span{inc: inc, conf: ev.Conf, id: c.confID(ev.Conf), pos: pos, prev: inc.current()}
	if s.prev != nil {
		s.prev.next = s
	}
	inc.spans = append(inc.spans, s)
	if _, seen := inc.confItem[s.id]; !seen {
		inc.confItem[s.id] = int32(len(inc.items))
		inc.items = append(inc.items, item{conf: s.id, idx: int32(len(inc.spans) - 1)})
	}
	if _, seen := c.spanOf[inc.node][s.id]; !seen {
		c.spanOf[inc.node][s.id] = s
	}
}

// checkMemberList: members must be sorted, distinct and non-zero, since configurations
// are compared by their member lists.
func (c *checker) checkMemberList(node wire.NodeID, pos int, conf *Configuration) {
	for i, m := range conf.Members {
		if m == 0 || (i > 0 && m <= conf.Members[i-1]) {
			c.report(PropLogFormat, node, 0, "event %d: members %v are not sorted, distinct, non-zero ids", pos, conf.Members)
			return
		}
	}
}

func (c *checker) confID(conf *Configuration) int32 {
	k := confKey{trans: conf.Transitional, ring: conf.Ring}
	if conf.Transitional {
		b := make([]byte, 0, 4*len(conf.Members))
		for _, m := range conf.Members {
			b = binary.LittleEndian.AppendUint32(b, uint32(m))
		}
		k.members = string(b)
	}
	id, ok := c.confIDs[k]
	if !ok {
		id = int32(len(c.confIDs))
		c.confIDs[k] = id
	}
	return id
}

// spans calls f for every configuration of every incarnation, in log order.
func (c *checker) spans(f func(*span)) {
	for _, inc := range c.incs {
		for _, s := range inc.spans {
			f(s)
		}
	}
}

// deliveries calls f for every first delivery of a message by every incarnation.
func (c *checker) deliveries(f func(*incarnation, *delivery)) {
	for _, inc := range c.incs {
		for i := range inc.dels {
			if d := &inc.dels[i]; !d.dup() {
				f(inc, d)
			}
		}
	}
}

// ---- configuration properties ----

// checkSelfInclusion: EVS-1.
func (c *checker) checkSelfInclusion() {
	c.spans(func(s *span) {
		if !slices.Contains(s.conf.Members, s.node()) {
			c.report(PropSelfInclusion, s.node(), 0, "%v at event %d does not list the node", s.conf, s.pos)
		}
	})
}

// checkMembershipAgreement: EVS-2, comparing everybody with the first to report a ring.
func (c *checker) checkMembershipAgreement() {
	first := make(map[wire.RingID]*span)
	c.spans(func(s *span) {
		if s.conf.Transitional {
			return
		}
		f, ok := first[s.conf.Ring]
		if !ok {
			first[s.conf.Ring] = s
			return
		}
		if !slices.Equal(f.conf.Members, s.conf.Members) {
			c.report(PropMembershipAgreement, s.node(), f.node(), "ring %v: members %v at event %d, node %d reports %v",
				s.conf.Ring, s.conf.Members, s.pos, f.node(), f.conf.Members)
		}
	})
}

// checkMonotonicRings: EVS-3. Ring seqs are persisted, so the order holds across restarts.
func (c *checker) checkMonotonicRings() {
	for _, node := range c.nodes {
		var last *span
		for _, inc := range c.byNode[node] {
			for _, s := range inc.spans {
				if s.conf.Transitional {
					continue
				}
				if last != nil && s.conf.Ring.Seq <= last.conf.Ring.Seq {
					c.report(PropMonotonicRings, node, 0, "ring %v at event %d after ring %v at event %d",
						s.conf.Ring, s.pos, last.conf.Ring, last.pos)
				}
				last = s
			}
		}
	}
}

// checkTransStructure: EVS-5.
func (c *checker) checkTransStructure() {
	c.spans(func(s *span) {
		switch {
		case s.conf.Transitional:
			c.checkTransitional(s)
		case s.prev != nil:
			c.checkRegularAfter(s)
		}
	})
}

// checkTransitional: a transitional configuration leaves a regular one, keeping a subset
// of its members.
func (c *checker) checkTransitional(t *span) {
	node := t.node()
	switch {
	case t.prev == nil:
		c.report(PropTransStructure, node, 0, "%v at event %d is the first configuration since start: there is no regular configuration it leaves",
			t.conf, t.pos)
		return
	case t.prev.conf.Transitional:
		c.report(PropTransStructure, node, 0, "%v at event %d follows %v at event %d: two transitional configurations in a row",
			t.conf, t.pos, t.prev.conf, t.prev.pos)
		return
	}
	old := t.prev.conf
	if extra := setMinus(t.conf.Members, old.Members); len(extra) > 0 {
		c.report(PropTransStructure, node, 0, "%v at event %d has members %v not in the previous %v",
			t.conf, t.pos, extra, old)
	}
	if want := setMinus(old.Members, t.conf.Members); !sameSet(want, t.conf.Left) {
		c.report(PropTransStructure, node, 0, "%v at event %d reports left %v, want %v (previous members not in it)",
			t.conf, t.pos, t.conf.Left, want)
	}
}

// checkRegularAfter: a regular configuration that is not the first of its incarnation
// comes right after the transitional configuration leading to it.
func (c *checker) checkRegularAfter(r *span) {
	node, t := r.node(), r.prev
	if !t.conf.Transitional {
		c.report(PropTransStructure, node, 0, "%v at event %d follows %v at event %d without a transitional configuration",
			r.conf, r.pos, t.conf, t.pos)
		return
	}
	if t.conf.Ring != r.conf.Ring {
		c.report(PropTransStructure, node, 0, "%v at event %d leads to ring %v, but the next regular configuration is %v",
			t.conf, t.pos, t.conf.Ring, r.conf)
	}
	if extra := setMinus(t.conf.Members, r.conf.Members); len(extra) > 0 {
		c.report(PropTransStructure, node, 0, "members %v of %v are not in the next %v at event %d",
			extra, t.conf, r.conf, r.pos)
	}
	if want := setMinus(r.conf.Members, t.conf.Members); !sameSet(want, r.conf.Joined) {
		c.report(PropTransStructure, node, 0, "%v at event %d reports joined %v, want %v (members not in %v)",
			r.conf, r.pos, r.conf.Joined, want, t.conf)
	}
}

// checkTransAgreement: EVS-6. (That they go on to the same regular configuration follows
// from 5, which ties the transitional id to the next ring, and 2.)
func (c *checker) checkTransAgreement() {
	first := make(map[int32]*span)
	c.spans(func(t *span) {
		if !t.conf.Transitional || t.prev == nil || t.prev.conf.Transitional {
			return
		}
		f, ok := first[t.id]
		if !ok {
			first[t.id] = t
			return
		}
		if f.prev.conf.Ring != t.prev.conf.Ring {
			c.report(PropTransAgreement, t.node(), f.node(), "%v at event %d: came from ring %v, node %d from ring %v",
				t.conf, t.pos, t.prev.conf.Ring, f.node(), f.prev.conf.Ring)
		}
	})
}

// ---- order properties, compared per pair of incarnations ----

// checkPairs: EVS-7 and the cross-processor half of EVS-10, for every pair of
// incarnations (including two incarnations of one processor).
func (c *checker) checkPairs() {
	var buf []int32
	for i, a := range c.incs {
		for _, b := range c.incs[i+1:] {
			c.compareConfigOrder(a, b)
			buf = c.compareMessages(a, b, buf)
		}
	}
}

// compareConfigOrder reports the first pair of configurations two incarnations deliver in
// opposite orders.
func (c *checker) compareConfigOrder(a, b *incarnation) {
	var prev *span
	var prevB int32 = -1
	for _, it := range a.items {
		if it.conf < 0 {
			continue
		}
		pb, ok := b.confItem[it.conf]
		if !ok {
			continue
		}
		s := a.spans[it.idx]
		if pb < prevB {
			c.report(PropTotalOrder, a.node, b.node, "node %d installs %v (event %d) after %v (event %d), node %d installs them in the opposite order",
				a.node, s.conf, s.pos, prev.conf, prev.pos, b.node)
			return
		}
		prev, prevB = s, pb
	}
}

// compareMessages walks a's first deliveries. b's positions of the common messages must
// increase (10), and before each common message both must have delivered the same number
// of their common configurations (7). buf is scratch space, returned for reuse.
func (c *checker) compareMessages(a, b *incarnation, buf []int32) []int32 {
	if len(a.first) == 0 || len(b.first) == 0 {
		return buf
	}
	common := commonConfigs(a, b)
	cntB := countCommonBefore(b, a, buf)
	var (
		cntA             int32
		maxB             int32 = -1
		maxMsg           *delivery
		orderBad, placed bool
	)
	for _, it := range a.items {
		if it.conf >= 0 {
			if _, ok := b.confItem[it.conf]; ok {
				cntA++
			}
			continue
		}
		da := &a.dels[it.idx]
		j, ok := b.first[da.msg]
		if !ok {
			continue
		}
		db := &b.dels[j]
		if db.item < maxB && !orderBad {
			c.report(PropTotalOrder, a.node, b.node, "node %d delivers %v (event %d) after %v (event %d), node %d delivers them in the opposite order",
				a.node, da.msg, da.pos, maxMsg.msg, maxMsg.pos, b.node)
			orderBad = true
		}
		if db.item > maxB {
			maxB, maxMsg = db.item, da
		}
		if cb := cntB[db.item]; cb != cntA && !placed {
			c.reportPlacement(a, b, da, db, common[min(cntA, cb)], cntA < cb)
			placed = true
		}
		if orderBad && placed {
			break
		}
	}
	return cntB
}

func (c *checker) reportPlacement(a, b *incarnation, da, db *delivery, conf *span, beforeAtA bool) {
	side := func(before bool) string {
		if before {
			return "before"
		}
		return "after"
	}
	c.report(PropPlacement, a.node, b.node, "node %d delivers %v (event %d) %s %v, node %d %s it (event %d)",
		a.node, da.msg, da.pos, side(beforeAtA), conf.conf, b.node, side(!beforeAtA), db.pos)
}

// commonConfigs lists, in a's order, the first spans of a's configurations that b also
// delivered.
func commonConfigs(a, b *incarnation) []*span {
	var out []*span
	seen := make(map[int32]bool)
	for _, s := range a.spans {
		if _, ok := b.confItem[s.id]; ok && !seen[s.id] {
			seen[s.id] = true
			out = append(out, s)
		}
	}
	return out
}

// countCommonBefore returns, for each item of b, how many configurations that a also
// delivered precede it at b.
func countCommonBefore(b, a *incarnation, buf []int32) []int32 {
	buf = buf[:0]
	var n int32
	for _, it := range b.items {
		buf = append(buf, n)
		if it.conf >= 0 {
			if _, ok := a.confItem[it.conf]; ok {
				n++
			}
		}
	}
	return buf
}

// ---- delivery properties ----

// checkIntegrity: EVS-8.
func (c *checker) checkIntegrity() {
	for _, inc := range c.incs {
		for i := range inc.dels {
			d := &inc.dels[i]
			if d.dup() {
				first := inc.dels[inc.first[d.msg]]
				c.report(PropIntegrity, inc.node, 0, "delivers %v again at event %d (first at event %d)", d.msg, d.pos, first.pos)
				continue
			}
			if _, ok := c.sent[d.msg]; !ok && c.sends[d.msg.Origin] {
				c.report(PropIntegrity, inc.node, d.msg.Origin, "delivers %v at event %d, which node %d never sent",
					d.msg, d.pos, d.msg.Origin)
			}
		}
	}
}

// checkDeliveryScope: EVS-9.
func (c *checker) checkDeliveryScope() {
	c.deliveries(func(inc *incarnation, d *delivery) {
		if d.span == nil {
			c.report(PropDeliveryScope, inc.node, 0, "delivers %v at event %d before any configuration", d.msg, d.pos)
			return
		}
		if r, ok := scopeRing(d.span); ok && d.ring != r {
			c.report(PropDeliveryScope, inc.node, 0, "delivers %v of ring %v at event %d in %v, which delivers ring %v",
				d.msg, d.ring, d.pos, d.span.conf, r)
		}
		if s, ok := c.sent[d.msg]; ok && !s.ring.IsZero() && d.ring.Seq < s.ring.Seq {
			c.report(PropDeliveryScope, inc.node, d.msg.Origin, "delivers %v as sequenced on ring %v (event %d), older than ring %v it was sent in",
				d.msg, d.ring, d.pos, s.ring)
		}
	})
}

// scopeRing is the ring whose messages configuration s delivers: its own ring if regular,
// the regular configuration's before it if transitional (unknown if there is none).
func scopeRing(s *span) (wire.RingID, bool) {
	if !s.conf.Transitional {
		return s.conf.Ring, true
	}
	if s.prev != nil && !s.prev.conf.Transitional {
		return s.prev.conf.Ring, true
	}
	return wire.RingID{}, false
}

// slot is a position in a ring's total order.
type slot struct {
	ring wire.RingID
	seq  wire.Seq
}

// checkPositions: EVS-10, a message has one position and a position one message, across
// all logs (the first to report it is the reference).
func (c *checker) checkPositions() {
	type ref struct {
		node wire.NodeID
		msg  MsgID
		at   slot
	}
	byMsg := make(map[MsgID]ref)
	bySlot := make(map[slot]ref)
	c.deliveries(func(inc *incarnation, d *delivery) {
		at := slot{d.ring, d.seq}
		if r, ok := byMsg[d.msg]; !ok {
			byMsg[d.msg] = ref{inc.node, d.msg, at}
		} else if r.at != at {
			c.report(PropTotalOrder, inc.node, r.node, "delivers %v as %v#%d (event %d), node %d as %v#%d",
				d.msg, d.ring, d.seq, d.pos, r.node, r.at.ring, r.at.seq)
		}
		if r, ok := bySlot[at]; !ok {
			bySlot[at] = ref{inc.node, d.msg, at}
		} else if r.msg != d.msg {
			c.report(PropTotalOrder, inc.node, r.node, "delivers %v as %v#%d (event %d), node %d delivers %v there",
				d.msg, d.ring, d.seq, d.pos, r.node, r.msg)
		}
	})
}

// checkRingSeqOrder: EVS-10 within one incarnation: a ring's messages in seq order.
func (c *checker) checkRingSeqOrder() {
	for _, inc := range c.incs {
		last := make(map[wire.RingID]*delivery)
		for i := range inc.dels {
			d := &inc.dels[i]
			if d.dup() {
				continue
			}
			if p, ok := last[d.ring]; ok && d.seq <= p.seq {
				c.report(PropTotalOrder, inc.node, 0, "delivers %v#%d (event %d) after %v#%d (event %d)",
					d.ring, d.seq, d.pos, p.ring, p.seq, p.pos)
			}
			if p, ok := last[d.ring]; !ok || d.seq > p.seq {
				last[d.ring] = d
			}
		}
	}
}

// checkGaps: EVS-11 in regular configurations, EVS-12 in the transitional ones after them.
func (c *checker) checkGaps() {
	base := c.ringBases()
	c.spans(func(s *span) {
		ring, ok := scopeRing(s)
		switch {
		case !ok:
		case !s.conf.Transitional:
			c.checkRegularGaps(s, base[ring])
		default:
			c.checkTransContent(s, ring, base[ring])
		}
	})
}

// ringBases is, per ring, the lowest seq anybody delivered: where the ring's application
// messages start (recovery copies of older messages take the sequence numbers below).
func (c *checker) ringBases() map[wire.RingID]wire.Seq {
	base := make(map[wire.RingID]wire.Seq)
	c.deliveries(func(_ *incarnation, d *delivery) {
		if b, ok := base[d.ring]; !ok || d.seq < b {
			base[d.ring] = d.seq
		}
	})
	return base
}

// checkRegularGaps looks for holes in the set of the ring's seqs delivered in the regular
// configuration; out-of-order delivery is 10's, not a hole.
func (c *checker) checkRegularGaps(s *span, base wire.Seq) {
	var seqs []wire.Seq
	for _, i := range s.dels {
		if d := &s.inc.dels[i]; d.ring == s.conf.Ring {
			seqs = append(seqs, d.seq)
		}
	}
	slices.Sort(seqs)
	want, holes := base, 0
	var lo, hi wire.Seq
	for _, q := range seqs {
		if q > want {
			if holes == 0 {
				lo, hi = want, q-1
			}
			holes++
		}
		want = max(want, q+1)
	}
	if holes > 0 {
		c.report(PropGapFree, s.node(), 0, "in %v (event %d) delivers up to seq %d but not %s (%d gap(s) in all)",
			s.conf, s.pos, seqs[len(seqs)-1], seqRange(lo, hi), holes)
	}
}

// checkTransContent follows the old ring's order from where the regular configuration
// stopped; after the first skipped seq only transitional members' messages may follow.
func (c *checker) checkTransContent(t *span, ring wire.RingID, base wire.Seq) {
	want := base
	for _, i := range t.prev.dels {
		if d := &t.inc.dels[i]; d.ring == ring {
			want = max(want, d.seq+1)
		}
	}
	var gap wire.Seq
	for _, i := range t.dels {
		d := &t.inc.dels[i]
		if d.ring != ring {
			continue
		}
		if gap == 0 && d.seq > want {
			gap = want
		}
		if gap != 0 && !slices.Contains(t.conf.Members, d.msg.Origin) {
			c.report(PropTransContent, t.node(), 0, "in %v (event %d) delivers %v (%v#%d, event %d) of non-member %d after the gap at seq %d",
				t.conf, t.pos, d.msg, ring, d.seq, d.pos, d.msg.Origin, gap)
		}
		want = max(want, d.seq+1)
	}
}

// checkFailureAtomicity: EVS-13. Spans are grouped by (configuration, next
// configuration); each is compared with the group's first.
func (c *checker) checkFailureAtomicity() {
	type pair struct{ from, to int32 }
	index := make(map[pair]int)
	var groups [][]*span
	c.spans(func(s *span) {
		if s.next == nil {
			return
		}
		k := pair{s.id, s.next.id}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], s)
	})
	for _, g := range groups {
		for _, s := range g[1:] {
			c.compareSpanContents(g[0], s)
		}
	}
}

// compareSpanContents reports what s lacks of ref's messages and what it has in excess.
func (c *checker) compareSpanContents(ref, s *span) {
	var diffs []string
	if lacks := missingFrom(ref, s); len(lacks) > 0 {
		diffs = append(diffs, fmt.Sprintf("lacks %s that node %d delivered", msgList(lacks), ref.node()))
	}
	if extra := missingFrom(s, ref); len(extra) > 0 {
		diffs = append(diffs, fmt.Sprintf("delivered %s that node %d did not", msgList(extra), ref.node()))
	}
	if len(diffs) > 0 {
		c.report(PropFailureAtomicity, s.node(), ref.node(), "between %v (event %d) and %v (event %d): %s",
			s.conf, s.pos, s.next.conf, s.next.pos, strings.Join(diffs, "; "))
	}
}

// missingFrom lists, in a's delivery order, the messages a delivered in its span and b did
// not deliver in its own.
func missingFrom(a, b *span) []MsgID {
	var out []MsgID
	for _, i := range a.dels {
		m := a.inc.dels[i].msg
		if !b.inc.deliveredIn(m, b) {
			out = append(out, m)
		}
	}
	return out
}

func seqRange(lo, hi wire.Seq) string {
	if lo == hi {
		return fmt.Sprintf("seq %d", lo)
	}
	return fmt.Sprintf("seqs %d..%d", lo, hi)
}

func msgList(ms []MsgID) string {
	const show = 5
	var b strings.Builder
	b.WriteString("[")
	for i, m := range ms[:min(len(ms), show)] {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(m.String())
	}
	if len(ms) > show {
		fmt.Fprintf(&b, " +%d more", len(ms)-show)
	}
	b.WriteString("]")
	return b.String()
}

// checkSelfDelivery: EVS-14, in two parts that both hold however long a sender's queue
// is (a submitted message may be sequenced several rings later: the cluster simulation
// shows queues draining two and more configuration changes after the submit).
func (c *checker) checkSelfDelivery() {
	c.checkOwnRingDelivery()
	c.checkOwnQueueDelivery()
}

// checkOwnRingDelivery: the origin of a message sequenced on ring R delivers it in R or in
// the transitional configuration after R, unless it crashed (or its log ended) before
// the next regular configuration.
func (c *checker) checkOwnRingDelivery() {
	seen := make(map[MsgID]bool)
	c.deliveries(func(inc *incarnation, d *delivery) {
		if seen[d.msg] {
			return
		}
		seen[d.msg] = true
		id, ok := c.confIDs[confKey{ring: d.ring}]
		if !ok {
			return
		}
		s := c.spanOf[d.msg.Origin][id]
		if s == nil {
			return
		}
		if delivered, closed := deliveredByEnd(s, d.msg); !delivered && closed {
			c.report(PropSelfDelivery, d.msg.Origin, inc.node, "node %d delivers %v of ring %v (event %d), its origin installed %v (event %d) but delivered it neither there nor in the transitional configuration after it",
				inc.node, d.msg, d.ring, d.pos, s.conf, s.pos)
		}
	})
}

// checkOwnQueueDelivery: a processor sends its messages in FIFO order, so once it delivers
// one of its messages it has delivered every message it sent earlier in the incarnation.
func (c *checker) checkOwnQueueDelivery() {
	for _, inc := range c.incs {
		last := -1 // index in inc.sends of the last message delivered
		for i, snd := range inc.sends {
			if _, ok := inc.first[snd.msg]; ok {
				last = i
			}
		}
		for _, snd := range inc.sends[:max(last, 0)] {
			if _, ok := inc.first[snd.msg]; !ok {
				later := inc.sends[last]
				c.report(PropSelfDelivery, inc.node, 0, "sends %v (event %d) and later %v (event %d), delivers %v (event %d) but never %v",
					snd.msg, snd.pos, later.msg, later.pos, later.msg, inc.dels[inc.first[later.msg]].pos, snd.msg)
			}
		}
	}
}

// deliveredByEnd reports whether s's incarnation delivered m in regular configuration s or
// in the transitional configuration after it, and whether that is final: the incarnation
// went on to another regular configuration.
func deliveredByEnd(s *span, m MsgID) (delivered, closed bool) {
	t := s.next
	if s.inc.deliveredIn(m, s) || (t != nil && t.conf.Transitional && s.inc.deliveredIn(m, t)) {
		return true, true
	}
	return false, t != nil && (!t.conf.Transitional || t.next != nil)
}

// checkFIFO: EVS-15, per incarnation, origin and ring.
func (c *checker) checkFIFO() {
	type stream struct {
		ring   wire.RingID
		origin wire.NodeID
	}
	for _, inc := range c.incs {
		last := make(map[stream]*delivery)
		for i := range inc.dels {
			d := &inc.dels[i]
			if d.dup() {
				continue
			}
			k := stream{d.ring, d.msg.Origin}
			p, ok := last[k]
			if ok && d.msg.Counter < p.msg.Counter {
				c.report(PropFIFO, inc.node, d.msg.Origin, "on ring %v delivers %v (event %d) after %v (event %d)",
					d.ring, d.msg, d.pos, p.msg, p.pos)
			}
			if !ok || d.msg.Counter > p.msg.Counter {
				last[k] = d
			}
		}
	}
}

// checkSafe: EVS-16. Each (message, configuration) is checked once, from its first safe
// delivery in log order; each lacking member is reported once.
func (c *checker) checkSafe() {
	type key struct {
		msg  MsgID
		conf int32
	}
	done := make(map[key]bool)
	c.deliveries(func(inc *incarnation, d *delivery) {
		if !d.safe || d.span == nil || done[key{d.msg, d.span.id}] {
			return
		}
		done[key{d.msg, d.span.id}] = true
		for _, q := range d.span.conf.Members {
			if q == inc.node {
				continue
			}
			if d.span.conf.Transitional {
				c.checkSafeInTrans(inc.node, q, d)
			} else {
				c.checkSafeInRegular(inc.node, q, d)
			}
		}
	})
}

// checkSafeInRegular: member q of regular configuration c installed c and delivers m in c
// or in the transitional configuration after it, unless it crashed (or the log ended)
// before the next regular configuration.
func (c *checker) checkSafeInRegular(p, q wire.NodeID, d *delivery) {
	conf := d.span.conf
	s := c.spanOf[q][d.span.id]
	if s == nil {
		if len(c.h.Logs[q]) > 0 {
			c.report(PropSafe, q, p, "node %d delivers %v as safe in %v (event %d), but member %d never installed it",
				p, d.msg, conf, d.pos, q)
		}
		return
	}
	if delivered, closed := deliveredByEnd(s, d.msg); !delivered && closed {
		c.report(PropSafe, q, p, "node %d delivers %v as safe in %v (event %d); member %d installed it (event %d) but delivered %v neither there nor in the transitional configuration after it",
			p, d.msg, conf, d.pos, q, s.pos, d.msg)
	}
}

// checkSafeInTrans: member q of transitional configuration t that delivers t and then a
// regular configuration delivers m in t (or before it).
func (c *checker) checkSafeInTrans(p, q wire.NodeID, d *delivery) {
	t := c.spanOf[q][d.span.id]
	if t == nil || t.next == nil {
		return
	}
	if t.inc.deliveredIn(d.msg, t) || t.inc.deliveredIn(d.msg, t.prev) {
		return
	}
	c.report(PropSafe, q, p, "node %d delivers %v as safe in %v (event %d); member %d installed it (event %d) but did not deliver %v there",
		p, d.msg, d.span.conf, d.pos, q, t.pos, d.msg)
}

// ---- helpers ----

// setMinus returns the elements of a that are not in b, in a's order.
func setMinus(a, b []wire.NodeID) []wire.NodeID {
	var out []wire.NodeID
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// sameSet compares two node lists as sets (nil and empty are equal).
func sameSet(a, b []wire.NodeID) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
