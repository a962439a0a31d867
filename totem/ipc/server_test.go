package ipc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/ipc"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
	"github.com/totem-gcs/totem/totem/proto"
)

func mustMsgpack(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWelcome(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	tests := []struct {
		name        string
		version     uint32
		wantVersion uint32
	}{
		{"same version", proto.Version, proto.Version},
		{"newer client", proto.Version + 5, proto.Version},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dialRaw(t, d.Socket)
			r.send(&proto.Request{Type: proto.TypeHello, ID: 9, Version: tt.version, Name: "w"})
			f := r.next()
			want := &proto.ServerFrame{
				Type: proto.TypeWelcome, ID: 9, Version: tt.wantVersion, NodeID: 1, Session: f.Session,
				PID: uint32(os.Getpid()), MaxMessage: 1 << 20, MaxFrame: 1<<20 + proto.FrameOverhead,
				Levels: []string{proto.LevelAgreed, proto.LevelSafe},
			}
			if f.Session == 0 || !equalFrames(f, want) {
				t.Errorf("got %+v, want %+v", f, want)
			}
		})
	}
}

func equalFrames(a, b *proto.ServerFrame) bool {
	ab, _ := proto.AppendFrame(nil, a)
	bb, _ := proto.AppendFrame(nil, b)
	return bytes.Equal(ab, bb)
}

// TestHandshakeRefused: every bad first frame is answered with a fatal error, then the
// connection is closed.
func TestHandshakeRefused(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	hello := func(mod func(*proto.Request)) []byte {
		r := proto.Request{Type: proto.TypeHello, ID: 1, Version: 1, Name: "x"}
		mod(&r)
		b, _ := proto.AppendFrame(nil, &r)
		return b
	}
	tests := []struct {
		name string
		send []byte
		code string
	}{
		{"request before hello", hello(func(r *proto.Request) { r.Type = proto.TypeJoin; r.Group = "g" }), proto.CodeHelloRequired},
		{"version 0", hello(func(r *proto.Request) { r.Version = 0 }), proto.CodeBadVersion},
		{"id 0", hello(func(r *proto.Request) { r.ID = 0 }), proto.CodeBadRequest},
		{"name too long", hello(func(r *proto.Request) { r.Name = string(make([]byte, 256)) }), proto.CodeBadRequest},
		{"malformed", frame([]byte{0x81, 0xc1}), proto.CodeBadRequest},
		{"oversized header", []byte{0xff, 0xff, 0xff, 0xff}, proto.CodeFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dialRaw(t, d.Socket)
			r.write(tt.send)
			if f := r.next(); f.Type != proto.TypeError || f.Code != tt.code || !f.Fatal {
				t.Errorf("got %+v, want fatal %s", f, tt.code)
			}
			r.expectEOF()
		})
	}
}

func TestHelloTimeout(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{Server: ipc.ServerOptions{HelloTimeout: 50 * time.Millisecond}})
	r := dialRaw(t, d.Socket)
	if f := r.next(); f.Code != proto.CodeTimeout || !f.Fatal {
		t.Errorf("got %+v, want fatal timeout", f)
	}
	r.expectEOF()
}

