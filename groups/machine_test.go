package groups

import (
	"errors"
	"slices"
	"testing"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/wire"
)

func newTestMachine(t *testing.T, self wire.NodeID) *Machine {
	t.Helper()
	m, err := New(Config{Self: self, Budget: 1024, MaxRecord: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// loop sends everything m has queued and delivers it back to m in order, as a ring of
// one would, and returns what m then asked for.
func loop(m *Machine) Ready {
	for {
		p, _, ok := m.NextPayload()
		if !ok {
			break
		}
		m.Deliver(m.cfg.Self, p)
	}
	return m.Ready()
}

// describe writes deliveries as "session:group:view+J-L" or "session:group:data".
func describe(ds []Delivery) []string {
	var out []string
	for _, d := range ds {
		s := string(rune('0'+d.Session)) + ":" + d.Event.Group + ":"
		if v := d.Event.View; v != nil {
			for _, c := range v.Joined {
				s += "+" + c.Member.Name + "(" + c.Reason.String() + ")"
			}
			for _, c := range v.Left {
				s += "-" + c.Member.Name + "(" + c.Reason.String() + ")"
			}
		} else {
			s += string(d.Event.Data)
		}
		out = append(out, s)
	}
	return out
}

func regular(members ...wire.NodeID) *membership.Configuration {
	return &membership.Configuration{Members: members, Joined: members}
}

// Joins, messages and leaves reach the local members, each in the order the ring
// delivers them, and only them.
func TestMachineDeliversToLocalMembers(t *testing.T) {
	m := newTestMachine(t, 1)
	m.Open(1, 100, "a")
	m.Open(2, 200, "b")
	m.Open(3, 300, "c") // joins nothing: receives nothing
	if err := m.Join(1, "g"); err != nil {
		t.Fatal(err)
	}
	if err := m.Join(2, "g"); err != nil {
		t.Fatal(err)
	}
	if err := m.Join(1, "g"); !errors.Is(err, ErrAlreadyJoined) {
		t.Errorf("second join: %v, want ErrAlreadyJoined", err)
	}
	if err := m.Multicast(3, "g", []byte("x"), false); !errors.Is(err, ErrNotJoined) {
		t.Errorf("multicast without joining: %v, want ErrNotJoined", err)
	}
	if err := m.Multicast(1, "g", []byte("hi"), true); err != nil {
		t.Fatal(err)
	}
	if err := m.Leave(2, "g"); err != nil {
		t.Fatal(err)
	}
	got := describe(loop(m).Deliveries)
	want := []string{
		"1:g:+a(join)",
		"1:g:+b(join)", "2:g:+b(join)",
		"1:g:hi", "2:g:hi",
		"1:g:-b(leave)", "2:g:-b(leave)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("deliveries\n got %q\nwant %q", got, want)
	}
	if len(m.unacked) != 0 {
		t.Errorf("%d records still unacked after all were delivered back", len(m.unacked))
	}
}

// A regular configuration takes back what the ring has not sent, announces the members
// delivered so far first and packs every record not yet delivered back again: the join
// queued before the ring formed is not announced (it was not delivered), and arrives
// once, after the announcement, as the join it is.
func TestRegularConfigurationRepacksAndAnnounces(t *testing.T) {
	m := newTestMachine(t, 1)
	m.Open(1, 100, "a")
	if err := m.Join(1, "g"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := m.NextPayload(); !ok { // handed to a ring that never sends it
		t.Fatal("no payload for the join")
	}
	if err := m.ConfigChange(regular(1)); err != nil {
		t.Fatal(err)
	}
	rd := m.Ready()
	if !rd.TakeBack || len(rd.First) != 1 {
		t.Fatalf("ready %+v: want TakeBack and one announcement payload first", rd)
	}
	m.Deliver(1, rd.First[0])
	got := describe(append(m.Ready().Deliveries, loop(m).Deliveries...))
	if want := []string{"1:g:+a(join)"}; !slices.Equal(got, want) {
		t.Fatalf("deliveries %q, want %q", got, want)
	}
	if m.Pending() != 0 || len(m.unacked) != 0 {
		t.Errorf("after the loop: %d pending, %d unacked; want none", m.Pending(), len(m.unacked))
	}
}

// A closed session leaves every group it joined, with reason disconnect, and receives
// nothing more.
func TestCloseLeavesEveryGroup(t *testing.T) {
	m := newTestMachine(t, 1)
	m.Open(1, 100, "a")
	m.Open(2, 200, "b")
	for _, g := range []string{"x", "y"} {
		m.Join(1, g)
		m.Join(2, g)
	}
	loop(m)
	m.Close(1)
	if m.Joined(1, "x") {
		t.Error("a closed session still counts as joined")
	}
	got := describe(loop(m).Deliveries)
	if want := []string{"2:x:-a(disconnect)", "2:y:-a(disconnect)"}; !slices.Equal(got, want) {
		t.Fatalf("deliveries %q, want %q", got, want)
	}
}

// A transitional configuration removes the members of the nodes that left, with
// reason node-down, in one view per group.
func TestTransitionalConfigurationDropsDepartedNodes(t *testing.T) {
	m := newTestMachine(t, 1)
	m.Open(1, 100, "a")
	m.Join(1, "g")
	loop(m)
	// Node 2's member, as its join record would arrive.
	b, err := encodeRecord(&record{Kind: recJoin, Group: "g", Session: 9, Name: "remote"})
	if err != nil {
		t.Fatal(err)
	}
	p := &packer1{m: m}
	m.Deliver(2, p.payload(t, b))
	m.Ready()
	m.ConfigChange(&membership.Configuration{Transitional: true, Members: []wire.NodeID{1}, Left: []wire.NodeID{2}})
	if got, want := describe(m.Ready().Deliveries), []string{"1:g:-remote(node-down)"}; !slices.Equal(got, want) {
		t.Fatalf("deliveries %q, want %q", got, want)
	}
}

// packer1 packs one record as another node's machine would.
type packer1 struct{ m *Machine }

func (p *packer1) payload(t *testing.T, rec []byte) []byte {
	t.Helper()
	other, err := New(p.m.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.queue(rec, false); err != nil {
		t.Fatal(err)
	}
	pl, _, ok := other.NextPayload()
	if !ok {
		t.Fatal("no payload")
	}
	return pl
}

// The end of a sync barrier applies every held record at once: each event goes to the
// members of the group as of that event, not as of the last held record. Here a local
// session joins, is sent a message and leaves, all held by the barrier: it must see its
// join, the message and its leave, and the other member the same (found by the group
// simulation, seed 1 of TestGroupSimulation).
func TestBarrierRoutesHeldEventsToTheirMembers(t *testing.T) {
	m := newTestMachine(t, 1)
	m.Open(1, 100, "a")
	m.Join(1, "g")
	loop(m)
	if err := m.ConfigChange(regular(1, 2)); err != nil {
		t.Fatal(err)
	}
	rd := m.Ready()
	for _, p := range rd.First {
		m.Deliver(1, p) // our announcement; the barrier waits for node 2's
	}
	m.Open(2, 200, "b")
	m.Join(2, "g")
	m.Multicast(1, "g", []byte("hi"), false)
	m.Leave(2, "g")
	loop(m) // held
	b, err := encodeRecord(&record{Kind: recSync})
	if err != nil {
		t.Fatal(err)
	}
	m.Deliver(2, (&packer1{m: m}).payload(t, b))
	got := describe(m.Ready().Deliveries)
	want := []string{
		"1:g:+b(join)", "2:g:+b(join)",
		"1:g:hi", "2:g:hi",
		"1:g:-b(leave)", "2:g:-b(leave)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("deliveries\n got %q\nwant %q", got, want)
	}
}

// A transitional configuration may deliver messages of a node that left after its
// members were dropped (EVS delivers them there): a join among them must not bring back
// a member of a node no longer in the configuration, where nothing would remove it
// (found by the group simulation, seed 4 of TestGroupSimulation).
func TestTransitionalIgnoresDepartedNodesRecords(t *testing.T) {
	m := newTestMachine(t, 1)
	m.Open(1, 100, "a")
	m.Join(1, "g")
	loop(m)
	m.ConfigChange(&membership.Configuration{Transitional: true, Members: []wire.NodeID{1}, Left: []wire.NodeID{2}})
	m.Ready()
	b, err := encodeRecord(&record{Kind: recJoin, Group: "g", Session: 9, Name: "ghost"})
	if err != nil {
		t.Fatal(err)
	}
	m.Deliver(2, (&packer1{m: m}).payload(t, b))
	if got := describe(m.Ready().Deliveries); len(got) != 0 {
		t.Fatalf("deliveries %q after a departed node's join, want none", got)
	}
	if table, _ := m.Groups(); len(table["g"]) != 1 {
		t.Fatalf("members %v, want only the local one", table["g"])
	}
}

// A node's old-ring message delivered after the transitional configuration that removes
// it (EVS delivers it there) may continue a record it began before: the record is
// completed, not refused as a broken stream (found by the group simulation, seeds 11,
// 17, 42).
func TestTransitionalKeepsDepartedNodesPartialRecords(t *testing.T) {
	m := newTestMachine(t, 1)
	m.Open(1, 100, "a")
	m.Join(1, "g")
	loop(m)
	// Node 2's record, larger than a payload: its first fragment comes before the
	// transitional configuration, the rest after.
	other, err := New(m.cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := encodeRecord(&record{Kind: recData, Group: "g", Session: 9, Data: make([]byte, 3000)})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.queue(b, false); err != nil {
		t.Fatal(err)
	}
	first, _, _ := other.NextPayload()
	m.Deliver(2, first)
	m.ConfigChange(&membership.Configuration{Transitional: true, Members: []wire.NodeID{1}, Left: []wire.NodeID{2}})
	for {
		p, _, ok := other.NextPayload()
		if !ok {
			break
		}
		m.Deliver(2, p)
	}
	if drops := m.Ready().Drops; len(drops) != 0 {
		t.Fatalf("the record's continuation was refused: %v", drops)
	}
}
