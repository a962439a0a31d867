package clustersim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/totem-gcs/totem/groups"
	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/wire"
)

// The group simulation: the cluster simulation (same network, nemesis and seeds) with the
// whole stack on every processor. Each runs membership and a groups.Machine, driven as
// totem.Node drives them (feed, flush, deliver, applyGroups), and a seeded workload of
// sessions that open, join and leave a few groups, multicast agreed and safe messages of
// varied sizes (many larger than one payload, so that records fragment across totem
// messages and straddle configuration changes) and close. A crashed processor loses its
// sessions; a restarted one starts with none. Every session's calls and deliveries are
// logged, and the logs are checked against the group view properties (CheckGroups), the
// totem messages against EVS (CheckEVS) as in the cluster simulation.
//
// Each payload the simulation hands to membership is the group layer's payload behind a
// MsgID (payloadOf), which the simulation strips before groups.Machine.Deliver: it lets
// the EVS checker identify totem messages; the group layer never sees it.

// Group simulation parameters.
const (
	// groupBudget is the payload bytes of one totem message the group layer packs into.
	groupBudget = 1024
	// groupMaxMessage is the largest application message the workload sends: four
	// payloads' worth.
	groupMaxMessage = 4 * groupBudget
	// groupMaxSessions bounds the open sessions of one processor.
	groupMaxSessions = 4
	// groupMaxPendingRecords is the backpressure bound on records not yet packed (as
	// totem.Config.MaxPendingRecords).
	groupMaxPendingRecords = 64
	// groupSendAheadVisits is how many token visits' worth of payloads a processor keeps
	// queued at the ring (as totem's sendAheadVisits).
	groupSendAheadVisits = 4
)

// groupNames are the groups the workload uses: few, so that sessions share them.
var groupNames = []string{"a", "b", "c"}

// groupSim is the group layer of a Cluster: one gnode per processor, the workload's
// random source and the history.
type groupSim struct {
	rng     *rand.Rand
	nodes   map[wire.NodeID]*gnode
	hist    GroupHistory
	step    int64 // orders every logged event of the run
	nextPID uint32
	rsm     *rsmSim // when set, a replica on every processor (rsmsim.go)
}

// gnode is one processor's group layer in its current incarnation.
type gnode struct {
	g          *groups.Machine
	inc        *IncarnationLog
	sessions   []*simSession // open, in handle order
	nextHandle uint32
	members    int // members of the current regular configuration
	// cause is the totem event being delivered; views counts the views it gave so far,
	// by group, members and changes (ViewID.K).
	cause Cause
	views map[string]int
	// replica is the processor's rsm replica (replica simulation only).
	replica *simReplica
}

// simSession is one open session of the workload.
type simSession struct {
	handle uint32
	log    *SessionLog
	joined map[string]bool // as the session's calls left it
	seq    uint32          // next message number
}

func newGroupSim(seed uint64) *groupSim {
	return &groupSim{
		rng:   rand.New(rand.NewPCG(seed, 0x67726f75)),
		nodes: make(map[wire.NodeID]*gnode),
		hist:  GroupHistory{Seed: seed},
	}
}

func (gs *groupSim) nextStep() int64 {
	gs.step++
	return gs.step
}

// start gives a (re)started processor a fresh group layer and no sessions.
func (gs *groupSim) start(c *Cluster, n *cnode) error {
	g, err := groups.New(groups.Config{Self: n.id, Budget: groupBudget, MaxRecord: groupMaxMessage + groups.RecordOverhead})
	if err != nil {
		return err
	}
	inc := &IncarnationLog{Node: n.id, Index: len(gs.hist.Incarnations)}
	gs.hist.Incarnations = append(gs.hist.Incarnations, inc)
	gn := &gnode{g: g, inc: inc, members: 1}
	gs.nodes[n.id] = gn
	if gs.rsm != nil {
		return gs.startReplica(c, n, gn)
	}
	return nil
}

// crash ends a processor's sessions: they vanish with it, without a close.
func (gs *groupSim) crash(c *Cluster, n *cnode) {
	gn := gs.nodes[n.id]
	step := gs.nextStep()
	gn.inc.End = step
	for _, s := range gn.sessions {
		s.log.add(GroupEvent{Kind: GCrash, Step: step, At: c.now})
	}
	gn.sessions = nil
	if gn.replica != nil {
		gn.replica = nil // its operations waiting for an answer get none
		gs.replicaGone(c)
	}
}

