package groups

import (
	"slices"

	"github.com/totem-gcs/totem/multicast/wire"
)

// groupEvent is what the group table produces: a view change or a message for the
// members of one group, in total order.
type groupEvent struct {
	group  string
	view   *View
	sender Member
	safe   bool
	data   []byte
	// members: a message's recipients, the group's members when it was applied (a view's
	// are its Members and Left). The table never modifies a members slice in place (see
	// change), so this is the table's own, unchanged by later records.
	members []Member
}

// groupTable is the replicated state of every group: identical on every node of a
// configuration because it changes only at records and configuration changes, delivered
// in the same order everywhere. It is pure.
type groupTable struct {
	groups  map[string][]Member // sorted members
	version uint64              // counts changes, so that readers copy only new states
	round   *syncRound          // between a regular configuration and its last sync record
	// nodes is the current configuration's members (nil before the first): a record from
	// any other node is ignored. A transitional configuration may still deliver messages
	// of the nodes that left (EVS), after their members were dropped: a join or an
	// announcement among them would bring back members of a node no longer here, and
	// nothing would remove them (each later announcement replaces only its own node's).
	nodes []wire.NodeID
}

// syncRound is the barrier after a regular configuration. Every member announces its
// local members (a sync record, the first thing it sends on the new ring); until the
// last of them is delivered, every other record is held, in order. Then each group
// gets one view, computed from all the announcements at once, and the held records are
// applied after it. So after a merge every member sees the same single view at the
// same point of the order, and delivers each message in the same view as every other
// member (applying announcements one by one gave the two sides different intermediate
// views, and a message sent just after the merge was delivered in different views).
type syncRound struct {
	waiting []wire.NodeID // members whose sync record has not been delivered yet
	entries map[wire.NodeID][]syncEntry
	held    []heldRecord
}

type heldRecord struct {
	origin wire.NodeID
	rec    *record
}

// beginSync starts the barrier of a regular configuration of members.
func (t *groupTable) beginSync(members []wire.NodeID) []groupEvent {
	out := t.endSync()
	t.round = &syncRound{waiting: slices.Clone(members), entries: make(map[wire.NodeID][]syncEntry)}
	t.nodes = slices.Clone(members)
	return out
}

// endSync ends the barrier: with every announcement once all are in, or, at the next
// transitional configuration, with those that arrived (the members whose record did
// not are dropped there or announce again at the next regular configuration).
func (t *groupTable) endSync() []groupEvent {
	r := t.round
	if r == nil {
		return nil
	}
	t.round = nil
	out := t.syncAll(r.entries)
	for _, h := range r.held {
		out = append(out, t.apply(h.origin, h.rec)...)
	}
	return out
}

func newGroupTable() *groupTable { return &groupTable{groups: make(map[string][]Member)} }

func (t *groupTable) members(group string) []Member { return t.groups[group] }

func (t *groupTable) find(group string, k memberKey) (int, bool) {
	return slices.BinarySearchFunc(t.groups[group], Member{Node: k.node, Session: k.session}, cmpMember)
}

// apply handles one record from node origin.
func (t *groupTable) apply(origin wire.NodeID, r *record) []groupEvent {
	if t.nodes != nil && !slices.Contains(t.nodes, origin) {
		return nil // a node that left: see nodes
	}
	if t.round != nil {
		if i := slices.Index(t.round.waiting, origin); i >= 0 && r.Kind == recSync {
			t.round.entries[origin] = r.Sync
			t.round.waiting = slices.Delete(t.round.waiting, i, i+1)
			if len(t.round.waiting) == 0 {
				return t.endSync()
			}
			return nil
		}
		t.round.held = append(t.round.held, heldRecord{origin, r})
		return nil
	}
	m := Member{Node: origin, Session: r.Session, PID: r.PID, Name: r.Name}
	switch r.Kind {
	case recJoin:
		return t.change(r.Group, []Change{{m, ReasonJoin}}, nil)
	case recLeave:
		if i, ok := t.find(r.Group, m.key()); ok {
			m = t.groups[r.Group][i]
			return t.change(r.Group, nil, []Change{{m, r.Reason}})
		}
	case recData:
		i, ok := t.find(r.Group, m.key())
		if !ok {
			return nil // not a member (left, or never joined): dropped everywhere alike
		}
		ms := t.groups[r.Group]
		return []groupEvent{{group: r.Group, sender: ms[i], safe: r.Safe, data: r.Data, members: ms}}
	case recSync:
		return t.syncAll(map[wire.NodeID][]syncEntry{origin: r.Sync})
	}
	return nil
}

