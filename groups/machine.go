package groups

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem/pack"
)

// Errors of the Machine's session calls. Callers match them with errors.Is.
var (
	ErrNotJoined     = errors.New("totem: group not joined")
	ErrAlreadyJoined = errors.New("totem: group already joined")
	ErrNoSession     = errors.New("totem: no such session")
)

// Config is what a Machine needs to know.
type Config struct {
	Self wire.NodeID
	// Budget is the payload bytes of one totem message: records are packed into
	// payloads of at most this size.
	Budget int
	// MaxRecord is the largest encoded record (a message and its header).
	MaxRecord int
}

// Machine is one node's group layer: its local sessions and their groups, the group
// table every node of a configuration shares, and the records between them and the
// ring. It is a pure state machine, as membership's: inputs are the sessions' calls,
// the totem messages delivered in the total order and the configuration changes; its
// outputs (Ready) are what to deliver to which session and what to do with the ring's
// queue. Payloads to send are pulled with NextPayload, as the ring has room for them.
// It reads no clock and starts nothing.
type Machine struct {
	cfg       Config
	table     *groupTable
	sessions  map[uint32]*session
	packer    *pack.Packer
	assembler *pack.Assembler
	// unacked holds our records not yet delivered back to us, in order: at a regular
	// configuration they are packed again from scratch (see ConfigChange).
	unacked []unackedRecord
	// packedSafe says, for each record in the packer, whether it asked for safe delivery.
	packedSafe []bool
	ready      Ready
}

// session is a local client: its identity and its groups.
type session struct {
	pid    uint32
	name   string
	groups map[string]bool
}

type unackedRecord struct {
	b    []byte
	safe bool
}

// Delivery is one event for one local session.
type Delivery struct {
	Session uint32
	Event   Event
}

// Ready is what the Machine asks of its caller, in this order: take back every payload
// queued at the ring and not yet sent (TakeBack), submit First at the head of the
// ring's queue in order, deliver each Delivery to its session. Drops are records that
// could not be read, for the log.
type Ready struct {
	TakeBack   bool
	First      [][]byte
	Deliveries []Delivery
	Drops      []error
}

// New returns a Machine with no sessions and an empty group table.
func New(cfg Config) (*Machine, error) {
	packer, err := pack.NewPacker(cfg.Budget, cfg.MaxRecord)
	if err != nil {
		return nil, fmt.Errorf("groups: %w", err)
	}
	return &Machine{
		cfg:       cfg,
		table:     newGroupTable(),
		sessions:  make(map[uint32]*session),
		packer:    packer,
		assembler: pack.NewAssembler(cfg.MaxRecord),
	}, nil
}

// Open adds a local session with the handle the node gave it.
func (m *Machine) Open(handle, pid uint32, name string) {
	m.sessions[handle] = &session{pid: pid, name: name, groups: make(map[string]bool)}
}

// Close ends a session: it leaves each of its groups, with reason disconnect.
func (m *Machine) Close(handle uint32) {
	s, ok := m.sessions[handle]
	if !ok {
		return
	}
	for _, g := range sortedKeys(s.groups) {
		m.add(&record{Kind: recLeave, Group: g, Session: handle, PID: s.pid, Reason: ReasonDisconnect})
	}
	delete(m.sessions, handle)
}

// Joined reports whether session handle has joined group (it is a member once the join
// is delivered; it may multicast from now on).
func (m *Machine) Joined(handle uint32, group string) bool {
	s, ok := m.sessions[handle]
	return ok && s.groups[group]
}

// Join makes the session join group: a join record, which every node applies where the
// total order puts it.
func (m *Machine) Join(handle uint32, group string) error {
	s, ok := m.sessions[handle]
	switch {
	case !ok:
		return ErrNoSession
	case s.groups[group]:
		return ErrAlreadyJoined
	}
	s.groups[group] = true
	return m.add(&record{Kind: recJoin, Group: group, Session: handle, PID: s.pid, Name: s.name})
}

