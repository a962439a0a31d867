package clustersim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/totem-gcs/totem/groups"
	"github.com/totem-gcs/totem/multicast/wire"
)

// The group view checker: the properties of process groups over a ring with EVS, checked
// over every session's log of plain data (its calls and what it was delivered), like the
// EVS checker over processors' logs.
//
// Log model. A session (a client of one incarnation of one processor) is identified by
// its PID, unique in the history; as a group member it is groups.Member{Node, Session:
// its handle, PID, Name}. Its log lists, in its own order, its calls (Open, Join, Leave,
// Multicast, Close), its end by its processor's crash, and the events it was delivered
// (views and messages). Every event has a Step: one counter over the whole run, so that
// events of different sessions and processors can be ordered in time (never used for
// anything the protocol's order decides). A delivered event also names its cause, the
// totem event whose delivery produced it (a message by ring and sequence number, or a
// configuration change), and the configuration its processor was in (an index into
// its incarnation's configurations).
//
// Identity. A message is identified by (sender PID, number). A view by ViewID: its
// cause, group, members and changes (who joined and left), and how many views of that
// group with those the same cause gave before it at that processor (processors that
// apply the same totem message to the same group table produce the same views). The
// views that end a sync barrier on either side of a merge have the same members but
// different changes: ViewID.loose compares them.

// GroupEventKind says what a GroupEvent records.
type GroupEventKind uint8

// The kinds of a session's events.
const (
	GOpen      GroupEventKind = iota + 1 // the session opened
	GJoinCall                            // it called Join(Group)
	GLeaveCall                           // it called Leave(Group)
	GSendCall                            // it multicast Msg to Group (Safe, Size)
	GCloseCall                           // it closed: nothing is delivered to it after
	GCrash                               // its processor crashed or left: it ends
	GView                                // it was delivered View of Group
	GMessage                             // it was delivered Msg of Group from Sender
)

var groupEventNames = [...]string{"", "open", "join", "leave", "send", "close", "crash", "view", "message"}