// change adds and removes members of one group and returns the view, if anything changed.
// It works on a copy: a members slice, once in the table, is never modified, so that
// events already produced keep the recipients they had (several records are applied
// before their events are routed at the end of a sync barrier).
func (t *groupTable) change(group string, joined, left []Change) []groupEvent {
	ms := slices.Clone(t.groups[group])
	var v View
	for _, c := range left {
		if i, ok := slices.BinarySearchFunc(ms, c.Member, cmpMember); ok {
			ms = slices.Delete(ms, i, i+1)
			v.Left = append(v.Left, c)
		}
	}
	for _, c := range joined {
		if i, ok := slices.BinarySearchFunc(ms, c.Member, cmpMember); !ok {
			ms = slices.Insert(ms, i, c.Member)
			v.Joined = append(v.Joined, c)
		}
	}
	if len(v.Joined)+len(v.Left) == 0 {
		return nil
	}
	if len(ms) == 0 {
		delete(t.groups, group)
	} else {
		t.groups[group] = ms
	}
	t.version++
	v.Group, v.Members = group, slices.Clone(ms)
	return []groupEvent{{group: group, view: &v}}
}

// sortedGroups returns the group names in order, so that events come out
// deterministically.
func (t *groupTable) sortedGroups() []string {
	names := make([]string, 0, len(t.groups))
	for g := range t.groups {
		names = append(names, g)
	}
	slices.Sort(names)
	return names
}

// dropNodes removes every member of a node not in keep (a transitional configuration).
func (t *groupTable) dropNodes(keep []wire.NodeID) []groupEvent {
	t.nodes = slices.Clone(keep)
	var out []groupEvent
	for _, g := range t.sortedGroups() {
		var left []Change
		for _, m := range t.groups[g] {
			if !slices.Contains(keep, m.Node) {
				left = append(left, Change{m, ReasonNodeDown})
			}
		}
		out = append(out, t.change(g, nil, left)...)
	}
	return out
}

// syncAll makes each origin's members exactly those it reports, in one view per group:
// after a merge, this is how each side learns the other's members.
func (t *groupTable) syncAll(reports map[wire.NodeID][]syncEntry) []groupEvent {
	if len(reports) == 0 {
		return nil
	}
	byGroup := make(map[string][]Member)
	for origin, entries := range reports {
		for _, e := range entries {
			byGroup[e.Group] = append(byGroup[e.Group], Member{Node: origin, Session: e.Session, PID: e.PID, Name: e.Name})
		}
	}
	names := t.sortedGroups()
	for g := range byGroup {
		if _, ok := t.groups[g]; !ok {
			names = append(names, g)
		}
	}
	slices.Sort(names)
	var out []groupEvent
	for _, g := range slices.Compact(names) {
		var joined, left []Change
		reported := byGroup[g]
		slices.SortFunc(reported, cmpMember)
		for _, m := range t.groups[g] {
			if _, synced := reports[m.Node]; synced && !slices.ContainsFunc(reported, func(r Member) bool { return r.key() == m.key() }) {
				left = append(left, Change{m, ReasonDisconnect})
			}
		}
		for _, m := range reported {
			joined = append(joined, Change{m, ReasonNodeUp})
		}
		out = append(out, t.change(g, joined, left)...)
	}
	return out
}