// flush acts on a processor's outputs until there are none, as totem.Node.flush does:
// feed the ring, take membership's Ready, send, deliver each event to the group layer
// and do what the group layer asks.
func (gs *groupSim) flush(c *Cluster, n *cnode) {
	gn := gs.nodes[n.id]
	for range 64 {
		gs.feed(c, n, gn)
		if !c.actOn(n, n.m.Ready(), func(ev membership.Event) { gs.deliver(c, n, gn, ev) }) {
			return
		}
	}
}

// sendAhead is how many payloads a processor keeps queued at the ring (totem's
// sendAhead, with the simulation's ring configuration).
func (gs *groupSim) sendAhead(c *Cluster, n *cnode, gn *gnode) (ahead, visit int) {
	rc := c.p.Config(n.id).Ring
	visit = min(rc.MaxMessages, max(1, (rc.WindowSize+gn.members-1)/max(gn.members, 1)))
	return min(rc.SendQueueMax, groupSendAheadVisits*visit), visit
}

// feed moves packed payloads to the ring as totem.Node.feed does: while fewer than
// sendAhead are queued there, and while a visit's worth is queued only full ones.
func (gs *groupSim) feed(c *Cluster, n *cnode, gn *gnode) {
	limit := c.p.Config(n.id).Ring.SendQueueMax
	ahead, visit := gs.sendAhead(c, n, gn)
	for range limit {
		queued := limit - n.m.QueueSpace()
		if queued >= ahead || queued >= visit && gn.g.PendingBytes() < groupBudget {
			return
		}
		p, g, ok := gn.g.NextPayload()
		if !ok {
			return
		}
		if err := n.m.Submit(c.now, gs.stamp(c, n, p, g), g); err != nil {
			if !errors.Is(err, membership.ErrLeft) { // leaving (ActLeave): it stops now
				c.fail("node %d: submit: %v", n.id, err)
			}
			return
		}
	}
}

// stamp puts the next MsgID of n in front of payload p and logs its Send.
func (gs *groupSim) stamp(c *Cluster, n *cnode, p []byte, g wire.Guarantee) []byte {
	id := MsgID{Origin: n.id, Counter: n.counter}
	n.counter++
	n.log = append(n.log, Event{Kind: EventSend, Msg: id, Safe: g == wire.Safe, Ring: n.conf, At: c.now})
	return append(payloadOf(id), p...)
}

// packerFull is totem.Node.packerFull: beyond it a multicast waits.
func (gs *groupSim) packerFull(c *Cluster, n *cnode, gn *gnode) bool {
	ahead, _ := gs.sendAhead(c, n, gn)
	return gn.g.Pending() >= groupMaxPendingRecords || gn.g.PendingBytes() >= groupBudget*ahead
}

// deliver hands one membership event to the group layer (totem.Node.deliver).
func (gs *groupSim) deliver(c *Cluster, n *cnode, gn *gnode, ev membership.Event) {
	gn.views = map[string]int{}
	if cf := ev.Config; cf != nil {
		gn.cause = Cause{Kind: CauseRegular, Ring: cf.Ring}
		if cf.Transitional {
			gn.cause = Cause{Kind: CauseTransitional, Ring: cf.Ring, Members: nodeList(cf.Members)}
		} else {
			gn.members = len(cf.Members)
		}
		gn.inc.Configs = append(gn.inc.Configs, ConfStep{
			ID:      ConfID{Transitional: cf.Transitional, Ring: cf.Ring, Members: nodeList(cf.Members)},
			Members: slices.Clone(cf.Members), Step: gs.nextStep(),
		})
		if err := gn.g.ConfigChange(cf); err != nil {
			c.fail("node %d: configuration change: %v", n.id, err)
		}
	} else {
		gn.cause = Cause{Kind: CauseMessage, Ring: ev.Msg.Ring, Seq: ev.Msg.Seq}
		p := ev.Msg.Payload
		if len(p) < msgIDLen {
			c.fail("node %d: delivered a payload without its id: %x", n.id, p)
			return
		}
		gn.g.Deliver(ev.Msg.Origin, p[msgIDLen:])
	}
	gs.applyGroups(c, n, gn)
}

