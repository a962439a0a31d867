package totem

import (
	"context"
	"log/slog"
	"slices"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem/pack"
)

// handle runs one session request on the loop.
// mcast takes one multicast: queued for the ring now, or answered once there is room.
func (n *Node) mcast(r *request) {
	if _, open := n.sessions[r.s.handle]; !open || !n.joined[r.s.handle][r.group] {
		r.answer(ErrNotJoined)
		return
	}
	if len(n.waiting) > 0 || n.packerFull() {
		n.waiting = append(n.waiting, r) // answered by feed when there is room
		return
	}
	r.answer(n.enqueue(r))
}

func (n *Node) handle(r *request) {
	switch r.kind {
	case reqOpen:
		n.nextHandle++
		s := &Session{
			n: n, handle: n.nextHandle, pid: r.pid, name: r.name,
			box: newMailbox(n.cfg.EventQueue, n.cfg.EventQueueBytes), done: make(chan struct{}),
		}
		n.sessions[s.handle] = s
		n.joined[s.handle] = make(map[string]bool)
		r.opened <- s
	case reqJoin:
		if n.joined[r.s.handle][r.group] {
			r.reply <- ErrAlreadyJoined
			return
		}
		n.joined[r.s.handle][r.group] = true
		r.reply <- n.add(&record{Kind: recJoin, Group: r.group, Session: r.s.handle, PID: r.s.pid, Name: r.s.name})
	case reqLeave:
		if !n.joined[r.s.handle][r.group] {
			r.reply <- ErrNotJoined
			return
		}
		delete(n.joined[r.s.handle], r.group)
		r.reply <- n.add(&record{Kind: recLeave, Group: r.group, Session: r.s.handle, PID: r.s.pid, Reason: ReasonLeave})
	case reqMcast:
		n.mcast(r)
	case reqMcastBatch:
		for _, sub := range r.batch {
			n.mcast(sub)
		}
	case reqClose:
		n.closeSession(r.s, ErrClosed)
		r.reply <- nil
	}
}

func (n *Node) enqueue(r *request) error {
	if _, open := n.sessions[r.s.handle]; !open {
		return r.s.closedErr()
	}
	return n.add(&record{Kind: recData, Group: r.group, Session: r.s.handle, PID: r.s.pid, Safe: r.safe, Data: r.data})
}

// add encodes a record and queues it for packing. Every record is kept in unacked until
// this node delivers it back to itself (see configChange).
func (n *Node) add(rec *record) error {
	b, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	safe := rec.Kind == recData && rec.Safe
	if err := n.queue(b, safe); err != nil {
		return err
	}
	n.unacked = append(n.unacked, unackedRecord{b, safe})
	return nil
}

// closeSession leaves the session's groups with the given reason and ends it.
func (n *Node) closeSession(s *Session, why error) {
	if _, open := n.sessions[s.handle]; !open {
		return
	}
	reason := ReasonDisconnect
	groups := make([]string, 0, len(n.joined[s.handle]))
	for g := range n.joined[s.handle] {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		n.add(&record{Kind: recLeave, Group: g, Session: s.handle, PID: s.pid, Reason: reason})
	}
	delete(n.sessions, s.handle)
	delete(n.joined, s.handle)
	kept := n.waiting[:0]
	for _, r := range n.waiting {
		if r.s == s {
			r.answer(why)
			continue
		}
		kept = append(kept, r)
	}
	n.waiting = kept
	s.end(why)
}

// deliver handles one membership event in the total order.
func (n *Node) deliver(ev membership.Event) {
	if ev.Config != nil {
		n.configChange(ev.Config)
		return
	}
	recs, err := n.assembler.Payload(ev.Msg.Origin, ev.Msg.Payload)
	if err != nil {
		n.log.Warn("drop malformed payload", "from", ev.Msg.Origin, "err", err)
	}
	for _, b := range recs {
		rec, err := decodeRecord(b)
		if err != nil {
			n.log.Warn("drop malformed record", "from", ev.Msg.Origin, "err", err)
			continue
		}
		if ev.Msg.Origin == n.cfg.NodeID && rec.Kind != recSync && len(n.unacked) > 0 {
			// Our own records come back in the order we added them.
			n.unacked[0] = unackedRecord{}
			n.unacked = n.unacked[1:]
		}
		n.dispatch(n.groups.apply(ev.Msg.Origin, rec))
	}
}