// Leave makes the session leave group.
func (m *Machine) Leave(handle uint32, group string) error {
	s, ok := m.sessions[handle]
	switch {
	case !ok:
		return ErrNoSession
	case !s.groups[group]:
		return ErrNotJoined
	}
	delete(s.groups, group)
	return m.add(&record{Kind: recLeave, Group: group, Session: handle, PID: s.pid, Reason: ReasonLeave})
}

// Multicast sends data to group from the session, agreed or safe.
func (m *Machine) Multicast(handle uint32, group string, data []byte, safe bool) error {
	s, ok := m.sessions[handle]
	switch {
	case !ok:
		return ErrNoSession
	case !s.groups[group]:
		return ErrNotJoined
	}
	return m.add(&record{Kind: recData, Group: group, Session: handle, PID: s.pid, Safe: safe, Data: data})
}

// add encodes a record and queues it for packing. Every record is kept in unacked until
// this node delivers it back to itself (see ConfigChange).
func (m *Machine) add(rec *record) error {
	b, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	safe := rec.Kind == recData && rec.Safe
	if err := m.queue(b, safe); err != nil {
		return err
	}
	m.unacked = append(m.unacked, unackedRecord{b, safe})
	return nil
}

// queue adds a record to the packer and remembers whether it asked for safe delivery, so
// that the payloads carrying it are submitted as safe.
func (m *Machine) queue(b []byte, safe bool) error {
	if err := m.packer.Add(b); err != nil {
		return err
	}
	m.packedSafe = append(m.packedSafe, safe)
	return nil
}

// Pending is the number of records waiting to be packed into payloads.
func (m *Machine) Pending() int { return m.packer.Pending() }

// PendingBytes is the bytes of the records waiting to be packed.
func (m *Machine) PendingBytes() int { return m.packer.PendingBytes() }

// NextPayload takes the next payload to submit to the ring, and its guarantee: safe if
// any record it carries (or starts) asked for safe delivery. Agreed records packed with
// a safe one wait for it, which the total order requires anyway.
func (m *Machine) NextPayload() ([]byte, wire.Guarantee, bool) {
	before := m.packer.Pending()
	p, ok := m.packer.Next()
	if !ok {
		return nil, wire.Agreed, false
	}
	done := before - m.packer.Pending()
	g := wire.Agreed
	for _, safe := range m.packedSafe[:done] {
		if safe {
			g = wire.Safe
		}
	}
	m.packedSafe = m.packedSafe[done:]
	if len(m.packedSafe) > 0 && m.packedSafe[0] {
		g = wire.Safe // the payload may carry the start or a fragment of a safe record
	}
	return p, g, true
}

// Deliver takes one totem message of origin, in the total order: its records are
// applied to the group table and their events go to the local members.
func (m *Machine) Deliver(origin wire.NodeID, payload []byte) {
	recs, err := m.assembler.Payload(origin, payload)
	if err != nil {
		m.ready.Drops = append(m.ready.Drops, fmt.Errorf("payload from %v: %w", origin, err))
	}
	for _, b := range recs {
		rec, err := decodeRecord(b)
		if err != nil {
			m.ready.Drops = append(m.ready.Drops, fmt.Errorf("record from %v: %w", origin, err))
			continue
		}
		if origin == m.cfg.Self && rec.Kind != recSync && len(m.unacked) > 0 {
			// Our own records come back in the order we added them.
			m.unacked[0] = unackedRecord{}
			m.unacked = m.unacked[1:]
		}
		m.dispatch(m.table.apply(origin, rec))
	}
}

