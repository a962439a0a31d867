package rsm

import (
	"context"
	"fmt"

	"github.com/totem-gcs/totem/totem/client"
)

// GroupChannel is a Channel over a group connection (client.Conn): a totem daemon's
// client over its Unix socket (a replica in its own process), or an embedded node's
// session (a replica in the node's process).
type GroupChannel struct {
	c     client.Conn
	group string
}

// JoinGroup joins group with c and returns the channel. The replica must be c's only
// reader. Close c once the replica's Run has returned.
func JoinGroup(ctx context.Context, c client.Conn, group string) (*GroupChannel, error) {
	if err := c.Join(ctx, group); err != nil {
		return nil, fmt.Errorf("rsm: join %q: %w", group, err)
	}
	return &GroupChannel{c: c, group: group}, nil
}

// Self implements Channel.
func (c *GroupChannel) Self() Member {
	self := c.c.Self()
	return Member{Node: self.Node, Session: self.Session}
}

// Send implements Channel: a multicast with the safe service level.
func (c *GroupChannel) Send(ctx context.Context, data []byte) error {
	return c.c.Multicast(ctx, c.group, data, client.Safe)
}

// SendAgreed multicasts with the agreed service level.
func (c *GroupChannel) SendAgreed(ctx context.Context, data []byte) error {
	return c.c.Multicast(ctx, c.group, data, client.Agreed)
}

// Recv implements Channel: the next event of the channel's group.
func (c *GroupChannel) Recv(ctx context.Context) (Event, error) {
	for {
		ev, err := c.c.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return Event{}, err
			}
			return Event{}, fmt.Errorf("group connection closed: %w", err)
		}
		if e, mine := c.event(ev); mine {
			return e, nil
		}
	}
}

func (c *GroupChannel) event(ev client.Event) (Event, bool) {
	switch ev := ev.(type) {
	case client.Message:
		if ev.Group == c.group {
			return Event{Sender: Member{Node: ev.Sender.Node, Session: ev.Sender.Session}, Data: ev.Data}, true
		}
	case client.View:
		if ev.Group == c.group {
			v := &View{Members: members(ev.Members)}
			v.Joined, v.Left = changes(ev.Joined), changes(ev.Left)
			return Event{View: v}, true
		}
	}
	return Event{}, false
}

func members(ms []client.Member) []Member {
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = Member{Node: m.Node, Session: m.Session}
	}
	return out
}

func changes(cs []client.Change) []Change {
	var out []Change
	for _, c := range cs {
		out = append(out, Change{Member: Member{Node: c.Member.Node, Session: c.Member.Session}, Reason: string(c.Reason)})
	}
	return out
}