// TestBadInput sends one bad thing per connection after the handshake. Framing errors
// close that connection; the rest get an error reply and the connection goes on. A
// well-behaved client keeps working throughout.
func TestBadInput(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	good := helloRaw(t, d.Socket, "good")
	good.joinRaw("g")
	maxFrame := 1<<20 + proto.FrameOverhead
	deep := append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 40), 0xc0)
	tests := []struct {
		name  string
		send  []byte
		code  string
		id    uint32
		fatal bool
	}{
		{"garbage bytes", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), proto.CodeFrameTooLarge, 0, true},
		{"oversized header", binary.BigEndian.AppendUint32(nil, uint32(maxFrame+1)), proto.CodeFrameTooLarge, 0, true},
		{"empty frame", frame(nil), proto.CodeBadRequest, 0, false},
		{"invalid msgpack", frame([]byte{0xc1}), proto.CodeBadRequest, 0, false},
		{"not a map", frame(mustMsgpack(t, []any{"join", 5})), proto.CodeBadRequest, 0, false},
		{"truncated map", frame([]byte{0x85, 0xa4, 't', 'y', 'p', 'e'}), proto.CodeBadRequest, 0, false},
		{"huge claimed length", frame([]byte{0x81, 0xa4, 'd', 'a', 't', 'a', 0xc6, 0x7f, 0xff, 0xff, 0xff}), proto.CodeBadRequest, 0, false},
		{"trailing bytes", frame(append(mustMsgpack(t, map[string]any{"type": "status", "id": 3}), 0)), proto.CodeBadRequest, 3, false},
		{"too deep", frame(deep), proto.CodeBadRequest, 0, false},
		{"wrong field type", frame(mustMsgpack(t, map[string]any{"type": "join", "id": 5, "group": 7})), proto.CodeBadRequest, 5, false},
		{"unknown request", frame(mustMsgpack(t, map[string]any{"type": "frobnicate", "id": 6})), proto.CodeUnknownRequest, 6, false},
		{"missing type", frame(mustMsgpack(t, map[string]any{"id": 7})), proto.CodeBadRequest, 7, false},
		{"id 0", frame(mustMsgpack(t, map[string]any{"type": "status"})), proto.CodeBadRequest, 0, false},
		{"second hello", frame(mustMsgpack(t, map[string]any{"type": "hello", "id": 8, "version": 1})), proto.CodeBadRequest, 8, false},
		{"reserved level", frame(mustMsgpack(t, map[string]any{"type": "multicast", "id": 9, "group": "g", "level": "causal"})), proto.CodeBadLevel, 9, false},
		{"unknown level", frame(mustMsgpack(t, map[string]any{"type": "multicast", "id": 10, "group": "g", "level": "best"})), proto.CodeBadLevel, 10, false},
		{"message too large", frame(mustMsgpack(t, map[string]any{"type": "multicast", "id": 11, "group": "g", "data": make([]byte, 1<<20+1)})), proto.CodeTooLarge, 11, false},
		{"not joined", frame(mustMsgpack(t, map[string]any{"type": "multicast", "id": 12, "group": "h", "data": []byte("x")})), proto.CodeNotJoined, 12, false},
		{"bad group", frame(mustMsgpack(t, map[string]any{"type": "join", "id": 13, "group": ""})), proto.CodeBadGroup, 13, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := helloRaw(t, d.Socket, "bad")
			bad.joinRaw("g")
			bad.write(tt.send)
			f := bad.nextNonEvent()
			if f.Type != proto.TypeError || f.Code != tt.code || f.ID != tt.id || f.Fatal != tt.fatal {
				t.Errorf("got %+v, want code %s id %d fatal %v", f, tt.code, tt.id, tt.fatal)
			}
			if tt.fatal {
				bad.expectEOF()
			} else {
				bad.checkWorks("g", "still here")
			}
			good.checkWorks("g", tt.name+string(rune('a'+i)))
		})
	}
}

// TestServeStops: canceling Serve tells every client why and closes it, including one
// still in its handshake; the socket file is removed.
func TestServeStops(t *testing.T) {
	// The silent client must meet the shutdown, not its hello timeout, however slow a
	// loaded machine is between its dial and the stop.
	d := ipctest.StartOperational(t, ipctest.Options{Server: ipc.ServerOptions{HelloTimeout: time.Minute}})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	// Dialed first, so accepted first: once joined has its welcome, the server has
	// accepted silent too (a connection still in the listen backlog would be reset).
	silent := dialRaw(t, d.Socket)
	joined := helloRaw(t, d.Socket, "joined")
	joined.joinRaw("g")
	if err := d.StopServing(ctx); err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
	for _, r := range []*rawClient{joined, silent} {
		if f := r.reply(0); f.Code != proto.CodeShuttingDown || !f.Fatal {
			t.Errorf("got %+v, want fatal shutting_down", f)
		}
		r.expectEOF()
	}
	if _, err := os.Stat(d.Socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after Serve: %v", err)
	}
}