// String returns the kind's name.
func (k GroupEventKind) String() string {
	if int(k) < len(groupEventNames) && k > 0 {
		return groupEventNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// GMsgID is a group message's identity: its sender's PID and its number there, counted
// from 0 in send order.
type GMsgID struct{ PID, Seq uint32 }

// String returns the id as "pid#seq".
func (m GMsgID) String() string { return fmt.Sprintf("%d#%d", m.PID, m.Seq) }

// CauseKind says what kind of totem event a delivery came from.
type CauseKind uint8

// The causes of group events.
const (
	CauseMessage      CauseKind = iota + 1 // a totem message (Ring, Seq)
	CauseTransitional                      // a transitional configuration (Ring, Members)
	CauseRegular                           // a regular configuration (Ring)
)

// Cause is the totem event whose delivery produced a group event.
type Cause struct {
	Kind    CauseKind
	Ring    wire.RingID
	Seq     wire.Seq
	Members string // transitional: its members
}

// String returns the cause as "msg RING#SEQ", "transitional RING [MEMBERS]" or "regular RING".
func (c Cause) String() string {
	switch c.Kind {
	case CauseMessage:
		return fmt.Sprintf("msg %v#%d", c.Ring, c.Seq)
	case CauseTransitional:
		return fmt.Sprintf("transitional %v [%s]", c.Ring, c.Members)
	case CauseRegular:
		return fmt.Sprintf("regular %v", c.Ring)
	}
	return "no cause"
}

// ViewID identifies a view across sessions (see the log model).
type ViewID struct {
	Cause   Cause
	Group   string
	Members string // memberList of the view's members
	Changes string // changeList: those it adds and removes, with their reasons
	K       int
}

// loose is the view without its changes: at the end of a sync barrier both sides of a
// merge get a view with the same members but each its own changes (what is new to it).
func (v ViewID) loose() ViewID { return ViewID{Cause: v.Cause, Group: v.Group, Members: v.Members} }

// GroupEvent is one entry of a session's log.
type GroupEvent struct {
	Kind  GroupEventKind
	Step  int64
	At    time.Duration // simulated time; informational
	Group string
	Msg   GMsgID // SendCall, Message
	Safe  bool   // SendCall: requested; Message: as delivered
	Size  int    // SendCall, Message: the data's length
	// Message: the sender as the view named it, and whether the data is intact (the
	// filler its id implies).
	Sender groups.Member
	Intact bool
	View   *groups.View // View
	ViewID ViewID       // View
	// View, Message: the cause, and the configuration the processor was in (index into
	// its incarnation's Configs; -1 before any).
	Cause Cause
	Conf  int
}

// SessionLog is one session's identity and events.
type SessionLog struct {
	PID    uint32
	Node   wire.NodeID
	Inc    int // index into GroupHistory.Incarnations
	Handle uint32
	Name   string
	Events []GroupEvent
}

func (l *SessionLog) add(e GroupEvent) { l.Events = append(l.Events, e) }

// member is the session as a group lists it.
func (l *SessionLog) member() groups.Member {
	return groups.Member{Node: l.Node, Session: l.Handle, PID: l.PID, Name: l.Name}
}

// end is the step at which the session closed or crashed (max int64: open at the end).
func (l *SessionLog) end() int64 {
	for _, e := range slices.Backward(l.Events) {
		if e.Kind == GCloseCall || e.Kind == GCrash {
			return e.Step
		}
	}
	return 1<<63 - 1
}

// ConfID identifies a configuration as EVS does: a regular one by its ring, a
// transitional one by its ring and members.
type ConfID struct {
	Transitional bool
	Ring         wire.RingID
	Members      string
}

// ConfStep is a configuration a processor delivered, and when.
type ConfStep struct {
	ID      ConfID
	Members []wire.NodeID
	Step    int64
}

// IncarnationLog is one incarnation of a processor: its configurations in order, and
// the step it crashed at (0: running at the end).
type IncarnationLog struct {
	Node    wire.NodeID
	Index   int
	Configs []ConfStep
	End     int64
}

// installed reports whether the incarnation installed regular ring r.
func (inc *IncarnationLog) installed(r wire.RingID) bool {
	return slices.ContainsFunc(inc.Configs, func(c ConfStep) bool { return !c.ID.Transitional && c.ID.Ring == r })
}

// GroupHistory is what a run of the group simulation produced.
type GroupHistory struct {
	Seed         uint64
	Sessions     []*SessionLog // Sessions[i].PID == i+1
	Incarnations []*IncarnationLog
	// Final is every processor's group table at the end, when the run settled (one ring
	// of every processor, everything delivered); nil otherwise.
	Final map[wire.NodeID]map[string][]groups.Member
}

// GroupProperty names one checked group property.
type GroupProperty string

// The group properties (see CheckGroups for the rules as implemented).
const (
	GroupLogFormat     GroupProperty = "GV-0 log-format"
	GroupIntegrity     GroupProperty = "GV-1 integrity"
	GroupOrder         GroupProperty = "GV-2 view-order"
	GroupSynchrony     GroupProperty = "GV-3 virtual-synchrony"
	GroupNoReappear    GroupProperty = "GV-4 no-reappearance"
	GroupNoGhost       GroupProperty = "GV-5 no-ghost"
	GroupDeliveryScope GroupProperty = "GV-6 delivery-scope"
	GroupViewDiff      GroupProperty = "GV-7 view-difference"
	GroupSelfDelivery  GroupProperty = "GV-8 self-delivery"
	GroupSenderOrder   GroupProperty = "GV-9 sender-order"
	GroupFinalViews    GroupProperty = "GV-10 final-views"
)

// GroupViolation is one failure of one group property: the seed, the session whose log
// shows it (its node and name) and the group, and the two events in conflict (Second
// may be empty when the conflict is with a fact, such as the session's calls).
type GroupViolation struct {
	Property GroupProperty
	Seed     uint64
	Node     wire.NodeID
	Session  string
	Group    string
	Detail   string
	First    string
	Second   string
}

// String returns the violation on up to three lines.
func (v GroupViolation) String() string {
	s := fmt.Sprintf("%s: seed %d node %d session %s group %q: %s", v.Property, v.Seed, v.Node, v.Session, v.Group, v.Detail)
	if v.First != "" {
		s += "\n    " + v.First
	}
	if v.Second != "" {
		s += "\n    vs " + v.Second
	}
	return s
}

// CheckGroups checks a group history and returns every violation found, in the order of
// the properties. The rules, as implemented:
//
//	GV-1 integrity: a delivered message is intact, was multicast by the session its id
//	     names to the group it is delivered in, with that size and safe flag; the view's
//	     sender is that session (node, handle, PID, name); no session is delivered a
//	     message twice.
//	GV-2 view-order: two sessions deliver the events of a group they both deliver
//	     (views by ViewID, messages by id) in the same relative order: every member sees
//	     the same views in the same order relative to the messages.
//	GV-3 virtual-synchrony: two sessions that deliver the same two views V, W of a group
//	     consecutively deliver the same messages of the group between them.
//	GV-4 no-reappearance: once a session o has seen member X leave a group (reason leave
//	     or disconnect) k times in all, a later view of o lists X only if X had called
//	     Join on that group at least k+1 times by then.
//	GV-5 no-ghost: every member a view lists is a session that exists (PID, node,
//	     handle and name agree) and had called Join on the group before; its node is in
//	     the configuration the view is delivered in (for a view caused by a transitional
//	     configuration: in the regular configuration before it, whose table the view
//	     still reflects until the departed nodes are dropped); and for a view caused by a
//	     message, the member's incarnation installed the regular configuration (after the
//	     sync barrier, every member was announced on this ring by its node's current
//	     incarnation).
//	GV-6 delivery-scope: a message is delivered in a view (the session's last view of
//	     the group) that lists both the receiver and the sender; and a message delivered
//	     at o in configuration C is delivered to every member of o's view whose processor
//	     delivered C and then the same next configuration as o, unless the session closed
//	     or crashed before its processor delivered that next configuration. (Not views:
//	     the view that ends a sync barrier is each side's own difference, none if nothing
//	     is new to it.)
//	GV-7 view-difference: a session's first view of a group (since it last left it)
//	     lists it among Members and Joined; every later one has Joined = Members − previous
//	     Members and Left = previous Members − Members; a view that removes the session
//	     lists it in Left and not in Members, and ends the sequence; a view lists neither
//	     the session nor it leaving only in error. Members are sorted, without repeats.
//	GV-8 self-delivery: a session open at the end of a settled run is delivered each
//	     message it multicast exactly once.
//	GV-9 sender-order: a session is delivered one sender's messages in the order sent.
//	GV-10 final-views: in a settled run, every processor's table has for each group
//	     exactly the sessions open at the end whose last call on it was Join, and each of
//	     those sessions' last view of the group lists exactly them.
func CheckGroups(h GroupHistory) []GroupViolation {
	c := &groupChecker{h: h}
	c.index()
	for _, check := range []func(){
		c.checkIntegrity, c.checkOrder, c.checkSynchrony, c.checkNoReappear, c.checkNoGhost,
		c.checkDeliveryScope, c.checkViewDiff, c.checkSelfDelivery, c.checkSenderOrder, c.checkFinalViews,
	} {
		check()
	}
	return c.out
}

type groupChecker struct {
	h   GroupHistory
	out []GroupViolation
	// delivered[pid][key]: the index in pid's log of its delivery of the event.
	delivered map[uint32]map[eventKey]int
	// loose[pid]: the views pid was delivered, without their changes.
	loose map[uint32]map[ViewID]bool
	// byGroup[g]: the sessions delivered anything of g, in PID order.
	byGroup map[string][]*SessionLog
}

// eventKey identifies a delivered event across sessions.
type eventKey struct {
	view bool
	id   ViewID
	msg  GMsgID
}

func keyOf(e GroupEvent) eventKey {
	if e.Kind == GView {
		return eventKey{view: true, id: e.ViewID}
	}
	return eventKey{msg: e.Msg}
}

func (c *groupChecker) session(pid uint32) *SessionLog {
	if pid == 0 || int(pid) > len(c.h.Sessions) {
		return nil
	}
	return c.h.Sessions[pid-1]
}

func (c *groupChecker) index() {
	c.delivered = make(map[uint32]map[eventKey]int)
	c.byGroup = make(map[string][]*SessionLog)
	c.loose = make(map[uint32]map[ViewID]bool)
	for i, l := range c.h.Sessions {
		if l.PID != uint32(i+1) {
			c.report(GroupLogFormat, l, "", "session %d has PID %d", i+1, l.PID)
		}
		d := make(map[eventKey]int)
		c.delivered[l.PID] = d
		lv := make(map[ViewID]bool)
		c.loose[l.PID] = lv
		seen := map[string]bool{}
		for j, e := range l.Events {
			if e.Kind != GView && e.Kind != GMessage {
				continue
			}
			if e.Kind == GView && e.View == nil {
				c.report(GroupLogFormat, l, e.Group, "view event without a view: %s", c.describe(l, j))
				continue
			}
			k := keyOf(e)
			if e.Kind == GView {
				lv[e.ViewID.loose()] = true
			}
			if prev, dup := d[k]; dup {
				if e.Kind == GMessage {
					c.reportPair(GroupIntegrity, l, e.Group, "message delivered twice", c.describe(l, prev), c.describe(l, j))
				} else {
					c.reportPair(GroupLogFormat, l, e.Group, "two views with one id", c.describe(l, prev), c.describe(l, j))
				}
				continue
			}
			d[k] = j
			if !seen[e.Group] {
				seen[e.Group] = true
				c.byGroup[e.Group] = append(c.byGroup[e.Group], l)
			}
		}
	}
}

func (c *groupChecker) report(p GroupProperty, l *SessionLog, group, format string, args ...any) {
	c.out = append(c.out, GroupViolation{Property: p, Seed: c.h.Seed, Node: l.Node, Session: l.Name, Group: group, Detail: fmt.Sprintf(format, args...)})
}

func (c *groupChecker) reportPair(p GroupProperty, l *SessionLog, group, detail, first, second string) {
	c.out = append(c.out, GroupViolation{Property: p, Seed: c.h.Seed, Node: l.Node, Session: l.Name, Group: group, Detail: detail, First: first, Second: second})
}

// describe names event i of l's log and what it says.
func (c *groupChecker) describe(l *SessionLog, i int) string {
	e := l.Events[i]
	s := fmt.Sprintf("session %s (pid %d, node %d) event %d at %v step %d: %v", l.Name, l.PID, l.Node, i, e.At, e.Step, e.Kind)
	switch e.Kind {
	case GJoinCall, GLeaveCall:
		s += " " + e.Group
	case GSendCall:
		s += fmt.Sprintf(" %v to %s size %d safe %v", e.Msg, e.Group, e.Size, e.Safe)
	case GMessage:
		s += fmt.Sprintf(" %v of %s from %s size %d safe %v, %v", e.Msg, e.Group, memberString(e.Sender), e.Size, e.Safe, e.Cause)
	case GView:
		if e.View != nil {
			s += fmt.Sprintf(" %s [%s]", e.Group, memberNames(e.View.Members))
			for _, ch := range e.View.Joined {
				s += fmt.Sprintf(" +%s(%v)", memberString(ch.Member), ch.Reason)
			}
			for _, ch := range e.View.Left {
				s += fmt.Sprintf(" -%s(%v)", memberString(ch.Member), ch.Reason)
			}
		}
		s += ", " + e.Cause.String()
		if e.ViewID.K > 0 {
			s += fmt.Sprintf(" (#%d)", e.ViewID.K)
		}
	}
	return s
}

func memberString(m groups.Member) string { return fmt.Sprintf("%s/%d", m.Name, m.PID) }

func memberNames(ms []groups.Member) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = memberString(m)
	}
	return strings.Join(names, " ")
}

