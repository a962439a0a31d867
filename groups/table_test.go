package groups

import (
	"slices"
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

func views(evs []groupEvent) []*View {
	var out []*View
	for _, e := range evs {
		if e.view != nil {
			out = append(out, e.view)
		}
	}
	return out
}

func keys(ms []Member) []memberKey {
	var out []memberKey
	for _, m := range ms {
		out = append(out, m.key())
	}
	return out
}

func TestGroupTableJoinLeaveAndMessages(t *testing.T) {
	tb := newGroupTable()
	v := views(tb.apply(1, &record{Kind: recJoin, Group: "g", Session: 7, PID: 70, Name: "a"}))
	if len(v) != 1 || len(v[0].Joined) != 1 || v[0].Joined[0].Reason != ReasonJoin {
		t.Fatalf("join: views %+v, want one with a join", v)
	}
	tb.apply(2, &record{Kind: recJoin, Group: "g", Session: 1})
	if got := keys(tb.members("g")); !slices.Equal(got, []memberKey{{1, 7}, {2, 1}}) {
		t.Fatalf("members %v, want sorted by node then session", got)
	}
	if evs := tb.apply(1, &record{Kind: recJoin, Group: "g", Session: 7}); evs != nil {
		t.Fatalf("duplicate join produced %v, want nothing", evs)
	}
	msg := tb.apply(2, &record{Kind: recData, Group: "g", Session: 1, Data: []byte("hi"), Safe: true})
	if len(msg) != 1 || string(msg[0].data) != "hi" || !msg[0].safe || msg[0].sender.Node != 2 {
		t.Fatalf("message event %+v", msg)
	}
	if evs := tb.apply(3, &record{Kind: recData, Group: "g", Session: 1, Data: []byte("x")}); evs != nil {
		t.Fatalf("message from a non-member delivered: %+v", evs)
	}
	v = views(tb.apply(1, &record{Kind: recLeave, Group: "g", Session: 7, Reason: ReasonDisconnect}))
	if len(v) != 1 || v[0].Left[0].Reason != ReasonDisconnect || v[0].Left[0].Member.Name != "a" {
		t.Fatalf("leave: %+v, want the member (with its name) and reason disconnect", v)
	}
}

func TestGroupTableDropsMembersOfDepartedNodes(t *testing.T) {
	tb := newGroupTable()
	for node := wire.NodeID(1); node <= 3; node++ {
		tb.apply(node, &record{Kind: recJoin, Group: "a", Session: 1})
		tb.apply(node, &record{Kind: recJoin, Group: "b", Session: 1})
	}
	v := views(tb.dropNodes([]wire.NodeID{1, 2}))
	if len(v) != 2 || v[0].Group != "a" || v[1].Group != "b" {
		t.Fatalf("views %+v, want one per group in name order", v)
	}
	for _, view := range v {
		if len(view.Left) != 1 || view.Left[0].Member.Node != 3 || view.Left[0].Reason != ReasonNodeDown {
			t.Fatalf("group %s left %+v, want node 3 with reason node-down", view.Group, view.Left)
		}
	}
}

func TestGroupTableSyncMakesANodesMembersExact(t *testing.T) {
	tb := newGroupTable()
	tb.apply(1, &record{Kind: recJoin, Group: "g", Session: 1})
	tb.apply(2, &record{Kind: recJoin, Group: "g", Session: 5})
	// Node 2 reports session 6 (unknown here) and no longer session 5.
	v := views(tb.apply(2, &record{Kind: recSync, Sync: []syncEntry{{Group: "g", Session: 6}, {Group: "h", Session: 6}}}))
	if len(v) != 2 {
		t.Fatalf("views %+v, want changes in g and h", v)
	}
	if got := keys(tb.members("g")); !slices.Equal(got, []memberKey{{1, 1}, {2, 6}}) {
		t.Fatalf("g members %v", got)
	}
	if v[0].Joined[0].Reason != ReasonNodeUp || v[0].Left[0].Reason != ReasonDisconnect {
		t.Fatalf("g view %+v, want joined node-up and left disconnect", v[0])
	}
	if evs := tb.apply(2, &record{Kind: recSync, Sync: []syncEntry{{Group: "g", Session: 6}, {Group: "h", Session: 6}}}); evs != nil {
		t.Fatalf("repeated sync changed something: %+v", evs)
	}
}

// After a merge each side learns the other's members from their announcements. Until
// the last member's is delivered every record waits; then each group gets one view
// with everything, the same at every node, and the records that waited follow it.
func TestGroupTableSyncBarrierGivesOneViewPerMerge(t *testing.T) {
	side := func(nodes ...wire.NodeID) *groupTable { // one side of a partition
		tb := newGroupTable()
		for _, n := range nodes {
			tb.apply(n, &record{Kind: recJoin, Group: "g", Session: 1})
		}
		return tb
	}
	announce := func() *record { // each node announces its session 1
		return &record{Kind: recSync, Sync: []syncEntry{{Group: "g", Session: 1}}}
	}
	// The merged ring delivers, in this order: 1's announcement, a message from 1, then
	// the announcements of 3, 2 and 4.
	order := []struct {
		from wire.NodeID
		rec  *record
	}{
		{1, announce()}, {1, &record{Kind: recData, Group: "g", Session: 1, Data: []byte("m")}},
		{3, announce()}, {2, announce()}, {4, announce()},
	}
	var finals [][]groupEvent
	for _, tb := range []*groupTable{side(1, 2), side(3, 4)} {
		if evs := tb.beginSync([]wire.NodeID{1, 2, 3, 4}); evs != nil {
			t.Fatalf("beginSync with no round open: %+v", evs)
		}
		var all []groupEvent
		for i, d := range order {
			evs := tb.apply(d.from, d.rec)
			if i < len(order)-1 && evs != nil {
				t.Fatalf("record %d gave events before the last announcement: %+v", i, evs)
			}
			all = append(all, evs...)
		}
		finals = append(finals, all)
	}
	for i, all := range finals {
		if len(all) != 2 || all[0].view == nil || all[1].view != nil || string(all[1].data) != "m" {
			t.Fatalf("side %d: events %+v, want one view, then the message", i, all)
		}
		if got := keys(all[0].view.Members); !slices.Equal(got, []memberKey{{1, 1}, {2, 1}, {3, 1}, {4, 1}}) {
			t.Fatalf("side %d: view members %v", i, got)
		}
	}
}

// A configuration change before every announcement is in ends the round with the
// ones that came, and releases what was held.
func TestGroupTableSyncRoundEndsAtTheNextTransitional(t *testing.T) {
	tb := newGroupTable()
	tb.beginSync([]wire.NodeID{1, 2})
	if evs := tb.apply(1, &record{Kind: recSync, Sync: []syncEntry{{Group: "g", Session: 1}}}); evs != nil {
		t.Fatalf("events before the round ended: %+v", evs)
	}
	tb.apply(1, &record{Kind: recData, Group: "g", Session: 1, Data: []byte("m")})
	evs := tb.endSync()
	if len(evs) != 2 || evs[0].view == nil || string(evs[1].data) != "m" {
		t.Fatalf("events %+v, want node 1's view, then its message", evs)
	}
	if tb.endSync() != nil {
		t.Fatal("a second endSync produced events")
	}
}

func TestRecordDecodingRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {0xc1}, {0x93, 1, 2, 3}, []byte("garbage")} {
		if _, err := decodeRecord(b); err == nil {
			t.Errorf("decodeRecord(%x) succeeded", b)
		}
	}
	ok, _ := encodeRecord(&record{Kind: recData, Group: "g", Data: []byte("x")})
	if r, err := decodeRecord(ok); err != nil || string(r.Data) != "x" {
		t.Fatalf("round trip: %+v, %v", r, err)
	}
}