// TestNodeStops: when the node stops, Serve tells the clients and returns
// totem.ErrNodeStopped.
func TestNodeStops(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	r := helloRaw(t, d.Socket, "r")
	r.joinRaw("g")
	if err := d.StopNode(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.ServeResult(ctx); !errors.Is(err, totem.ErrNodeStopped) {
		t.Errorf("Serve returned %v, want ErrNodeStopped", err)
	}
	if f := r.reply(0); f.Code != proto.CodeShuttingDown || !f.Fatal {
		t.Errorf("got %+v, want fatal shutting_down", f)
	}
	r.expectEOF()
}

// TestPipelinedRequests: requests sent back to back are answered in order, each after
// the one before.
func TestPipelinedRequests(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	r := helloRaw(t, d.Socket, "p")
	r.joinRaw("g")
	var b []byte
	for i := range 50 {
		b, _ = proto.AppendFrame(b, &proto.Request{Type: proto.TypeMulticast, ID: uint32(1000 + i), Group: "g", Data: []byte{byte(i)}, Level: proto.LevelSafe})
	}
	r.write(b)
	var ids []uint32
	var data []byte
	for len(ids) < 50 || len(data) < 50 {
		switch f := r.next(); f.Type {
		case proto.TypeOK:
			ids = append(ids, f.ID)
		case proto.TypeMessage:
			if f.Level != proto.LevelSafe {
				t.Errorf("level %q, want safe", f.Level)
			}
			data = append(data, f.Data...)
		default:
			t.Fatalf("unexpected %+v", f)
		}
	}
	for i := range 50 {
		if ids[i] != uint32(1000+i) || data[i] != byte(i) {
			t.Fatalf("reply %d has id %d, message %d is %d", i, ids[i], i, data[i])
		}
	}
	if !slices.IsSorted(ids) {
		t.Error("replies out of order")
	}
}

// TestServeStopsWithStuckClient: a client that reads nothing does not hold up Serve's
// return beyond CloseTimeout.
func TestServeStopsWithStuckClient(t *testing.T) {
	const closeTimeout = 300 * time.Millisecond
	d := ipctest.StartOperational(t, ipctest.Options{Server: ipc.ServerOptions{CloseTimeout: closeTimeout}})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	stuck := helloRaw(t, d.Socket, "stuck")
	stuck.joinRaw("g")
	sender := helloRaw(t, d.Socket, "sender")
	sender.joinRaw("g")
	// Fill the stuck client's socket (about 2 MB of events, far below its node queue)
	// while the sender reads its own.
	const n = 500
	msg := make([]byte, 4096)
	got := 0
	for i := range n {
		sender.send(&proto.Request{Type: proto.TypeMulticast, ID: uint32(i + 1), Group: "g", Data: msg})
		for replied := false; !replied; {
			switch f := sender.next(); f.Type {
			case proto.TypeMessage:
				got++
			case proto.TypeOK:
				replied = true
			default:
				t.Fatalf("multicast %d: %+v", i, f)
			}
		}
	}
	for got < n {
		if f := sender.next(); f.Type == proto.TypeMessage {
			got++
		}
	}
	start := time.Now()
	if err := d.StopServing(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > closeTimeout+2*time.Second {
		t.Errorf("Serve took %v to stop", took)
	}
	t.Logf("Serve stopped in %v", time.Since(start))
}

// TestBackpressure: once the node's queues are full, a multicast is not answered and
// the client's next requests wait behind it, while another client is still served;
// stopping the server releases the blocked request.
func TestBackpressure(t *testing.T) {
	d := ipctest.Start(t, ipctest.Options{Config: ipctest.StalledRing})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	flood := helloRaw(t, d.Socket, "flood")
	if f := flood.call(proto.Request{Type: proto.TypeJoin, Group: "g"}); f.Type != proto.TypeOK {
		t.Fatalf("join: %+v", f)
	}
	const n = 50
	var b []byte
	for i := range n {
		b, _ = proto.AppendFrame(b, &proto.Request{Type: proto.TypeMulticast, ID: uint32(i + 1), Group: "g", Data: []byte{byte(i)}})
	}
	b, _ = proto.AppendFrame(b, &proto.Request{Type: proto.TypeStatus, ID: n + 1})
	flood.write(b)
	// The replies stop coming at the first multicast the node holds back.
	accepted := 0
	for {
		flood.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		body, err := flood.fr.Next()
		if err != nil {
			break
		}
		var f proto.ServerFrame
		if err := proto.Decode(body, &f); err != nil || f.Type != proto.TypeOK || f.ID != uint32(accepted+1) {
			t.Fatalf("reply %d: %+v, %v", accepted, f, err)
		}
		accepted++
	}
	if accepted == 0 || accepted >= n {
		t.Fatalf("%d of %d multicasts accepted, want some but not all", accepted, n)
	}
	t.Logf("accepted %d multicasts before backpressure", accepted)
	// Someone else is still served.
	other := helloRaw(t, d.Socket, "other")
	if f := other.call(proto.Request{Type: proto.TypeStatus}); f.Type != proto.TypeStatus || f.State != "gather" {
		t.Fatalf("status: %+v", f)
	}
	if f := other.call(proto.Request{Type: proto.TypeJoin, Group: "h"}); f.Type != proto.TypeOK {
		t.Fatalf("join: %+v", f)
	}
	// Stopping releases the held-back multicasts: each is answered, in order, ok if the
	// node took it before the session closed (the other client's leave makes a little
	// room), else shutting_down; the last ones fail.
	if err := d.StopServing(ctx); err != nil {
		t.Fatal(err)
	}
	id, refused := uint32(accepted), false
	for {
		f := flood.next()
		if f.Type == proto.TypeError && f.Fatal {
			break
		}
		if f.ID != id+1 {
			t.Fatalf("after the stop: reply %+v, want id %d", f, id+1)
		}
		id++
		if f.Type != proto.TypeOK {
			if f.Code != proto.CodeShuttingDown {
				t.Fatalf("held-back multicast %d: %+v, want ok or shutting_down", id, f)
			}
			refused = true
			break
		}
	}
	if !refused {
		t.Errorf("no held-back multicast was refused by the stop (last answered: %d)", id)
	}
}

// TestHeldBackClientGone: a client that goes away while the node holds back its
// multicast is noticed at once, its request canceled and its session closed, whether
// it waited for that one reply or had more requests queued behind it.
func TestHeldBackClientGone(t *testing.T) {
	tests := []struct {
		name      string
		pipelined bool
	}{
		{"waiting for its reply", false},
		{"with requests queued", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gone := make(chan string, 16)
			log := slog.New(&watchHandler{
				Handler: slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}),
				message: "client disconnected", seen: gone,
			})
			d := ipctest.Start(t, ipctest.Options{Config: ipctest.StalledRing, Server: ipc.ServerOptions{Logger: log}})
			r := helloRaw(t, d.Socket, "held")
			if f := r.call(proto.Request{Type: proto.TypeJoin, Group: "g"}); f.Type != proto.TypeOK {
				t.Fatalf("join: %+v", f)
			}
			fill(t, r, tt.pipelined)
			r.c.Close()
			select {
			case name := <-gone:
				if name != "held" {
					t.Errorf("%q disconnected, want held", name)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the server did not notice the client go")
			}
		})
	}
}

