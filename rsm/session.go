package rsm

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/totem-gcs/totem/totem"
)

// SessionChannel is a Channel over a session of an embedded totem node: a replica in
// the node's own process.
type SessionChannel struct {
	s     *totem.Session
	group string
	self  Member
}

// OpenSession opens a session named name on n and joins group with it. Close the
// channel once the replica's Run has returned.
func OpenSession(ctx context.Context, n *totem.Node, group, name string) (*SessionChannel, error) {
	s, err := n.Open(ctx, uint32(os.Getpid()), name)
	if err != nil {
		return nil, fmt.Errorf("rsm: open session: %w", err)
	}
	if err := s.Join(ctx, group); err != nil {
		s.Close()
		return nil, fmt.Errorf("rsm: join %q: %w", group, err)
	}
	// Open returns once the node's loop has run, so its status knows the node id.
	self := Member{Node: n.Status().NodeID, Session: s.Handle()}
	return &SessionChannel{s: s, group: group, self: self}, nil
}

// Self implements Channel.
func (c *SessionChannel) Self() Member { return c.self }

// Send implements Channel: a safe multicast to the group.
func (c *SessionChannel) Send(ctx context.Context, data []byte) error {
	return c.s.Multicast(ctx, c.group, data, true)
}

// SendAgreed multicasts with agreed delivery.
func (c *SessionChannel) SendAgreed(ctx context.Context, data []byte) error {
	return c.s.Multicast(ctx, c.group, data, false)
}

// Recv implements Channel.
func (c *SessionChannel) Recv(ctx context.Context) (Event, error) {
	for {
		ev, err := c.s.Receive(ctx)
		if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
			return Event{}, err
		}
		if err != nil {
			return Event{}, fmt.Errorf("session closed: %w", errors.Join(err, totem.ErrClosed))
		}
		if ev.Group != c.group {
			continue
		}
		return sessionEvent(ev), nil
	}
}

// Close leaves the group and closes the session.
func (c *SessionChannel) Close() error { return c.s.Close() }

func sessionEvent(ev totem.Event) Event {
	if ev.View == nil {
		return Event{Sender: Member{Node: ev.Sender.Node, Session: ev.Sender.Session}, Data: ev.Data}
	}
	v := &View{Members: make([]Member, len(ev.View.Members))}
	for i, m := range ev.View.Members {
		v.Members[i] = Member{Node: m.Node, Session: m.Session}
	}
	v.Joined = sessionChanges(ev.View.Joined)
	v.Left = sessionChanges(ev.View.Left)
	return Event{View: v}
}

func sessionChanges(cs []totem.Change) []Change {
	var out []Change
	for _, c := range cs {
		out = append(out, Change{Member: Member{Node: c.Member.Node, Session: c.Member.Session}, Reason: c.Reason.String()})
	}
	return out
}
