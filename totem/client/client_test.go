package client_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/client"
	"github.com/totem-gcs/totem/totem/ipc"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
)

func TestRoundTrip(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	c := newTestClient(t, d, "alice")
	info := c.Info()
	if info.NodeID != 1 || info.Session == 0 || info.Version != 1 || info.MaxMessage != d.Config.MaxMessageSize {
		t.Fatalf("info = %+v", info)
	}
	v := joinAndWait(ctx, t, c, "g")
	self := client.Member{Node: 1, Session: info.Session, PID: info.PID, Name: "alice"}
	if want := []client.Member{self}; !slices.Equal(v.Members, want) {
		t.Fatalf("view members = %+v, want %+v", v.Members, want)
	}
	levels := []client.Level{client.Agreed, client.Safe, client.Agreed, client.Safe}
	for i, l := range levels {
		if err := c.Multicast(ctx, "g", []byte{byte(i)}, l); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range levels {
		m, ok := nextEvent(ctx, t, c).(client.Message)
		if !ok {
			t.Fatalf("event %d is not a message", i)
		}
		want := client.Message{Group: "g", Sender: self, Level: l, Safe: l == client.Safe, Data: []byte{byte(i)}}
		if m.Group != want.Group || m.Sender != want.Sender || m.Level != want.Level || m.Safe != want.Safe || !slices.Equal(m.Data, want.Data) {
			t.Errorf("message %d = %+v, want %+v", i, m, want)
		}
	}
}

// TestSameOrder: two clients sending concurrently see the same sequence.
func TestSameOrder(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	a, b := newTestClient(t, d, "a"), newTestClient(t, d, "b")
	joinAndWait(ctx, t, a, "g")
	joinAndWait(ctx, t, b, "g")
	const n = 500
	errs := make(chan error, 2)
	go func() { errs <- sendAll(ctx, a, "g", payloads("a", n), client.Agreed) }()
	go func() { errs <- sendAll(ctx, b, "g", payloads("b", n), client.Safe) }()
	// Both read while both send: a client whose events are not read stops getting
	// replies too (they share the connection, in order).
	var gotB []string
	var errB error
	read := make(chan struct{})
	go func() {
		defer close(read)
		gotB, errB = collect(ctx, b, "g", 2*n)
	}()
	gotA, errA := collect(ctx, a, "g", 2*n)
	<-read
	for _, err := range []error{<-errs, <-errs, errA, errB} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(gotA, gotB) {
		t.Fatalf("orders differ:\na: %v\nb: %v", gotA[:10], gotB[:10])
	}
	for _, prefix := range []string{"a", "b"} {
		var mine []string
		for _, m := range gotA {
			if m[0] == prefix[0] {
				mine = append(mine, m)
			}
		}
		if want := payloads(prefix, n); !slices.Equal(mine, want) {
			t.Errorf("%s's messages out of order or missing", prefix)
		}
	}
}

func TestLeaveAndDisconnectViews(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	watcher, leaver, quitter := newTestClient(t, d, "w"), newTestClient(t, d, "l"), newTestClient(t, d, "q")
	joinAndWait(ctx, t, watcher, "g")
	joinAndWait(ctx, t, leaver, "g")
	joinAndWait(ctx, t, quitter, "g")
	waitView(ctx, t, watcher, "g", func(v client.View) bool { return len(v.Members) == 3 })

	if err := leaver.Leave(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	v := waitView(ctx, t, watcher, "g", func(v client.View) bool { return len(v.Left) > 0 })
	if !hasChange(v.Left, leaver.Info().Session, client.ReasonLeave) || len(v.Members) != 2 {
		t.Errorf("after leave: view %+v, want %d left with reason leave", v, leaver.Info().Session)
	}
	if err := quitter.Close(); err != nil {
		t.Fatal(err)
	}
	v = waitView(ctx, t, watcher, "g", func(v client.View) bool { return len(v.Left) > 0 })
	if !hasChange(v.Left, quitter.Info().Session, client.ReasonDisconnect) || len(v.Members) != 1 {
		t.Errorf("after close: view %+v, want %d left with reason disconnect", v, quitter.Info().Session)
	}
}

func TestStatusGroupsMembers(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	a, b := newTestClient(t, d, "a"), newTestClient(t, d, "b")
	st, err := a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.NodeID != 1 || st.State != "operational" || st.Ring.Rep != 1 || st.Ring.Seq == 0 || !slices.Equal(st.Members, []client.NodeID{1}) {
		t.Errorf("status = %+v", st)
	}
	joinAndWait(ctx, t, a, "x")
	joinAndWait(ctx, t, a, "y")
	joinAndWait(ctx, t, b, "y")
	ma := client.Member{Node: 1, Session: a.Info().Session, PID: a.Info().PID, Name: "a"}
	mb := client.Member{Node: 1, Session: b.Info().Session, PID: b.Info().PID, Name: "b"}
	gs, err := b.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []client.Group{{Name: "x", Members: []client.Member{ma}}, {Name: "y", Members: []client.Member{ma, mb}}}
	if !slices.EqualFunc(gs, want, func(g, w client.Group) bool { return g.Name == w.Name && slices.Equal(g.Members, w.Members) }) {
		t.Errorf("groups = %+v, want %+v", gs, want)
	}
	ms, err := b.Members(ctx, "y")
	if err != nil || !slices.Equal(ms, []client.Member{ma, mb}) {
		t.Errorf("members(y) = %+v, %v", ms, err)
	}
	ms, err = b.Members(ctx, "none")
	if err != nil || len(ms) != 0 {
		t.Errorf("members(none) = %+v, %v", ms, err)
	}
}

func TestTypedErrors(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	c := newTestClient(t, d, "c")
	joinAndWait(ctx, t, c, "g")
	big := make([]byte, c.Info().MaxMessage+1)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"join twice", func() error { return c.Join(ctx, "g") }, client.ErrAlreadyJoined},
		{"multicast not joined", func() error { return c.Multicast(ctx, "other", []byte("x"), client.Agreed) }, client.ErrNotJoined},
		{"leave not joined", func() error { return c.Leave(ctx, "other") }, client.ErrNotJoined},
		{"too large", func() error { return c.Multicast(ctx, "g", big, client.Agreed) }, client.ErrTooLarge},
		{"empty group", func() error { return c.Join(ctx, "") }, client.ErrBadGroup},
		{"reserved level", func() error { return c.Multicast(ctx, "g", nil, "fifo") }, client.ErrBadLevel},
		{"unknown level", func() error { return c.Multicast(ctx, "g", nil, "bogus") }, client.ErrBadLevel},
		{"canceled", func() error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			return c.Multicast(cctx, "g", nil, client.Agreed)
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errorsIs(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	// The connection is still good.
	if err := c.Multicast(ctx, "g", []byte("ok"), client.Agreed); err != nil {
		t.Fatal(err)
	}
}

func TestDaemonGone(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	c := newTestClient(t, d, "c")
	joinAndWait(ctx, t, c, "g")
	if err := d.StopServing(ctx); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	for ev := range c.Events() { // drains, then closes
		_ = ev
	}
	if err := c.Err(); !errorsIs(err, client.ErrDaemonGone, client.ErrShuttingDown) {
		t.Errorf("Err() = %v, want daemon gone, shutting down", err)
	}
	if err := c.Multicast(ctx, "g", []byte("x"), client.Agreed); !errorsIs(err, client.ErrDaemonGone) {
		t.Errorf("Multicast after the daemon went: %v, want ErrDaemonGone", err)
	}
	if _, err := client.Dial(ctx, d.Socket); !errorsIs(err, client.ErrDaemonGone) {
		t.Errorf("Dial after the daemon went: %v, want ErrDaemonGone", err)
	}
}

func TestClose(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	c := newTestClient(t, d, "c")
	joinAndWait(ctx, t, c, "g")
	c.Close()
	c.Close() // twice is fine
	if _, ok := <-c.Events(); ok {
		t.Error("events still open after Close")
	}
	if err := c.Join(ctx, "h"); !errorsIs(err, client.ErrClosed) {
		t.Errorf("Join after Close: %v, want ErrClosed", err)
	}
}

// TestFlood: a client that sends as fast as it can is held back by the node's bounded
// send queue, and every message arrives in order; another client goes on meanwhile.
func TestFlood(t *testing.T) {
	// Small queues, so that the flood meets backpressure: the ring holds 8 datagrams
	// waiting for the token, the node 16 records waiting for the ring.
	d := ipctest.StartOperational(t, ipctest.Options{Config: func(c *totem.Config) {
		c.Membership.Ring.SendQueueMax = 8
		c.MaxPendingRecords = 16
	}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	flooder, other := newTestClient(t, d, "flooder"), newTestClient(t, d, "other")
	joinAndWait(ctx, t, flooder, "flood")
	joinAndWait(ctx, t, other, "calm")
	const n = 20000
	sent := make(chan error, 1)
	var slowest time.Duration // the longest Multicast: long when held back
	go func() {
		for _, m := range payloads("m", n) {
			start := time.Now()
			if err := flooder.Multicast(ctx, "flood", []byte(m), client.Agreed); err != nil {
				sent <- err
				return
			}
			slowest = max(slowest, time.Since(start))
		}
		sent <- nil
	}()
	// Meanwhile the other client's requests are answered and its messages delivered.
	for i := range 20 {
		if _, err := other.Status(ctx); err != nil {
			t.Fatal(err)
		}
		if err := other.Multicast(ctx, "calm", []byte{byte(i)}, client.Safe); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := collect(ctx, other, "calm", 20); err != nil || len(got) != 20 {
		t.Fatalf("other client: %d messages, %v", len(got), err)
	}
	got, err := collect(ctx, flooder, "flood", n)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, payloads("m", n)) {
		t.Fatal("flood arrived out of order")
	}
	t.Logf("slowest multicast: %v", slowest)
}

// TestSlowConsumer: a client that stops reading is cut off with the reason
// slow_consumer once its queue overflows; the others see it leave and lose nothing.
func TestSlowConsumer(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{
		Config: func(c *totem.Config) { c.EventQueue = 256 },
		Server: ipc.ServerOptions{CloseTimeout: 10 * time.Second},
	})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	sender := newTestClient(t, d, "sender")
	sleeper := newTestClient(t, d, "sleeper", client.WithEventBuffer(0))
	joinAndWait(ctx, t, sender, "g")
	joinAndWait(ctx, t, sleeper, "g")
	waitView(ctx, t, sender, "g", func(v client.View) bool { return len(v.Members) == 2 })
	// The sleeper now reads nothing. The sender keeps at most window messages in
	// flight, so that no burst of its own messages overflows its queue, and sends until
	// it sees the node cut the sleeper off.
	const window = 32
	r := &slowTestReader{t: t, c: sender, sleeper: sleeper.Info().Session}
	msg := make([]byte, 1024)
	for i := 0; !r.cut; i++ {
		if i == 100000 {
			t.Fatal("the sleeper was never cut off")
		}
		for i-len(r.got) >= window {
			r.next(ctx)
		}
		binary.BigEndian.PutUint32(msg, uint32(i))
		if err := sender.Multicast(ctx, "g", msg, client.Agreed); err != nil {
			t.Fatal(err)
		}
		r.sent = i + 1
	}
	for len(r.got) < r.sent {
		r.next(ctx)
	}
	for i, v := range r.got {
		if v != i {
			t.Fatalf("sender's message %d is %d", i, v)
		}
	}
	// The sleeper wakes up: it finds what was queued, then the reason.
	for range sleeper.Events() {
	}
	if err := sleeper.Err(); !errorsIs(err, client.ErrDaemonGone, client.ErrSlowConsumer) {
		t.Errorf("sleeper's Err() = %v, want daemon gone, slow consumer", err)
	}
}

// slowTestReader reads the sender's events in TestSlowConsumer.
type slowTestReader struct {
	t       *testing.T
	c       *client.Client
	sleeper uint32
	sent    int
	got     []int
	cut     bool
}

func (r *slowTestReader) next(ctx context.Context) {
	switch ev := nextEvent(ctx, r.t, r.c).(type) {
	case client.Message:
		r.got = append(r.got, int(binary.BigEndian.Uint32(ev.Data)))
	case client.View:
		if hasChange(ev.Left, r.sleeper, client.ReasonDisconnect) {
			r.cut = true
		}
	}
}

// TestBackpressureContext: a Multicast the daemon holds back returns when its context
// ends, and Close does not wait for it.
func TestBackpressureContext(t *testing.T) {
	d := ipctest.Start(t, ipctest.Options{Config: ipctest.StalledRing})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	c := newTestClient(t, d, "c")
	if err := c.Join(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		mctx, mcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := c.Multicast(mctx, "g", []byte("x"), client.Agreed)
		mcancel()
		if errors.Is(err, context.DeadlineExceeded) {
			t.Logf("held back after %d messages", i)
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 1000 {
			t.Fatal("never held back")
		}
	}
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("Close blocked")
	}
}

// TestMulticastAsync: one goroutine keeps many multicasts in flight; they are delivered
// in the order of its calls, every Pending answers, and a refused one says why.
func TestMulticastAsync(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	c := newTestClient(t, d, "pipeline", client.WithEventBuffer(4096))
	joinAndWait(ctx, t, c, "g")
	msgs := payloads("m", 2000)
	pendings := make(chan *client.Pending, 128) // the window
	waited := make(chan error, 1)
	go func() {
		var first error
		for p := range pendings {
			if err := p.Wait(ctx); err != nil && first == nil {
				first = err
			}
		}
		waited <- first
	}()
	got := make(chan []string, 1)
	go func() {
		m, err := collect(ctx, c, "g", len(msgs))
		if err != nil {
			t.Error(err)
		}
		got <- m
	}()
	for _, m := range msgs {
		p, err := c.MulticastAsync(ctx, "g", []byte(m), client.Agreed)
		if err != nil {
			t.Fatal(err)
		}
		pendings <- p
	}
	close(pendings)
	if err := <-waited; err != nil {
		t.Fatalf("a pending multicast failed: %v", err)
	}
	if m := <-got; !slices.Equal(m, msgs) {
		t.Fatalf("delivered %d messages not in the order sent", len(m))
	}

	p, err := c.MulticastAsync(ctx, "not-joined", []byte("x"), client.Agreed)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); !errors.Is(err, client.ErrNotJoined) {
		t.Fatalf("async multicast to a group not joined: %v, want ErrNotJoined", err)
	}
}

// Status carries the node table and the timers: the daemon's node is a member, a
// configured node that never started is missing.
func TestStatusNodesAndTimers(t *testing.T) {
	addr1, addr2 := netip.MustParseAddrPort("127.0.0.1:5405"), netip.MustParseAddrPort("127.0.0.2:5405")
	var token time.Duration
	d := ipctest.StartOperational(t, ipctest.Options{Config: func(c *totem.Config) {
		c.Nodes = map[client.NodeID]netip.AddrPort{1: addr1, 2: addr2}
		token = c.Membership.Ring.TokenTimeout
	}})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	st, err := newTestClient(t, d, "a").Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []client.NodeInfo{
		{ID: 1, Addr: addr1, State: client.NodeMember, Self: true, Configured: true},
		{ID: 2, Addr: addr2, State: client.NodeMissing, Configured: true},
	}
	if !slices.Equal(st.Nodes, want) {
		t.Errorf("nodes %+v, want %+v", st.Nodes, want)
	}
	if st.Timers.Token != token || st.Timers.TokenRetransmit == 0 || st.Timers.Consensus == 0 || st.Timers.Join == 0 || st.Timers.Merge == 0 {
		t.Errorf("timers %+v, want the node's (token %v)", st.Timers, token)
	}
}