// memberList is a view's members as ViewID holds them.
func memberList(ms []groups.Member) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d:%d:%d", m.Node, m.Session, m.PID)
	}
	return b.String()
}

func hasPID(ms []groups.Member, pid uint32) bool {
	return slices.ContainsFunc(ms, func(m groups.Member) bool { return m.PID == pid })
}

func changesHave(cs []groups.Change, pid uint32) bool {
	return slices.ContainsFunc(cs, func(ch groups.Change) bool { return ch.Member.PID == pid })
}

// sendOf finds the Send call of message id in its sender's log.
func (c *groupChecker) sendOf(id GMsgID) (*SessionLog, int) {
	l := c.session(id.PID)
	if l == nil {
		return nil, -1
	}
	for i, e := range l.Events {
		if e.Kind == GSendCall && e.Msg == id {
			return l, i
		}
	}
	return l, -1
}

// GV-1.
func (c *groupChecker) checkIntegrity() {
	for _, l := range c.h.Sessions {
		for i, e := range l.Events {
			if e.Kind != GMessage {
				continue
			}
			sl, si := c.sendOf(e.Msg)
			switch {
			case !e.Intact:
				c.report(GroupIntegrity, l, e.Group, "damaged data: %s", c.describe(l, i))
			case si < 0:
				c.report(GroupIntegrity, l, e.Group, "a message nobody sent: %s", c.describe(l, i))
			default:
				s := sl.Events[si]
				if s.Group != e.Group || s.Size != e.Size || s.Safe != e.Safe {
					c.reportPair(GroupIntegrity, l, e.Group, "delivered otherwise than sent", c.describe(l, i), c.describe(sl, si))
				} else if e.Sender != sl.member() {
					c.reportPair(GroupIntegrity, l, e.Group, fmt.Sprintf("sender named %s, sent by %s", memberString(e.Sender), memberString(sl.member())),
						c.describe(l, i), c.describe(sl, si))
				}
			}
		}
	}
}

