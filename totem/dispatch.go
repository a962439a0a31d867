package totem

import (
	"context"
	"log/slog"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/wire"
)

// handle runs one session request on the loop.
// mcast takes one multicast: queued for the ring now, or answered once there is room.
func (n *Node) mcast(r *request) {
	if _, open := n.sessions[r.s.handle]; !open || !n.g.Joined(r.s.handle, r.group) {
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
		n.g.Open(s.handle, s.pid, s.name)
		r.opened <- s
	case reqJoin:
		r.reply <- apiError(n.g.Join(r.s.handle, r.group))
	case reqLeave:
		r.reply <- apiError(n.g.Leave(r.s.handle, r.group))
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
	return apiError(n.g.Multicast(r.s.handle, r.group, r.data, r.safe))
}

// closeSession leaves the session's groups (reason disconnect) and ends it.
func (n *Node) closeSession(s *Session, why error) {
	if _, open := n.sessions[s.handle]; !open {
		return
	}
	n.g.Close(s.handle)
	delete(n.sessions, s.handle)
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

// deliver handles one membership event in the total order: the group layer takes it,
// and the node does what the group layer asks.
func (n *Node) deliver(ev membership.Event) {
	if ev.Config != nil {
		n.configChange(ev.Config)
	} else {
		n.g.Deliver(ev.Msg.Origin, ev.Msg.Payload)
	}
	n.applyGroups()
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
	if !c.Transitional {
		n.ring, n.members = c.Ring, c.Members
	}
	if err := n.g.ConfigChange(c); err != nil {
		n.log.Error("configuration change", "err", err)
	}
}

// applyGroups does what the group layer's Ready asks: take back the ring's unsent
// payloads, put its announcement first, and hand each delivery to its session.
func (n *Node) applyGroups() {
	rd := n.g.Ready()
	for _, err := range rd.Drops {
		n.log.Warn("drop malformed group record", "err", err)
	}
	if rd.TakeBack {
		n.m.TakePending()
	}
	// Last first: each SubmitFirst goes in front of the previous.
	for i := len(rd.First) - 1; i >= 0; i-- {
		n.m.SubmitFirst(n.now(), rd.First[i], wire.Agreed)
	}
	for _, d := range rd.Deliveries {
		s, open := n.sessions[d.Session]
		if !open {
			continue
		}
		if !s.box.put(d.Event) {
			n.log.Warn("session too slow, closing", "session", d.Session, "pid", s.pid, "name", s.name)
			n.closeSession(s, ErrSlowConsumer)
		}
	}
}
