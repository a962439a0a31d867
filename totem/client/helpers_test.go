package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/totem-gcs/totem/totem/client"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
)

const testTimeout = 20 * time.Second

// newTestClient dials d; the client is closed when the test ends.
func newTestClient(t testing.TB, d *ipctest.Daemon, name string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	c, err := client.Dial(ctx, d.Socket, append([]client.Option{client.WithName(name)}, opts...)...)
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// nextEvent returns the next event, failing the test on timeout or a closed stream.
func nextEvent(ctx context.Context, t *testing.T, c *client.Client) client.Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatalf("events closed: %v", c.Err())
		}
		return ev
	case <-ctx.Done():
		t.Fatalf("no event: %v", ctx.Err())
	}
	return nil
}

// waitView skips events until a view of group that satisfies ok.
func waitView(ctx context.Context, t *testing.T, c *client.Client, group string, ok func(client.View) bool) client.View {
	t.Helper()
	for {
		if v, isView := nextEvent(ctx, t, c).(client.View); isView && v.Group == group && ok(v) {
			return v
		}
	}
}

// joinAndWait joins group and waits for the view that shows c joining.
func joinAndWait(ctx context.Context, t *testing.T, c *client.Client, group string) client.View {
	t.Helper()
	if err := c.Join(ctx, group); err != nil {
		t.Fatal(err)
	}
	self := c.Info().Session
	return waitView(ctx, t, c, group, func(v client.View) bool { return hasChange(v.Joined, self, client.ReasonJoin) })
}

func hasChange(cs []client.Change, session uint32, r client.Reason) bool {
	return slices.ContainsFunc(cs, func(c client.Change) bool { return c.Member.Session == session && c.Reason == r })
}

// collect reads events until it has n messages of group and returns their payloads.
func collect(ctx context.Context, c *client.Client, group string, n int) ([]string, error) {
	var got []string
	for len(got) < n {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return got, fmt.Errorf("events closed after %d messages: %w", len(got), c.Err())
			}
			if m, isMsg := ev.(client.Message); isMsg && m.Group == group {
				got = append(got, string(m.Data))
			}
		case <-ctx.Done():
			return got, fmt.Errorf("got %d of %d messages: %w", len(got), n, ctx.Err())
		}
	}
	return got, nil
}

func payloads(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func sendAll(ctx context.Context, c *client.Client, group string, msgs []string, level client.Level) error {
	for _, m := range msgs {
		if err := c.Multicast(ctx, group, []byte(m), level); err != nil {
			return err
		}
	}
	return nil
}

func errorsIs(err error, targets ...error) bool {
	for _, t := range targets {
		if !errors.Is(err, t) {
			return false
		}
	}
	return true
}