// groupEvents returns the indices of l's deliveries of group g.
func groupEvents(l *SessionLog, g string) []int {
	var out []int
	for i, e := range l.Events {
		if (e.Kind == GView || e.Kind == GMessage) && e.Group == g {
			out = append(out, i)
		}
	}
	return out
}

// GV-2: one report per pair of sessions and group.
func (c *groupChecker) checkOrder() {
	for _, g := range sortedGroupNames(c.byGroup) {
		ls := c.byGroup[g]
		evs := make([][]int, len(ls))
		for i, l := range ls {
			evs[i] = groupEvents(l, g)
		}
		for i, a := range ls {
			for j := i + 1; j < len(ls); j++ {
				b := ls[j]
				db := c.delivered[b.PID]
				var common []int // a's indices of events b delivered too, in a's order
				for _, ia := range evs[i] {
					if _, ok := db[keyOf(a.Events[ia])]; ok {
						common = append(common, ia)
					}
				}
				// b's deliveries of them must be increasing.
				last := -1
				for k, ia := range common {
					ib := db[keyOf(a.Events[ia])]
					if ib < last {
						c.reportPair(GroupOrder, a, g, fmt.Sprintf("delivered in the opposite order by %s", b.Name),
							c.describe(a, common[k-1])+" then "+c.describe(a, ia),
							c.describe(b, last)+" then "+c.describe(b, ib))
						break
					}
					last = ib
				}
			}
		}
	}
}

func sortedGroupNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for g := range m {
		names = append(names, g)
	}
	slices.Sort(names)
	return names
}

// GV-3.
func (c *groupChecker) checkSynchrony() {
	type pair struct{ v, w ViewID }
	type span struct {
		l      *SessionLog
		vi, wi int
		msgs   []GMsgID
	}
	for _, g := range sortedGroupNames(c.byGroup) {
		spans := map[pair]span{}
		var order []pair
		for _, l := range c.byGroup[g] {
			prev := -1
			var msgs []GMsgID
			for _, i := range groupEvents(l, g) {
				e := l.Events[i]
				if e.Kind == GMessage {
					msgs = append(msgs, e.Msg)
					continue
				}
				if prev >= 0 {
					p := pair{l.Events[prev].ViewID, e.ViewID}
					sort := slices.Clone(msgs)
					slices.SortFunc(sort, cmpMsg)
					if ref, ok := spans[p]; !ok {
						spans[p] = span{l, prev, i, sort}
						order = append(order, p)
					} else if !slices.Equal(ref.msgs, sort) {
						c.reportPair(GroupSynchrony, l, g,
							fmt.Sprintf("between the same two views: %s delivered %v, this session %v", ref.l.Name, msgDiff(ref.msgs, sort), msgDiff(sort, ref.msgs)),
							c.describe(l, prev)+" ... "+c.describe(l, i),
							c.describe(ref.l, ref.vi)+" ... "+c.describe(ref.l, ref.wi))
					}
				}
				prev, msgs = i, nil
				if changesHave(e.View.Left, l.PID) {
					prev = -1 // it left: the next view starts a new sequence
				}
			}
		}
	}
}

func cmpMsg(a, b GMsgID) int {
	if a.PID != b.PID {
		return int(a.PID) - int(b.PID)
	}
	return int(a.Seq) - int(b.Seq)
}

// msgDiff lists the messages of a not in b (both sorted), for reports.
func msgDiff(a, b []GMsgID) string {
	var out []string
	for _, m := range a {
		if _, ok := slices.BinarySearchFunc(b, m, cmpMsg); !ok {
			out = append(out, m.String())
		}
	}
	if len(out) == 0 {
		return "nothing more"
	}
	return strings.Join(out, " ") + " more"
}

// joinCalls counts l's Join calls on g before step.
func joinCalls(l *SessionLog, g string, step int64) int {
	n := 0
	for _, e := range l.Events {
		if e.Step >= step {
			break
		}
		if e.Kind == GJoinCall && e.Group == g {
			n++
		}
	}
	return n
}

// GV-4.
func (c *groupChecker) checkNoReappear() {
	for _, o := range c.h.Sessions {
		departures := map[string]map[uint32]int{}
		last := map[string]map[uint32]int{} // the view that counted the last departure
		for i, e := range o.Events {
			if e.Kind != GView || e.View == nil {
				continue
			}
			d, lv := departures[e.Group], last[e.Group]
			if d == nil {
				d, lv = map[uint32]int{}, map[uint32]int{}
				departures[e.Group], last[e.Group] = d, lv
			}
			for _, m := range e.View.Members {
				k := d[m.PID]
				if k == 0 {
					continue
				}
				x := c.session(m.PID)
				if x == nil {
					continue // GV-5's
				}
				if n := joinCalls(x, e.Group, e.Step); n < k+1 {
					c.reportPair(GroupNoReappear, o, e.Group,
						fmt.Sprintf("%s reappears after leaving %d times, with %d joins", memberString(m), k, n),
						c.describe(o, lv[m.PID]), c.describe(o, i))
					d[m.PID] = 0 // one report per departure
				}
			}
			for _, ch := range e.View.Left {
				if ch.Reason == groups.ReasonLeave || ch.Reason == groups.ReasonDisconnect {
					d[ch.Member.PID]++
					lv[ch.Member.PID] = i
				}
			}
		}
	}
}

