package client

import "context"

// Conn is a member's connection to the process groups of a totem node, with one set of
// types and errors whichever way it reaches the node: a Client over the daemon's Unix
// socket, or an embedded node's session in process (totem.Session). Programs and
// libraries (rsm, the demos) written against Conn run either way.
type Conn interface {
	// Self is this connection's identity as a group member: its node and session.
	Self() Member
	// Join joins group; the view that lists this member follows as an event.
	Join(ctx context.Context, group string) error
	// Leave leaves group; the view without this member follows as an event.
	Leave(ctx context.Context, group string) error
	// Multicast sends data to every member of group (this one included) at level,
	// once the node has accepted it; ErrNotJoined unless this member joined group.
	Multicast(ctx context.Context, group string, data []byte, level Level) error
	// Receive returns the next event of the groups this member joined, a Message or a
	// View, in each group's agreed order; after the connection ends, the reason.
	Receive(ctx context.Context) (Event, error)
	// Members lists group's members as the node knows them now, sorted by node and
	// session (a snapshot, not a view: views come in order through Receive).
	Members(ctx context.Context, group string) ([]Member, error)
	// Close ends the connection: the member leaves its groups (reason disconnect).
	Close() error
}

var _ Conn = (*Client)(nil)

// Self returns this client's identity as a group member.
func (c *Client) Self() Member {
	return Member{Node: c.info.NodeID, Session: c.info.Session, PID: c.info.PID, Name: c.name}
}

// Receive returns the next event from Events, waiting until ctx ends; once the
// connection has ended and every event before is received, it returns Err. A program
// reads events with Receive or from Events, not both.
func (c *Client) Receive(ctx context.Context) (Event, error) {
	select {
	case ev, ok := <-c.events:
		if !ok {
			return nil, c.Err()
		}
		return ev, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