func (n *Node) configChange(c *membership.Configuration) {
	// A configuration that changes nothing (the same members on a new ring) is only
	// worth a debug line; one that loses members, a warning.
	level := slog.LevelInfo
	switch {
	case len(c.Left)+len(c.Joined) == 0:
		level = slog.LevelDebug
	case len(c.Left) > 0 && c.Transitional:
		level = slog.LevelWarn
	}
	n.log.Log(context.Background(), level, "configuration", "transitional", c.Transitional, "ring", c.Ring, "members", c.Members, "left", c.Left, "joined", c.Joined)
	if c.Transitional {
		for _, id := range c.Left {
			n.assembler.Forget(id)
		}
		n.dispatch(n.groups.endSync())
		n.dispatch(n.groups.dropNodes(c.Members))
		return
	}
	n.ring, n.members = c.Ring, c.Members
	n.dispatch(n.groups.beginSync(c.Members))
	// A record whose fragments straddle the change could be completed by the members
	// that came from our old ring and not by the others. So at every regular
	// configuration everyone drops every partial record, and every sender re-packs, from
	// scratch, each record it has not yet delivered back to itself: unsent payloads are
	// taken back from the ring, and the first fragment of an interrupted record is sent
	// again. Everything of ours delivered so far was delivered before this change (self
	// delivery), so nothing is sent twice.
	for _, id := range c.Members {
		n.assembler.Forget(id)
	}
	n.assembler.Forget(n.cfg.NodeID)
	n.m.TakePending()
	n.packer.Reset()
	n.packedSafe = n.packedSafe[:0]
	for _, u := range n.unacked {
		if err := n.queue(u.b, u.safe); err != nil {
			n.log.Error("re-pack", "err", err)
		}
	}
	n.announce()
}

// announce multicasts this node's local members, first on the new ring: how the group
// tables of merging sides learn each other's members.
func (n *Node) announce() {
	var entries []syncEntry
	handles := make([]uint32, 0, len(n.joined))
	for h := range n.joined {
		handles = append(handles, h)
	}
	slices.Sort(handles)
	for _, h := range handles {
		s := n.sessions[h]
		groups := make([]string, 0, len(n.joined[h]))
		for g := range n.joined[h] {
			groups = append(groups, g)
		}
		slices.Sort(groups)
		for _, g := range groups {
			entries = append(entries, syncEntry{Group: g, Session: h, PID: s.pid, Name: s.name})
		}
	}
	b, err := encodeRecord(&record{Kind: recSync, Sync: entries})
	if err != nil {
		n.log.Error("encode sync", "err", err)
		return
	}
	p, err := pack.NewPacker(n.budget, len(b))
	if err == nil {
		err = p.Add(b)
	}
	if err != nil {
		n.log.Error("pack sync", "err", err)
		return
	}
	var payloads [][]byte
	for {
		pl, ok := p.Next()
		if !ok {
			break
		}
		payloads = append(payloads, pl)
	}
	// Last first: each SubmitFirst goes in front of the previous.
	for i := len(payloads) - 1; i >= 0; i-- {
		n.m.SubmitFirst(n.now(), payloads[i], wire.Agreed)
	}
}

// dispatch hands group events to the local sessions that are members.
func (n *Node) dispatch(evs []groupEvent) {
	for _, ge := range evs {
		ev := Event{Group: ge.group, View: ge.view, Sender: ge.sender, Safe: ge.safe, Data: ge.data}
		for h, s := range n.sessions {
			k := memberKey{n.cfg.NodeID, h}
			if !n.groups.isMember(ge.group, k) && !(ge.view != nil && leftIn(ge.view, k)) {
				continue
			}
			if !s.box.put(ev) {
				n.log.Warn("session too slow, closing", "session", h, "pid", s.pid, "name", s.name)
				n.closeSession(s, ErrSlowConsumer)
			}
		}
	}
}

func leftIn(v *View, k memberKey) bool {
	return slices.ContainsFunc(v.Left, func(c Change) bool { return c.Member.key() == k })
}

// unackedRecord is a record of ours not yet delivered back to us.
type unackedRecord struct {
	b    []byte
	safe bool
}

// queue adds a record to the packer and remembers whether it asked for safe delivery, so
// that the payloads carrying it are submitted as safe.
func (n *Node) queue(b []byte, safe bool) error {
	if err := n.packer.Add(b); err != nil {
		return err
	}
	n.packedSafe = append(n.packedSafe, safe)
	return nil
}

// nextPayload takes the packer's next payload and its guarantee: safe if any record it
// carries (or starts) asked for safe delivery. Agreed records packed with a safe one wait
// for it, which the total order requires anyway.
func (n *Node) nextPayload() ([]byte, wire.Guarantee, bool) {
	before := n.packer.Pending()
	p, ok := n.packer.Next()
	if !ok {
		return nil, wire.Agreed, false
	}
	done := before - n.packer.Pending()
	g := wire.Agreed
	for _, safe := range n.packedSafe[:done] {
		if safe {
			g = wire.Safe
		}
	}
	n.packedSafe = n.packedSafe[done:]
	if len(n.packedSafe) > 0 && n.packedSafe[0] {
		g = wire.Safe // the payload may carry the start or a fragment of a safe record
	}
	return p, g, true
}