// regularBefore returns the regular configuration at or before index i of inc's
// configurations.
func regularBefore(inc *IncarnationLog, i int) (ConfStep, bool) {
	for ; i >= 0; i-- {
		if !inc.Configs[i].ID.Transitional {
			return inc.Configs[i], true
		}
	}
	return ConfStep{}, false
}

// GV-5.
func (c *groupChecker) checkNoGhost() {
	for _, o := range c.h.Sessions {
		inc := c.h.Incarnations[o.Inc]
		for i, e := range o.Events {
			if e.Kind != GView || e.View == nil {
				continue
			}
			if e.Conf < 0 || e.Conf >= len(inc.Configs) {
				c.report(GroupLogFormat, o, e.Group, "view outside any configuration: %s", c.describe(o, i))
				continue
			}
			cur := inc.Configs[e.Conf]
			reg, hasReg := regularBefore(inc, e.Conf)
			for _, m := range e.View.Members {
				x := c.session(m.PID)
				var why string
				switch {
				case x == nil || x.member() != m:
					why = "no such session"
				case joinCalls(x, e.Group, e.Step) == 0:
					why = "it never called join"
				case e.Cause.Kind == CauseTransitional && hasReg && !slices.Contains(reg.Members, m.Node):
					why = fmt.Sprintf("its node is not in the regular configuration %v", reg.ID.Ring)
				case e.Cause.Kind != CauseTransitional && !slices.Contains(cur.Members, m.Node):
					why = fmt.Sprintf("its node is not in the configuration %v [%s]", cur.ID.Ring, cur.ID.Members)
				case e.Cause.Kind == CauseMessage && hasReg && !c.h.Incarnations[x.Inc].installed(reg.ID.Ring):
					why = fmt.Sprintf("its incarnation never installed ring %v", reg.ID.Ring)
				default:
					continue
				}
				second := ""
				if x != nil && len(x.Events) > 0 {
					second = c.describe(x, len(x.Events)-1) + " (its last event)"
				}
				c.reportPair(GroupNoGhost, o, e.Group, fmt.Sprintf("ghost member %s: %s", memberString(m), why), c.describe(o, i), second)
			}
		}
	}
}

// GV-6.
func (c *groupChecker) checkDeliveryScope() {
	for _, o := range c.h.Sessions {
		inc := c.h.Incarnations[o.Inc]
		views := map[string]int{} // the index of the session's current view of each group
		for i, e := range o.Events {
			var recipients []groups.Member
			switch e.Kind {
			case GView:
				if e.View == nil {
					continue
				}
				recipients = slices.Clone(e.View.Members)
				for _, ch := range e.View.Left {
					recipients = append(recipients, ch.Member)
				}
				views[e.Group] = i
				if changesHave(e.View.Left, o.PID) {
					delete(views, e.Group)
				}
			case GMessage:
				vi, ok := views[e.Group]
				if !ok {
					c.report(GroupDeliveryScope, o, e.Group, "message delivered outside any view of the group: %s", c.describe(o, i))
					continue
				}
				v := o.Events[vi].View
				switch {
				case !hasPID(v.Members, o.PID):
					c.reportPair(GroupDeliveryScope, o, e.Group, "receiver not in the view", c.describe(o, vi), c.describe(o, i))
				case !hasPID(v.Members, e.Sender.PID):
					c.reportPair(GroupDeliveryScope, o, e.Group, "sender not in the view", c.describe(o, vi), c.describe(o, i))
				}
				recipients = v.Members
			default:
				continue
			}
			if e.Conf < 0 || e.Conf+1 >= len(inc.Configs) {
				continue // open configuration: nothing owed
			}
			if e.Kind == GView {
				// Views differ between the sides of a merge: the view that ends a sync
				// barrier is each side's own difference (none, if nothing is new to it),
				// and one that did not complete leaves the tables different.
				continue
			}
			conf, next := inc.Configs[e.Conf], inc.Configs[e.Conf+1]
			k := keyOf(e)
			for _, m := range recipients {
				x := c.session(m.PID)
				if x == nil || x.PID == o.PID {
					continue
				}
				xinc := c.h.Incarnations[x.Inc]
				j := slices.IndexFunc(xinc.Configs, func(cs ConfStep) bool { return cs.ID == conf.ID })
				if j < 0 || j+1 >= len(xinc.Configs) || xinc.Configs[j+1].ID != next.ID || x.end() < xinc.Configs[j+1].Step {
					continue
				}
				got := false
				if e.Kind == GView {
					got = c.loose[x.PID][e.ViewID.loose()]
				} else {
					_, got = c.delivered[x.PID][k]
				}
				if !got {
					c.reportPair(GroupDeliveryScope, o, e.Group,
						fmt.Sprintf("member %s, whose node delivered the same configurations, did not get it", memberString(m)),
						c.describe(o, i), fmt.Sprintf("session %s: configurations %v then %v", x.Name, conf.ID, next.ID))
				}
			}
		}
	}
}

