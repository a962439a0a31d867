package totem

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
	v := views(tb.sync(2, []syncEntry{{Group: "g", Session: 6}, {Group: "h", Session: 6}}))
	if len(v) != 2 {
		t.Fatalf("views %+v, want changes in g and h", v)
	}
	if got := keys(tb.members("g")); !slices.Equal(got, []memberKey{{1, 1}, {2, 6}}) {
		t.Fatalf("g members %v", got)
	}
	if v[0].Joined[0].Reason != ReasonNodeUp || v[0].Left[0].Reason != ReasonDisconnect {
		t.Fatalf("g view %+v, want joined node-up and left disconnect", v[0])
	}
	if evs := tb.sync(2, []syncEntry{{Group: "g", Session: 6}, {Group: "h", Session: 6}}); evs != nil {
		t.Fatalf("repeated sync changed something: %+v", evs)
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