// applyGroups does what the group layer's Ready asks (totem.Node.applyGroups): take back
// the ring's unsent payloads, put the announcement first, deliver to the sessions.
func (gs *groupSim) applyGroups(c *Cluster, n *cnode, gn *gnode) {
	rd := gn.g.Ready()
	for _, err := range rd.Drops {
		c.fail("node %d: group layer dropped a record: %v", n.id, err)
	}
	if rd.TakeBack {
		// Payloads taken back were never sent: their Sends leave the EVS log.
		for _, p := range n.m.TakePending() {
			id, ok := msgIDOf(p.Payload[:min(len(p.Payload), msgIDLen)])
			if !ok {
				c.fail("node %d: took back a payload without its id", n.id)
				continue
			}
			i := slices.IndexFunc(n.log, func(e Event) bool { return e.Kind == EventSend && e.Msg == id })
			if i < 0 {
				c.fail("node %d: took back %v, never sent", n.id, id)
				continue
			}
			n.log = slices.Delete(n.log, i, i+1)
		}
	}
	// Ids in queue order, submitted last first: each SubmitFirst goes in front.
	first := make([][]byte, len(rd.First))
	for i, p := range rd.First {
		first[i] = gs.stamp(c, n, p, wire.Agreed)
	}
	for i := len(first) - 1; i >= 0; i-- {
		if err := n.m.SubmitFirst(c.now, first[i], wire.Agreed); err != nil && !errors.Is(err, membership.ErrLeft) {
			c.fail("node %d: submit first: %v", n.id, err)
		}
	}
	// A view is delivered to every local member (and leaver) as the same *View; each
	// gets its id once: K counts this cause's earlier views of the group with the same
	// members and changes at this node.
	ids := map[*groups.View]ViewID{}
	for _, d := range rd.Deliveries {
		if gn.replica != nil && d.Session == gn.replica.handle {
			gs.stepReplica(c, n, gn, d.Event)
			continue
		}
		s := gn.session(d.Session)
		if s == nil {
			c.fail("node %d: delivery to session %d, which is not open", n.id, d.Session)
			continue
		}
		e := GroupEvent{Step: gs.nextStep(), At: c.now, Group: d.Event.Group, Conf: len(gn.inc.Configs) - 1, Cause: gn.cause}
		if v := d.Event.View; v != nil {
			id, ok := ids[v]
			if !ok {
				id = ViewID{Cause: gn.cause, Group: v.Group, Members: memberList(v.Members), Changes: changeList(v)}
				key := id.Group + "/" + id.Members + "/" + id.Changes
				id.K = gn.views[key]
				gn.views[key]++
				ids[v] = id
			}
			e.Kind, e.View, e.ViewID = GView, cloneView(v), id
		} else {
			e.Kind, e.Sender, e.Safe, e.Size = GMessage, d.Event.Sender, d.Event.Safe, len(d.Event.Data)
			e.Msg, e.Intact = readMessage(d.Event.Data)
		}
		s.log.add(e)
	}
}

func (gn *gnode) session(h uint32) *simSession {
	i, ok := slices.BinarySearchFunc(gn.sessions, h, func(s *simSession, h uint32) int { return int(s.handle) - int(h) })
	if !ok {
		return nil
	}
	return gn.sessions[i]
}

func cloneView(v *groups.View) *groups.View {
	return &groups.View{Group: v.Group, Members: slices.Clone(v.Members), Joined: slices.Clone(v.Joined), Left: slices.Clone(v.Left)}
}

// A message's data: its id (the sender's PID and the message's number) and filler
// derived from it, so that a receiver can tell an intact message from a damaged one.
func messageData(id GMsgID, size int) []byte {
	b := binary.BigEndian.AppendUint32(nil, id.PID)
	b = binary.BigEndian.AppendUint32(b, id.Seq)
	for i := len(b); i < size; i++ {
		b = append(b, filler(id, i))
	}
	return b
}

func filler(id GMsgID, i int) byte { return byte(id.PID*31 + id.Seq*7 + uint32(i)) }

func readMessage(b []byte) (GMsgID, bool) {
	if len(b) < 8 {
		return GMsgID{}, false
	}
	id := GMsgID{PID: binary.BigEndian.Uint32(b), Seq: binary.BigEndian.Uint32(b[4:])}
	for i := 8; i < len(b); i++ {
		if b[i] != filler(id, i) {
			return id, false
		}
	}
	return id, true
}