func memberKeys(ms []groups.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%d:%d:%d", m.Node, m.Session, m.PID)
	}
	slices.Sort(out)
	return out
}

func changeKeys(cs []groups.Change) []string {
	ms := make([]groups.Member, len(cs))
	for i, ch := range cs {
		ms[i] = ch.Member
	}
	return memberKeys(ms)
}

// minus returns the keys of a not in b (both sorted).
func minus(a, b []string) []string {
	var out []string
	for _, k := range a {
		if _, ok := slices.BinarySearch(b, k); !ok {
			out = append(out, k)
		}
	}
	return out
}

// GV-7.
func (c *groupChecker) checkViewDiff() {
	for _, o := range c.h.Sessions {
		prev := map[string]int{} // index of the previous view, while the session is in the group
		for i, e := range o.Events {
			if e.Kind != GView || e.View == nil {
				continue
			}
			v := e.View
			if !slices.IsSortedFunc(v.Members, cmpMemberKey) || len(slices.CompactFunc(slices.Clone(v.Members), func(a, b groups.Member) bool { return cmpMemberKey(a, b) == 0 })) != len(v.Members) {
				c.report(GroupViewDiff, o, e.Group, "members not sorted or repeated: %s", c.describe(o, i))
			}
			in, leaving := hasPID(v.Members, o.PID), changesHave(v.Left, o.PID)
			pi, had := prev[e.Group]
			mk, jk, lk := memberKeys(v.Members), changeKeys(v.Joined), changeKeys(v.Left)
			switch {
			case in && leaving:
				c.report(GroupViewDiff, o, e.Group, "the session both in the view and leaving it: %s", c.describe(o, i))
			case !in && !leaving:
				c.report(GroupViewDiff, o, e.Group, "a view for a session neither in it nor leaving it: %s", c.describe(o, i))
			case !had && leaving:
				c.report(GroupViewDiff, o, e.Group, "the session leaves a group it was not in: %s", c.describe(o, i))
			case !had:
				if !changesHave(v.Joined, o.PID) || len(minus(jk, mk)) > 0 || len(minus(lk, minus(lk, mk))) > 0 {
					c.report(GroupViewDiff, o, e.Group, "first view does not list the session joining, or its changes disagree with its members: %s", c.describe(o, i))
				}
			default:
				pk := memberKeys(o.Events[pi].View.Members)
				if !slices.Equal(jk, minus(mk, pk)) || !slices.Equal(lk, minus(pk, mk)) {
					c.reportPair(GroupViewDiff, o, e.Group,
						fmt.Sprintf("joined %v left %v, but the difference is joined %v left %v", jk, lk, minus(mk, pk), minus(pk, mk)),
						c.describe(o, pi), c.describe(o, i))
				}
			}
			if in {
				prev[e.Group] = i
			} else {
				delete(prev, e.Group)
			}
		}
	}
}

func cmpMemberKey(a, b groups.Member) int {
	if a.Node != b.Node {
		return int(a.Node) - int(b.Node)
	}
	return int(a.Session) - int(b.Session)
}

// survivor: the session was open at the end of a settled run.
func (c *groupChecker) survivor(l *SessionLog) bool {
	return c.h.Final != nil && l.end() == 1<<63-1 && c.h.Incarnations[l.Inc].End == 0
}

