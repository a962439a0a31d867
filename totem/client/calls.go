package client

import (
	"context"
	"fmt"
	"time"

	"github.com/totem-gcs/totem/totem/proto"
)

// Join joins group. It returns once the daemon has queued the join for ordering; the
// view that shows this client as a member follows on Events.
func (c *Client) Join(ctx context.Context, group string) error {
	if _, err := c.call(ctx, &proto.Request{Type: proto.TypeJoin, Group: group}, proto.TypeOK); err != nil {
		return fmt.Errorf("client: join %q: %w", group, err)
	}
	return nil
}

// Leave leaves group; the other members see the reason "leave".
func (c *Client) Leave(ctx context.Context, group string) error {
	if _, err := c.call(ctx, &proto.Request{Type: proto.TypeLeave, Group: group}, proto.TypeOK); err != nil {
		return fmt.Errorf("client: leave %q: %w", group, err)
	}
	return nil
}

// Multicast sends data to every member of group, which the client must have joined,
// with the given service level. It returns once the daemon has accepted the message
// for ordering: while the ring is busier than the sender, that takes a while
// (backpressure). If ctx ends first, Multicast returns ctx.Err() but the message may
// still be sent. data may be reused once Multicast returns.
func (c *Client) Multicast(ctx context.Context, group string, data []byte, level Level) error {
	p, err := c.MulticastAsync(ctx, group, data, level)
	if err != nil {
		return err
	}
	return p.Wait(ctx)
}

// Pending is a multicast written to the daemon whose answer has not been read yet.
type Pending struct {
	c     *Client
	id    uint32
	reply chan *proto.ServerFrame
	group string
}

// MulticastAsync is Multicast without the wait for the daemon's answer: it returns once
// the request is written, so that one goroutine can keep many messages in flight, which
// is what a sender needs to go faster than one round trip to the daemon per message.
// The daemon takes one connection's requests in the order they were written, so one
// goroutine's messages are ordered in the order of its calls. Backpressure still holds:
// the daemon reads the connection only as fast as the ring takes messages, so the call
// blocks once the socket's buffer is full. Every Pending must be waited for (Wait);
// bound how many are outstanding. data may be reused once MulticastAsync returns.
func (c *Client) MulticastAsync(ctx context.Context, group string, data []byte, level Level) (*Pending, error) {
	if limit := c.info.MaxMessage; len(data) > limit {
		return nil, fmt.Errorf("client: multicast to %q: %w: %d bytes, max %d", group, ErrTooLarge, len(data), limit)
	}
	req := &proto.Request{Type: proto.TypeMulticast, Group: group, Data: data, Level: string(level)}
	id, ch, err := c.send(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("client: multicast to %q: %w", group, err)
	}
	return &Pending{c: c, id: id, reply: ch, group: group}, nil
}

// Wait returns the daemon's answer: nil once it accepted the message for ordering. If
// ctx ends first it returns ctx.Err(), and the message may still be sent.
func (p *Pending) Wait(ctx context.Context) error {
	defer p.c.forget(p.id)
	if _, err := p.c.await(ctx, p.reply, proto.TypeOK); err != nil {
		return fmt.Errorf("client: multicast to %q: %w", p.group, err)
	}
	return nil
}

// Status returns what the daemon's node knows about itself and its ring.
func (c *Client) Status(ctx context.Context) (Status, error) {
	f, err := c.call(ctx, &proto.Request{Type: proto.TypeStatus}, proto.TypeStatus)
	if err != nil {
		return Status{}, fmt.Errorf("client: status: %w", err)
	}
	return Status{
		NodeID:       f.NodeID,
		State:        f.State,
		Ring:         RingID{Rep: f.Ring.Rep, Seq: f.Ring.Seq},
		Members:      f.Nodes,
		Rotation:     time.Duration(f.RotationUS) * time.Microsecond,
		Security:     f.Security,
		AuthFailures: f.AuthFailures,
		Replayed:     f.Replayed,
		DuplicateID:  f.DuplicateID,
		Transport:    f.Transport,
		Timers:       timers(f.Timers),
		Nodes:        nodeInfos(f.KnownNodes),
	}, nil
}

// Groups returns every group the daemon's node knows, with its members, sorted by name.
func (c *Client) Groups(ctx context.Context) ([]Group, error) {
	f, err := c.call(ctx, &proto.Request{Type: proto.TypeGroups}, proto.TypeGroups)
	if err != nil {
		return nil, fmt.Errorf("client: groups: %w", err)
	}
	gs := make([]Group, len(f.Groups))
	for i, g := range f.Groups {
		gs[i] = Group{Name: g.Name, Members: members(g.Members)}
	}
	return gs, nil
}

// Members returns the members of group as the daemon's node knows them (none if the
// group does not exist).
func (c *Client) Members(ctx context.Context, group string) ([]Member, error) {
	f, err := c.call(ctx, &proto.Request{Type: proto.TypeMembers, Group: group}, proto.TypeMembers)
	if err != nil {
		return nil, fmt.Errorf("client: members of %q: %w", group, err)
	}
	return members(f.Members), nil
}

// call sends a request and waits for its reply, which must be of type want.
func (c *Client) call(ctx context.Context, req *proto.Request, want string) (*proto.ServerFrame, error) {
	id, ch, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	defer c.forget(id)
	return c.await(ctx, ch, want)
}

// send registers a request id and writes the request; the reply arrives on the
// returned channel, and the caller must forget the id once it is done with it.
func (c *Client) send(ctx context.Context, req *proto.Request) (uint32, chan *proto.ServerFrame, error) {
	id, ch, err := c.register()
	if err != nil {
		return 0, nil, err
	}
	req.ID = id
	err = c.enqueue(ctx, req)
	if err != nil {
		c.forget(id)
		return 0, nil, err
	}
	return id, ch, nil
}

// await waits for a reply on ch, which must be of type want.
func (c *Client) await(ctx context.Context, ch chan *proto.ServerFrame, want string) (*proto.ServerFrame, error) {
	select {
	case f := <-ch:
		return checkReply(f, want)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		select {
		case f := <-ch:
			return checkReply(f, want)
		default:
		}
		return nil, c.Err()
	}
}

func checkReply(f *proto.ServerFrame, want string) (*proto.ServerFrame, error) {
	switch f.Type {
	case want:
		return f, nil
	case proto.TypeError:
		return nil, errorOf(f)
	}
	return nil, fmt.Errorf("%w: reply of type %q, want %q", ErrProtocol, f.Type, want)
}

// register allocates a request id and its reply channel.
func (c *Client) register() (uint32, chan *proto.ServerFrame, error) {
	ch := make(chan *proto.ServerFrame, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, nil, c.err
	}
	for {
		c.nextID++
		if _, busy := c.pending[c.nextID]; c.nextID != 0 && !busy {
			break
		}
	}
	c.pending[c.nextID] = ch
	return c.nextID, ch, nil
}

func (c *Client) forget(id uint32) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}