// ConfigChange takes a configuration change, in the total order.
//
// A transitional configuration drops the members of the nodes that left (their partial
// records stay: EVS may still deliver their continuations in it). A regular one
// starts the sync barrier (groupTable.beginSync) and re-packs: a record whose fragments
// straddle the change could be completed by the members that came from our old ring
// and not by the others. So at every regular configuration everyone drops every
// partial record, and every sender re-packs, from scratch, each record it has not yet
// delivered back to itself: unsent payloads are taken back from the ring (TakeBack),
// and the first fragment of an interrupted record is sent again. Everything of ours
// delivered so far was delivered before this change (self delivery), so nothing is
// sent twice. This node's announcement of its local members goes first (First).
func (m *Machine) ConfigChange(c *membership.Configuration) error {
	if c.Transitional {
		// The partial records of the nodes that left are kept: EVS still delivers their
		// old ring's messages after this configuration (in it), and one of them may
		// continue a record begun before. The regular configuration drops them.
		m.dispatch(m.table.endSync())
		m.dispatch(m.table.dropNodes(c.Members))
		return nil
	}
	m.dispatch(m.table.beginSync(c.Members))
	m.assembler.Reset() // every partial record: members', ours, and those of departed nodes
	m.packer.Reset()
	m.packedSafe = m.packedSafe[:0]
	var errs []error
	for _, u := range m.unacked {
		if err := m.queue(u.b, u.safe); err != nil {
			errs = append(errs, fmt.Errorf("groups: re-pack: %w", err))
		}
	}
	m.ready.TakeBack = true
	first, err := m.announcement()
	m.ready.First = first
	return errors.Join(append(errs, err)...)
}

// announcement is this node's members as payloads: the first thing it sends on a new
// ring, how the group tables of merging sides learn each other's members.
//
// It announces the members the group table has for this node: the joins and leaves
// delivered so far, not those still on their way. A join or leave not yet delivered
// back is packed again and applied after the sync, as the join or leave it is; were it
// announced, the session would appear by node-up (or vanish by disconnect) instead,
// and its own view could overtake the reply to its request.
func (m *Machine) announcement() ([][]byte, error) {
	var entries []syncEntry
	for _, g := range m.table.sortedGroups() {
		ms := m.table.groups[g]
		i, _ := slices.BinarySearchFunc(ms, Member{Node: m.cfg.Self}, cmpMember)
		for ; i < len(ms) && ms[i].Node == m.cfg.Self; i++ {
			entries = append(entries, syncEntry{Group: g, Session: ms[i].Session, PID: ms[i].PID, Name: ms[i].Name})
		}
	}
	b, err := encodeRecord(&record{Kind: recSync, Sync: entries})
	if err != nil {
		return nil, fmt.Errorf("groups: encode sync: %w", err)
	}
	p, err := pack.NewPacker(m.cfg.Budget, len(b))
	if err == nil {
		err = p.Add(b)
	}
	if err != nil {
		return nil, fmt.Errorf("groups: pack sync: %w", err)
	}
	var payloads [][]byte
	for {
		pl, ok := p.Next()
		if !ok {
			return payloads, nil
		}
		payloads = append(payloads, pl)
	}
}

// dispatch routes group events to the local sessions that were members when the event
// happened (and, for a view, to those it removes), each session in handle order. Not the
// table's members now: the end of a sync barrier applies many held records at once, and
// a session that joined or left among them must get exactly the events of its time in
// the group.
func (m *Machine) dispatch(evs []groupEvent) {
	self := m.cfg.Self
	for _, ge := range evs {
		ev := Event{Group: ge.group, View: ge.view, Sender: ge.sender, Safe: ge.safe, Data: ge.data}
		// The members are sorted by node, then session: ours are one run.
		ms := ge.members
		if ge.view != nil {
			ms = ge.view.Members
		}
		i, _ := slices.BinarySearchFunc(ms, Member{Node: self}, cmpMember)
		for ; i < len(ms) && ms[i].Node == self; i++ {
			m.deliverTo(ms[i].Session, ev)
		}
		if ge.view != nil {
			for _, c := range ge.view.Left {
				if c.Member.Node == self {
					m.deliverTo(c.Member.Session, ev)
				}
			}
		}
	}
}

// deliverTo queues ev for session h, if it is still open (a closed session stays a
// member until its leave is delivered).
func (m *Machine) deliverTo(h uint32, ev Event) {
	if _, open := m.sessions[h]; open {
		m.ready.Deliveries = append(m.ready.Deliveries, Delivery{Session: h, Event: ev})
	}
}

// Ready returns and clears the outputs.
func (m *Machine) Ready() Ready {
	rd := m.ready
	m.ready = Ready{}
	return rd
}

// Groups returns every group with at least one member, and a version that changes
// whenever they do (so that a reader copies only new states). The slices are the
// table's: copy what you keep.
func (m *Machine) Groups() (map[string][]Member, uint64) { return m.table.groups, m.table.version }

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
