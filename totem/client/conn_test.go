package client_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/totem-gcs/totem/totem/client"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
)

// One program against client.Conn, run over the daemon's socket (a Client) and in
// process (an embedded node's Session): the same events, members and errors.
func TestConnTheSameBothWays(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	conns := map[string]func(t *testing.T) client.Conn{
		"client": func(t *testing.T) client.Conn { return newTestClient(t, d, "conn") },
		"session": func(t *testing.T) client.Conn {
			s, err := d.Node.Open(t.Context(), 42, "conn")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	for _, name := range []string{"client", "session"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			c := conns[name](t)
			self := c.Self()
			if self.Node != 1 || self.Session == 0 || self.Name != "conn" {
				t.Fatalf("Self() = %+v, want node 1, a session and the name given", self)
			}
			if err := c.Multicast(ctx, "g", []byte("x"), client.Agreed); !errors.Is(err, client.ErrNotJoined) {
				t.Errorf("multicast before joining: %v, want ErrNotJoined", err)
			}
			if err := c.Join(ctx, "g"); err != nil {
				t.Fatal(err)
			}
			if err := c.Join(ctx, "g"); !errors.Is(err, client.ErrAlreadyJoined) {
				t.Errorf("second join: %v, want ErrAlreadyJoined", err)
			}
			if err := c.Multicast(ctx, "g", []byte("hello"), client.Safe); err != nil {
				t.Fatal(err)
			}
			v, ok := receive(ctx, t, c).(client.View)
			if !ok || v.Group != "g" || len(v.Joined) != 1 || v.Joined[0].Member.Session != self.Session || v.Joined[0].Reason != client.ReasonJoin {
				t.Fatalf("first event %+v, want the view of g with this member joined (reason join)", v)
			}
			m, ok := receive(ctx, t, c).(client.Message)
			if !ok || m.Group != "g" || string(m.Data) != "hello" || m.Level != client.Safe || !m.Safe || m.Sender.Session != self.Session {
				t.Fatalf("second event %+v, want our safe message", m)
			}
			ms, err := c.Members(ctx, "g")
			if err != nil || !slices.ContainsFunc(ms, func(m client.Member) bool { return m.Session == self.Session }) {
				t.Fatalf("Members(g) = %+v, %v; want this member", ms, err)
			}
			if err := c.Leave(ctx, "g"); err != nil {
				t.Fatal(err)
			}
			if v, ok := receive(ctx, t, c).(client.View); !ok || len(v.Left) != 1 || v.Left[0].Reason != client.ReasonLeave {
				t.Fatalf("after leaving: %+v, want the view with this member left (reason leave)", v)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Receive(ctx); !errors.Is(err, client.ErrClosed) {
				t.Errorf("Receive after Close: %v, want ErrClosed", err)
			}
		})
	}
}

func receive(ctx context.Context, t *testing.T, c client.Conn) client.Event {
	t.Helper()
	ev, err := c.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return ev
}
