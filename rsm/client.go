package rsm

import (
	"context"
	"fmt"

	"github.com/totem-gcs/totem/totem/client"
)

// ClientChannel is a Channel over a connection to a totem daemon (totem/client): a
// replica in its own process.
type ClientChannel struct {
	c     *client.Client
	group string
	self  Member
}

// JoinClient joins group with c. The replica must be the only reader of c's Events.
// Close c once the replica's Run has returned.
func JoinClient(ctx context.Context, c *client.Client, group string) (*ClientChannel, error) {
	if err := c.Join(ctx, group); err != nil {
		return nil, fmt.Errorf("rsm: %w", err)
	}
	info := c.Info()
	return &ClientChannel{c: c, group: group, self: Member{Node: info.NodeID, Session: info.Session}}, nil
}

// Self implements Channel.
func (c *ClientChannel) Self() Member { return c.self }

// Send implements Channel: a multicast with the safe service level.
func (c *ClientChannel) Send(ctx context.Context, data []byte) error {
	return c.c.Multicast(ctx, c.group, data, client.Safe)
}

// SendAgreed multicasts with the agreed service level.
func (c *ClientChannel) SendAgreed(ctx context.Context, data []byte) error {
	return c.c.Multicast(ctx, c.group, data, client.Agreed)
}

// Recv implements Channel.
func (c *ClientChannel) Recv(ctx context.Context) (Event, error) {
	for {
		select {
		case ev, ok := <-c.c.Events():
			if !ok {
				return Event{}, fmt.Errorf("daemon connection closed: %w", c.c.Err())
			}
			if e, mine := c.event(ev); mine {
				return e, nil
			}
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

func (c *ClientChannel) event(ev client.Event) (Event, bool) {
	switch ev := ev.(type) {
	case client.Message:
		if ev.Group == c.group {
			return Event{Sender: Member{Node: ev.Sender.Node, Session: ev.Sender.Session}, Data: ev.Data}, true
		}
	case client.View:
		if ev.Group == c.group {
			v := &View{Members: make([]Member, len(ev.Members))}
			for i, m := range ev.Members {
				v.Members[i] = Member{Node: m.Node, Session: m.Session}
			}
			v.Joined, v.Left = clientChanges(ev.Joined), clientChanges(ev.Left)
			return Event{View: v}, true
		}
	}
	return Event{}, false
}

func clientChanges(cs []client.Change) []Change {
	var out []Change
	for _, c := range cs {
		out = append(out, Change{Member: Member{Node: c.Member.Node, Session: c.Member.Session}, Reason: string(c.Reason)})
	}
	return out
}