// GV-8.
func (c *groupChecker) checkSelfDelivery() {
	for _, l := range c.h.Sessions {
		c.checkSentBeforeLeave(l)
		if !c.survivor(l) {
			continue
		}
		for i, e := range l.Events {
			if e.Kind != GSendCall {
				continue
			}
			if _, ok := c.delivered[l.PID][eventKey{msg: e.Msg}]; !ok {
				c.report(GroupSelfDelivery, l, e.Group, "never delivered to its sender: %s", c.describe(l, i))
			}
		}
	}
}

// checkSentBeforeLeave is GV-8 for a session that left a group: its k-th Leave of the
// group came back to it as its k-th own leave view, and a sender's records keep their
// order, so every message it sent to the group between its (k-1)-th and k-th Leave
// calls came back to it before that view, whatever configurations changed meanwhile (a
// message multicast just before leaving is not lost).
func (c *groupChecker) checkSentBeforeLeave(l *SessionLog) {
	calls := map[string][]int{} // group -> indices of its Leave calls, in order
	views := map[string][]int{} // group -> indices of its own leave views, in order
	for i, e := range l.Events {
		switch {
		case e.Kind == GLeaveCall:
			calls[e.Group] = append(calls[e.Group], i)
		case e.Kind == GView && e.View != nil && slices.ContainsFunc(e.View.Left, func(ch groups.Change) bool {
			return ch.Member.PID == l.PID && ch.Reason == groups.ReasonLeave
		}):
			views[e.Group] = append(views[e.Group], i)
		}
	}
	for g, vs := range views {
		for k, j := range vs {
			if k >= len(calls[g]) {
				break // a leave view without its call: GV-7's to report
			}
			start := 0
			if k > 0 {
				start = calls[g][k-1]
			}
			for s := start; s < calls[g][k]; s++ {
				sent := l.Events[s]
				if sent.Kind != GSendCall || sent.Group != g {
					continue
				}
				if d, ok := c.delivered[l.PID][eventKey{msg: sent.Msg}]; !ok || d > j {
					c.reportPair(GroupSelfDelivery, l, g, "sent before leaving, not back to its sender before its leave view", c.describe(l, s), c.describe(l, j))
				}
			}
		}
	}
}

// GV-9.
func (c *groupChecker) checkSenderOrder() {
	for _, l := range c.h.Sessions {
		last := map[uint32]int{}
		for i, e := range l.Events {
			if e.Kind != GMessage {
				continue
			}
			if j, ok := last[e.Msg.PID]; ok && l.Events[j].Msg.Seq >= e.Msg.Seq {
				c.reportPair(GroupSenderOrder, l, e.Group, "one sender's messages out of order", c.describe(l, j), c.describe(l, i))
			}
			last[e.Msg.PID] = i
		}
	}
}

// GV-10.
func (c *groupChecker) checkFinalViews() {
	if c.h.Final == nil {
		return
	}
	names := map[string]bool{}
	want := map[string][]groups.Member{}
	for _, l := range c.h.Sessions {
		if !c.survivor(l) {
			continue
		}
		joined := map[string]bool{}
		for _, e := range l.Events {
			switch e.Kind {
			case GJoinCall:
				joined[e.Group] = true
			case GLeaveCall:
				delete(joined, e.Group)
			}
		}
		for g := range joined {
			want[g] = append(want[g], l.member())
			names[g] = true
		}
	}
	for _, t := range c.h.Final {
		for g := range t {
			names[g] = true
		}
	}
	nodes := make([]wire.NodeID, 0, len(c.h.Final))
	for id := range c.h.Final {
		nodes = append(nodes, id)
	}
	slices.Sort(nodes)
	for _, g := range sortedGroupNames(names) {
		w := want[g]
		slices.SortFunc(w, cmpMemberKey)
		wk := memberList(w)
		for _, id := range nodes {
			if got := c.h.Final[id][g]; memberList(got) != wk {
				c.out = append(c.out, GroupViolation{Property: GroupFinalViews, Seed: c.h.Seed, Node: id, Group: g,
					Detail: fmt.Sprintf("final table [%s], but the open sessions joined are [%s]", memberNames(got), memberNames(w))})
			}
		}
		for _, m := range w {
			l := c.session(m.PID)
			ev := groupEvents(l, g)
			lv := -1
			for _, i := range slices.Backward(ev) {
				if l.Events[i].Kind == GView {
					lv = i
					break
				}
			}
			if lv < 0 {
				c.report(GroupFinalViews, l, g, "joined and open at the end, but never delivered a view")
			} else if memberList(l.Events[lv].View.Members) != wk {
				c.reportPair(GroupFinalViews, l, g, fmt.Sprintf("last view is not the open sessions joined, [%s]", memberNames(w)), c.describe(l, lv), "")
			}
		}
	}
}