// messageSize draws a message size: mostly small, often several hundred bytes, and one
// in five larger than a payload (up to four of them).
func (gs *groupSim) messageSize() int {
	switch k := gs.rng.IntN(10); {
	case k < 5:
		return 8 + gs.rng.IntN(64)
	case k < 8:
		return 100 + gs.rng.IntN(800)
	default:
		return groupBudget + gs.rng.IntN(groupMaxMessage-groupBudget)
	}
}

// workload runs one step of a processor's sessions, then flushes as totem.Node does after
// each request: open a session, close one, join or leave a group, or (most often)
// multicast to a joined group, agreed or safe. A multicast the group layer has no room
// for waits (backpressure) and is tried again shortly.
func (gs *groupSim) workload(c *Cluster, n *cnode) {
	gn := gs.nodes[n.id]
	n.nextSend = c.now + c.interval()
	if gs.rsm != nil && gs.rng.IntN(3) == 0 {
		if gs.rng.IntN(4) == 0 {
			gs.read(n, gn)
		} else {
			gs.propose(c, n, gn)
		}
		c.flush(n)
		return
	}
	k := gs.rng.IntN(100)
	switch {
	case len(gn.sessions) == 0 || k < 4 && len(gn.sessions) < groupMaxSessions:
		gs.open(c, n, gn)
	case k < 7:
		s := gn.sessions[gs.rng.IntN(len(gn.sessions))]
		s.log.add(GroupEvent{Kind: GCloseCall, Step: gs.nextStep(), At: c.now})
		gn.g.Close(s.handle)
		gn.sessions = slices.DeleteFunc(gn.sessions, func(x *simSession) bool { return x == s })
	case k < 20:
		s := gn.sessions[gs.rng.IntN(len(gn.sessions))]
		g := groupNames[gs.rng.IntN(len(groupNames))]
		if s.joined[g] {
			if err := gn.g.Leave(s.handle, g); err != nil {
				c.fail("node %d session %d: leave %s: %v", n.id, s.handle, g, err)
			}
			delete(s.joined, g)
			s.log.add(GroupEvent{Kind: GLeaveCall, Step: gs.nextStep(), At: c.now, Group: g})
		} else {
			if err := gn.g.Join(s.handle, g); err != nil {
				c.fail("node %d session %d: join %s: %v", n.id, s.handle, g, err)
			}
			s.joined[g] = true
			s.log.add(GroupEvent{Kind: GJoinCall, Step: gs.nextStep(), At: c.now, Group: g})
		}
	default:
		s := gn.sessions[gs.rng.IntN(len(gn.sessions))]
		var joined []string
		for _, g := range groupNames {
			if s.joined[g] {
				joined = append(joined, g)
			}
		}
		if len(joined) == 0 {
			break
		}
		if gs.packerFull(c, n, gn) {
			n.nextSend = c.now + 10*time.Millisecond
			break
		}
		g := joined[gs.rng.IntN(len(joined))]
		id := GMsgID{PID: s.log.PID, Seq: s.seq}
		size := gs.messageSize()
		safe := gs.rng.Float64() < c.p.Safe
		if err := gn.g.Multicast(s.handle, g, messageData(id, size), safe); err != nil {
			c.fail("node %d session %d: multicast to %s: %v", n.id, s.handle, g, err)
			break
		}
		s.seq++
		s.log.add(GroupEvent{Kind: GSendCall, Step: gs.nextStep(), At: c.now, Group: g, Msg: id, Safe: safe, Size: size})
	}
	c.flush(n)
}

// open starts a session: handles count from 1 in every incarnation, as totem.Node's do;
// the PID is unique in the run and the name names node, incarnation and handle.
func (gs *groupSim) open(c *Cluster, n *cnode, gn *gnode) {
	gn.nextHandle++
	gs.nextPID++
	l := &SessionLog{PID: gs.nextPID, Node: n.id, Inc: gn.inc.Index, Handle: gn.nextHandle,
		Name: fmt.Sprintf("n%d.i%d.s%d", n.id, gn.inc.Index, gn.nextHandle)}
	gs.hist.Sessions = append(gs.hist.Sessions, l)
	l.add(GroupEvent{Kind: GOpen, Step: gs.nextStep(), At: c.now})
	gn.g.Open(l.Handle, l.PID, l.Name)
	gn.sessions = append(gn.sessions, &simSession{handle: l.Handle, log: l, joined: map[string]bool{}})
}