// fill sends multicasts until the node holds one back; pipelined, it then queues more.
func fill(t *testing.T, r *rawClient, pipelined bool) {
	t.Helper()
	for i := uint32(1); ; i++ {
		r.send(&proto.Request{Type: proto.TypeMulticast, ID: i, Group: "g", Data: []byte("x")})
		r.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := r.fr.Next(); err != nil {
			break // held back
		}
		if i > 1000 {
			t.Fatal("no backpressure")
		}
	}
	if pipelined {
		for i := range 5 {
			r.send(&proto.Request{Type: proto.TypeStatus, ID: uint32(5000 + i)})
		}
		time.Sleep(50 * time.Millisecond) // let the reader take one and hold it
	}
}

// watchHandler reports the "name" of each log record with a given message.
type watchHandler struct {
	slog.Handler
	message string
	attrs   []slog.Attr
	seen    chan<- string
}

func (h *watchHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.message {
		for _, a := range h.attrs {
			if a.Key == "name" {
				select {
				case h.seen <- a.Value.String():
				default:
				}
			}
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *watchHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &watchHandler{Handler: h.Handler.WithAttrs(as), message: h.message, attrs: append(slices.Clone(h.attrs), as...), seen: h.seen}
}

func (h *watchHandler) WithGroup(g string) slog.Handler {
	return &watchHandler{Handler: h.Handler.WithGroup(g), message: h.message, attrs: h.attrs, seen: h.seen}
}

// TestReplyBeforeItsEvents: the reply to a join, leave or multicast comes before the
// view or the own message it caused (docs/PROTOCOL.md §5.3), also with multicasts
// pipelined. On a one-node ring the node delivers them before the handler has the
// reply, so without the rule they would come first.
func TestReplyBeforeItsEvents(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	r := helloRaw(t, d.Socket, "order")
	expect := func(what string, check func(*proto.ServerFrame) bool) {
		t.Helper()
		if f := r.next(); !check(f) {
			t.Fatalf("%s: got %+v", what, f)
		}
	}
	const rounds, pipelined = 30, 40
	id := uint32(10)
	for i := range rounds {
		g := fmt.Sprintf("g%d", i)
		id++
		r.send(&proto.Request{Type: proto.TypeJoin, ID: id, Group: g})
		expect("join reply", func(f *proto.ServerFrame) bool { return f.Type == proto.TypeOK && f.ID == id })
		expect("join view", func(f *proto.ServerFrame) bool { return f.Type == proto.TypeView && f.Group == g })
		first := id + 1
		for range pipelined {
			id++
			r.send(&proto.Request{Type: proto.TypeMulticast, ID: id, Group: g, Data: []byte(fmt.Sprint(id))})
		}
		replied := make(map[uint32]bool)
		for got := 0; got < 2*pipelined; got++ {
			f := r.next()
			switch f.Type {
			case proto.TypeOK:
				replied[f.ID] = true
			case proto.TypeMessage:
				var mid uint32
				fmt.Sscan(string(f.Data), &mid)
				if mid < first || !replied[mid] {
					t.Fatalf("round %d: message of request %d before its reply", i, mid)
				}
			default:
				t.Fatalf("round %d: got %+v", i, f)
			}
		}
		id++
		r.send(&proto.Request{Type: proto.TypeLeave, ID: id, Group: g})
		expect("leave reply", func(f *proto.ServerFrame) bool { return f.Type == proto.TypeOK && f.ID == id })
		expect("leave view", func(f *proto.ServerFrame) bool { return f.Type == proto.TypeView && f.Group == g && len(f.Left) == 1 })
	}
}