// settled: every processor's group layer has packed everything, and every processor has
// delivered every message sequenced on the ring (the cluster checks each processor's own
// view of the ring: a message still on the wire to one of them would be missed, and
// with it, for the final-views check, the end of a sync barrier).
func (gs *groupSim) settled(c *Cluster) bool {
	for _, gn := range gs.nodes {
		if gn.g.Pending() != 0 {
			return false
		}
	}
	var high wire.Seq
	for _, n := range c.nodes {
		st, ok := n.m.RingStatus()
		if !ok {
			return false
		}
		high = max(high, st.HighSeq)
	}
	for _, n := range c.nodes {
		if st, _ := n.m.RingStatus(); st.HighDelivered != high {
			return false
		}
	}
	return gs.rsm == nil || gs.replicasQuiet(c)
}

// GroupResult is the outcome of one run of the group simulation.
type GroupResult struct {
	ClusterResult
	Groups          GroupHistory
	GroupViolations []GroupViolation
	Sessions        int // sessions opened
	Messages        int // message deliveries to sessions
	Views           int // view deliveries to sessions
	Fragmented      int // messages sent larger than one payload
}

// Failed reports whether the run violated anything.
func (r GroupResult) Failed() bool { return r.ClusterResult.Failed() || len(r.GroupViolations) > 0 }

// Report describes a failed run: the cluster report, then the group violations.
func (r GroupResult) Report(tail int) string {
	var b strings.Builder
	b.WriteString(r.ClusterResult.Report(tail))
	writeViolations(&b, "group violations", r.GroupViolations)
	return b.String()
}

// RunGroupCluster runs one seed of the group simulation and checks its history against
// EVS and the group view properties.
func RunGroupCluster(seed uint64, p ClusterParams) GroupResult {
	return runGroups(seed, p, newGroupSim(seed))
}

func runGroups(seed uint64, p ClusterParams, gs *groupSim) GroupResult {
	c, err := newCluster(seed, p, gs)
	if err != nil {
		return GroupResult{ClusterResult: ClusterResult{Seed: seed, Params: p, Err: err}}
	}
	c.run()
	res := GroupResult{ClusterResult: c.result(), Groups: gs.hist}
	if c.err == nil {
		// Settled: the final tables are the reference of the final-views check (of the
		// workload's groups; the replicas' group has no session logs).
		res.Groups.Final = make(map[wire.NodeID]map[string][]groups.Member)
		for id, gn := range gs.nodes {
			table, _ := gn.g.Groups()
			final := make(map[string][]groups.Member, len(table))
			for g, ms := range table {
				if g != rsmGroup {
					final[g] = slices.Clone(ms)
				}
			}
			res.Groups.Final[id] = final
		}
		if gs.rsm != nil {
			gs.finalReplicas(c)
		}
	}
	res.Sessions = len(res.Groups.Sessions)
	for _, l := range res.Groups.Sessions {
		for _, e := range l.Events {
			switch {
			case e.Kind == GMessage:
				res.Messages++
			case e.Kind == GView:
				res.Views++
			case e.Kind == GSendCall && e.Size > groupBudget:
				res.Fragmented++
			}
		}
	}
	res.GroupViolations = CheckGroups(res.Groups)
	return res
}

func nodeList(ids []wire.NodeID) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, uint32(id))
	}
	return b.String()
}

// changeList writes a view's changes with their reasons, joined then left, each sorted:
// two views that add the same member for different reasons (its node's announcement at a
// merge, its own join record held by the barrier) are different views.
func changeList(v *groups.View) string {
	var parts []string
	for _, side := range []struct {
		sign string
		cs   []groups.Change
	}{{"+", v.Joined}, {"-", v.Left}} {
		cs := slices.Clone(side.cs)
		slices.SortFunc(cs, func(a, b groups.Change) int { return cmpMemberKey(a.Member, b.Member) })
		for _, c := range cs {
			parts = append(parts, fmt.Sprintf("%s%d:%d:%d(%v)", side.sign, c.Member.Node, c.Member.Session, c.Member.PID, c.Reason))
		}
	}
	return strings.Join(parts, ",")
}
