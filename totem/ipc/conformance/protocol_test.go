package conformance

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/totem-gcs/totem/totem"
	totemclient "github.com/totem-gcs/totem/totem/client"
	"github.com/totem-gcs/totem/totem/ipc"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
	"github.com/totem-gcs/totem/totem/proto"
)

type m = map[string]any

const (
	maxMessage = 1 << 20
	maxFrame   = maxMessage + 65536
)

// §6.1, §13: the welcome's keys and values.
func TestWelcome(t *testing.T) {
	sock := oneNode(t, ipctest.Options{})
	c := dial(t, sock)
	c.send(m{"type": "hello", "id": 1, "version": 7, "name": "conf"}) // newer than the daemon
	w, n, err := c.read()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"first frame at most 65536 bytes (§2)", n <= 65536},
		{"type welcome", w.typ() == "welcome"},
		{"id echoed", w.id() == 1},
		{"version min(7, 1)", w.uint("version") == 1},
		{"node_id", w.uint("node_id") == 1},
		{"session not 0", w.uint("session") != 0},
		{"pid is ours (§1 credentials)", w.uint("pid") == uint64(os.Getpid())},
		{"max_message", w.uint("max_message") == maxMessage},
		{"max_frame = max_message + 65536", w.uint("max_frame") == maxFrame},
		{"levels agreed, safe", fmt.Sprint(w["levels"]) == "[agreed safe]"},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("%s: welcome %v", ch.what, w)
		}
	}
	c.works()
}

// §3, §6.1, §10.2: every refused first frame is a fatal error, then the end.
func TestHandshakeRefused(t *testing.T) {
	sock := oneNode(t, ipctest.Options{})
	tests := []struct {
		name string
		body []byte
		raw  []byte // instead of body: bytes as they are
		code string
		id   uint64
	}{
		{name: "join before hello", body: pack(t, m{"type": "join", "id": 3, "group": "g"}), code: "hello_required", id: 3},
		{name: "unknown type first", body: pack(t, m{"type": "frob", "id": 3}), code: "hello_required", id: 3},
		{name: "no type", body: pack(t, m{"id": 3, "version": 1}), code: "bad_request", id: 3},
		{name: "id 0", body: pack(t, m{"type": "hello", "id": 0, "version": 1}), code: "bad_request"},
		{name: "no id", body: pack(t, m{"type": "hello", "version": 1}), code: "bad_request"},
		{name: "id 0 and not hello: well-formedness first", body: pack(t, m{"type": "join", "group": "g"}), code: "bad_request"},
		{name: "version 0", body: pack(t, m{"type": "hello", "id": 2, "version": 0}), code: "bad_version", id: 2},
		{name: "no version", body: pack(t, m{"type": "hello", "id": 2}), code: "bad_version", id: 2},
		{name: "version 2^32 is not wrapped to 0", body: pack(t, m{"type": "hello", "id": 2, "version": uint64(1 << 32)}), code: "bad_request", id: 2},
		{name: "version -1", body: pack(t, m{"type": "hello", "id": 2, "version": -1}), code: "bad_request", id: 2},
		{name: "name of 256 bytes", body: pack(t, m{"type": "hello", "id": 2, "version": 1, "name": strings.Repeat("n", 256)}), code: "bad_request", id: 2},
		{name: "name not UTF-8", body: pack(t, m{"type": "hello", "id": 2, "version": 1, "name": "\xff\xfe"}), code: "bad_request", id: 2},
		{name: "malformed", body: []byte{0x81, 0xc1}, code: "bad_request"},
		{name: "hello above 65536 bytes", raw: binary32(65537), code: "frame_too_large"},
		{name: "hello padded to 65537 bytes", raw: withLength(pack(t, m{"type": "hello", "id": 2, "version": 1, "pad": strings.Repeat("x", 65520)})), code: "frame_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, sock)
			if tt.raw != nil {
				c.write(tt.raw)
			} else {
				c.sendBody(tt.body)
			}
			c.expectError(tt.code, tt.id, true)
		})
	}
	t.Run("hello of 65536 bytes is taken", func(t *testing.T) {
		c := dial(t, sock)
		base := pack(t, m{"type": "hello", "id": 2, "version": 1, "pad": ""})
		pad := 65536 - len(base) - 2 // str16 header grows by 2 bytes
		body := pack(t, m{"type": "hello", "id": 2, "version": 1, "pad": strings.Repeat("x", pad)})
		if len(body) != 65536 {
			t.Fatalf("hello of %d bytes", len(body))
		}
		c.sendBody(body)
		if f := c.next(); f.typ() != "welcome" {
			t.Fatalf("got %v", f)
		}
	})
}

func binary32(n uint32) []byte { return []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} }

// §3: no hello in time is a fatal timeout (the timeout is ServerOptions.HelloTimeout).
func TestHelloTimeout(t *testing.T) {
	sock := oneNode(t, ipctest.Options{Server: ipc.ServerOptions{HelloTimeout: 20 * time.Millisecond}})
	c := dial(t, sock)
	c.expectError("timeout", 0, true)
}

// §2: frames above max_frame close the connection; malformed bodies do not, and keep
// the id when it is readable.
func TestFraming(t *testing.T) {
	sock := oneNode(t, ipctest.Options{})
	deep := func(before bool) []byte {
		nest := append(bytes.Repeat([]byte{0x91}, 20), 0xc0)
		id := []byte{0xa2, 'i', 'd', 0x08}
		b := []byte{0x83, 0xa4, 't', 'y', 'p', 'e', 0xa6, 's', 't', 'a', 't', 'u', 's'}
		if before {
			return append(append(append(b, 0xa1, 'k'), nest...), id...)
		}
		return append(append(append(b, id...), 0xa1, 'k'), nest...)
	}
	tests := []struct {
		name  string
		raw   []byte
		code  string
		id    uint64
		fatal bool
	}{
		{"length above max_frame", binary32(maxFrame + 1), "frame_too_large", 0, true},
		{"zero length", withLength(nil), "bad_request", 0, false},
		{"invalid msgpack", withLength([]byte{0xc1}), "bad_request", 0, false},
		{"an array", withLength(pack(t, []any{"status", 5})), "bad_request", 0, false},
		{"trailing bytes keep the id", withLength(append(pack(t, m{"type": "status", "id": 5}), 0)), "bad_request", 5, false},
		{"a length beyond the body", withLength([]byte{0x82, 0xa2, 'i', 'd', 0x06, 0xa4, 'd', 'a', 't', 'a', 0xc6, 0x7f, 0xff, 0xff, 0xff}), "bad_request", 6, false},
		{"truncated map keeps the id", withLength([]byte{0x83, 0xa2, 'i', 'd', 0x07, 0xa4, 't', 'y', 'p', 'e'}), "bad_request", 7, false},
		{"nested too deep after the id", withLength(deep(false)), "bad_request", 8, false},
		{"nested too deep before the id", withLength(deep(true)), "bad_request", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := hello(t, sock, "framing")
			c.write(tt.raw)
			c.expectError(tt.code, tt.id, tt.fatal)
			if !tt.fatal {
				c.works()
			}
		})
	}
	t.Run("a frame of max_frame bytes is read", func(t *testing.T) {
		c, _ := hello(t, sock, "framing")
		c.join("big")
		data := make([]byte, maxMessage)
		c.send(m{"type": "multicast", "id": 9, "group": "big", "data": data, "pad": strings.Repeat("p", maxFrame-maxMessage-100)})
		if f := c.reply(); f.typ() != "ok" || f.id() != 9 {
			t.Fatalf("got %v", f)
		}
		if ev := c.event(); ev.typ() != "message" || len(ev.data()) != maxMessage {
			t.Fatalf("got %v", ev["type"])
		}
	})
}

// §1, §5.1, §10.1: integers are checked, fields have one type, the message names the
// field; what the document allows is taken.
func TestFields(t *testing.T) {
	sock := oneNode(t, ipctest.Options{})
	refused := []struct {
		name string
		req  m
		id   uint64
		msg  string
	}{
		{"id 2^32+5 is not 5", m{"type": "status", "id": uint64(1<<32 + 5)}, 0, `"id": 4294967301 is above 4294967295`},
		{"id 2^32 is not 0", m{"type": "status", "id": uint64(1 << 32)}, 0, `"id": 4294967296 is above`},
		{"id -2 is not 4294967294", m{"type": "status", "id": -2}, 0, `"id": -2 is negative`},
		{"id nil is not 0", m{"type": "status", "id": nil}, 0, `"id": got nil`},
		{"id a float", m{"type": "status", "id": 5.0}, 0, `"id": got a float`},
		{"id a str", m{"type": "status", "id": "5"}, 0, `"id": got str`},
		{"id 0", m{"type": "status", "id": 0}, 0, `"id" is missing or 0`},
		{"no id", m{"type": "status"}, 0, `"id" is missing or 0`},
		{"no type", m{"id": 5}, 5, `"type" is missing`},
		{"empty type", m{"id": 5, "type": ""}, 5, `"type" is missing`},
		{"type a bin", m{"id": 5, "type": []byte("status")}, 5, `"type": got bin, want str`},
		{"group a bin", m{"id": 5, "type": "join", "group": []byte("g")}, 5, `"group": got bin, want str`},
		{"group an integer", m{"id": 5, "type": "join", "group": 7}, 5, `"group": got an integer, want str`},
		{"level nil", m{"id": 5, "type": "multicast", "group": "g", "level": nil}, 5, `"level": got nil`},
		{"data nil", m{"id": 5, "type": "multicast", "group": "g", "data": nil}, 5, `"data": got nil, want bin`},
		{"data a map", m{"id": 5, "type": "multicast", "group": "g", "data": m{}}, 5, `"data": got a map, want bin`},
		{"key not a str", nil, 5, "a key is an integer, want str"},
		{"key twice", nil, 5, `key "type" appears twice`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := hello(t, sock, "fields")
			switch tt.name {
			case "key not a str":
				c.sendBody(pack(t, map[any]any{"type": "status", "id": 5, 9: 1}))
			case "key twice":
				c.sendBody([]byte{0x83, 0xa2, 'i', 'd', 0x05, 0xa4, 't', 'y', 'p', 'e', 0xa6, 's', 't', 'a', 't', 'u', 's', 0xa4, 't', 'y', 'p', 'e', 0xa1, 'x'})
			default:
				c.send(tt.req)
			}
			f := c.expectError("bad_request", tt.id, false)
			if !strings.Contains(f.str("message"), tt.msg) {
				t.Errorf("message %q, want it to say %q", f.str("message"), tt.msg)
			}
			c.works()
		})
	}
	t.Run("largest id, any integer encoding", func(t *testing.T) {
		c, _ := hello(t, sock, "fields")
		for _, id := range []any{uint64(1<<32 - 1), int64(77), int8(5), uint16(300), int32(70000)} {
			c.send(m{"type": "status", "id": id})
			if f := c.reply(); f.typ() != "status" || fmt.Sprint(f.id()) != fmt.Sprint(id) {
				t.Errorf("id %v (%T): got %v", id, id, f)
			}
		}
	})
	t.Run("unknown keys are skipped", func(t *testing.T) {
		c, _ := hello(t, sock, "fields")
		c.send(m{"type": "status", "id": 5, "future": m{"a": []any{1, "b", nil, 2.5}}})
		if f := c.reply(); f.typ() != "status" {
			t.Fatalf("got %v", f)
		}
	})
	t.Run("data as str, level empty is agreed", func(t *testing.T) {
		c, _ := hello(t, sock, "fields")
		c.join("g")
		c.send(m{"type": "multicast", "id": 5, "group": "g", "data": "text", "level": ""})
		if f := c.reply(); f.typ() != "ok" {
			t.Fatalf("got %v", f)
		}
		if ev := c.event(); string(ev.data()) != "text" || ev.str("level") != "agreed" {
			t.Fatalf("got %v", ev)
		}
	})
	t.Run("group not UTF-8 is bad_group", func(t *testing.T) {
		c, _ := hello(t, sock, "fields")
		for _, typ := range []string{"join", "leave", "multicast", "members"} {
			c.send(m{"type": typ, "id": 5, "group": "g\xff"})
			c.expectError("bad_group", 5, false)
		}
	})
}

// §6: every request, its reply and its errors.
func TestRequests(t *testing.T) {
	sock := oneNode(t, ipctest.Options{})
	c, w := hello(t, sock, "req")
	other, ow := hello(t, sock, "other")
	self := func(f frame) bool { return f.uint("session") == w.uint("session") && f.uint("node") == 1 }

	// §6.2 join
	v := c.join("g")
	if j := v.list("joined"); len(j) != 1 || !self(j[0]) || j[0].str("reason") != "join" || j[0].str("name") != "req" || j[0].uint("pid") != uint64(os.Getpid()) {
		t.Errorf("join view %v", v)
	}
	if ms := v.list("members"); len(ms) != 1 || !self(ms[0]) {
		t.Errorf("join view members %v", v)
	}
	for _, tt := range []struct {
		req  m
		code string
	}{
		{m{"type": "join", "group": "g"}, "already_joined"},
		{m{"type": "join", "group": ""}, "bad_group"},
		{m{"type": "join"}, "bad_group"},
		{m{"type": "join", "group": strings.Repeat("G", 256)}, "bad_group"},
		{m{"type": "leave", "group": "nope"}, "not_joined"},
		{m{"type": "leave", "group": ""}, "bad_group"},
		{m{"type": "multicast", "group": "nope", "data": []byte("x")}, "not_joined"},
		{m{"type": "multicast", "group": "g", "data": make([]byte, maxMessage+1)}, "too_large"},
		{m{"type": "multicast", "group": "g", "level": "causal"}, "bad_level"},
		{m{"type": "multicast", "group": "g", "level": "reliable"}, "bad_level"},
		{m{"type": "multicast", "group": "g", "level": "fifo"}, "bad_level"},
		{m{"type": "multicast", "group": "g", "level": "best"}, "bad_level"},
		{m{"type": "members", "group": ""}, "bad_group"},
		{m{"type": "members", "group": strings.Repeat("G", 256)}, "bad_group"},
		{m{"type": "frobnicate"}, "unknown_request"},
		{m{"type": "hello", "version": 1}, "bad_request"},
	} {
		f := c.call(tt.req)
		if f.typ() != "error" || f.str("code") != tt.code || f.fatal() || f.str("message") == "" {
			t.Errorf("%v: got %v, want non-fatal %s", tt.req, f, tt.code)
		}
	}
	// §6.2: a group name of 255 bytes is fine.
	long := strings.Repeat("L", 255)
	other.join(long)

	// §6.4, §7.1 multicast and message
	other.join("g")
	if v := c.event(); v.typ() != "view" || len(v.list("members")) != 2 || v.list("joined")[0].str("reason") != "join" {
		t.Errorf("view of the other's join: %v", v)
	}
	for _, level := range []string{"", "agreed", "safe"} {
		req := m{"type": "multicast", "group": "g", "data": []byte("d-" + level)}
		if level != "" {
			req["level"] = level
		}
		if f := c.call(req); f.typ() != "ok" {
			t.Fatalf("multicast %q: %v", level, f)
		}
		want := level
		if want == "" {
			want = "agreed"
		}
		for _, r := range []*client{c, other} {
			ev := r.event()
			s := ev.sub("sender")
			if ev.typ() != "message" || ev.str("group") != "g" || ev.str("level") != want || string(ev.data()) != "d-"+level ||
				s.uint("node") != 1 || s.uint("session") != w.uint("session") || s.str("name") != "req" || s.uint("pid") != uint64(os.Getpid()) {
				t.Errorf("message %v", ev)
			}
		}
	}
	// §7.1: empty data is left out.
	c.call(m{"type": "multicast", "group": "g"})
	if ev := c.event(); ev.typ() != "message" || ev["data"] != nil {
		t.Errorf("empty message %v", ev)
	}
	other.event()

	// §6.5 status
	st := c.call(m{"type": "status"})
	if st.typ() != "status" || st.uint("node_id") != 1 || st.str("state") != "operational" || st.sub("ring").uint("rep") != 1 ||
		fmt.Sprint(st["nodes"]) != "[1]" || st.str("security") != "unauthenticated" {
		t.Errorf("status %v", st)
	}
	// §6.6 groups, §8.4: sorted by name, members sorted
	gs := c.call(m{"type": "groups"})
	if gl := gs.list("groups"); gs.typ() != "groups" || len(gl) != 2 || gl[0].str("name") != long || gl[1].str("name") != "g" || len(gl[1].list("members")) != 2 {
		t.Errorf("groups %v", gs)
	}
	// §6.7 members, of a group joined or not
	ms := c.call(m{"type": "members", "group": "g"})
	if l := ms.list("members"); ms.typ() != "members" || ms.str("group") != "g" || len(l) != 2 || l[0].uint("session") >= l[1].uint("session") {
		t.Errorf("members %v", ms)
	}
	if e := c.call(m{"type": "members", "group": "empty"}); e.typ() != "members" || len(e.list("members")) != 0 {
		t.Errorf("members of an empty group %v", e)
	}

	// §6.3 leave: the last event of the group, seen by the others too
	if f := c.call(m{"type": "leave", "group": "g"}); f.typ() != "ok" {
		t.Fatalf("leave: %v", f)
	}
	if v := c.event(); v.typ() != "view" || len(v.list("left")) != 1 || !self(v.list("left")[0]) || v.list("left")[0].str("reason") != "leave" {
		t.Errorf("leave view %v", v)
	}
	if v := other.event(); v.typ() != "view" || v.list("left")[0].str("reason") != "leave" {
		t.Errorf("others' leave view %v", v)
	}
	other.call(m{"type": "multicast", "group": "g", "data": []byte("after")})
	if ev := other.event(); string(ev.data()) != "after" {
		t.Errorf("got %v", ev)
	}
	c.works()
	if len(c.kept) != 0 {
		t.Errorf("an event of a group left: %v", c.kept)
	}

	// §3 step 5, §8.2: a client that disconnects leaves with reason disconnect.
	c.join("g")
	if v := other.event(); v.typ() != "view" || v.list("joined")[0].str("reason") != "join" {
		t.Errorf("rejoin view %v", v)
	}
	c.c.Close()
	v = other.event()
	if l := v.list("left"); v.typ() != "view" || len(l) != 1 || l[0].str("reason") != "disconnect" {
		t.Errorf("disconnect view %v", v)
	}
	_ = ow
}

// §10.2: which error wins.
func TestErrorPrecedence(t *testing.T) {
	sock := oneNode(t, ipctest.Options{})
	c, _ := hello(t, sock, "prec")
	c.join("g")
	for _, tt := range []struct {
		name string
		req  m
		code string
	}{
		{"bad field before anything", m{"type": "frob", "group": 5}, "bad_request"},
		{"unknown type before its fields", m{"type": "frob", "group": ""}, "unknown_request"},
		{"bad_group before bad_level", m{"type": "multicast", "group": "", "level": "best"}, "bad_group"},
		{"bad_level before too_large", m{"type": "multicast", "group": "g", "level": "best", "data": make([]byte, maxMessage+1)}, "bad_level"},
		{"too_large before not_joined", m{"type": "multicast", "group": "h", "data": make([]byte, maxMessage+1)}, "too_large"},
		{"bad_level before not_joined", m{"type": "multicast", "group": "h", "level": "best"}, "bad_level"},
		{"the first bad field wins", m{"type": "join", "group": 1, "level": 2}, "bad_request"},
	} {
		f := c.call(tt.req)
		if f.str("code") != tt.code {
			t.Errorf("%s: got %v, want %s", tt.name, f, tt.code)
		}
	}
}

// §5.2: one reply per frame, in order; an id-0 error answers the oldest unanswered
// frame.
func TestRepliesInOrder(t *testing.T) {
	sock := oneNode(t, ipctest.Options{})
	c, _ := hello(t, sock, "order")
	c.join("g")
	var b []byte
	b = append(b, withLength(pack(t, m{"type": "status", "id": 5}))...)
	b = append(b, withLength([]byte{0xc1})...) // id unreadable
	b = append(b, withLength(pack(t, m{"type": "multicast", "id": 6, "group": "g", "data": []byte("x")}))...)
	b = append(b, withLength(pack(t, m{"type": "status", "id": uint64(1 << 40)}))...) // id out of range
	b = append(b, withLength(pack(t, m{"type": "multicast", "id": 7, "group": "g", "level": "best"}))...)
	b = append(b, withLength(pack(t, m{"type": "members", "id": 5, "group": "g"}))...) // ids need only be unique among those awaiting a reply
	c.write(b)
	want := []string{"status 5", "error 0", "ok 6", "error 0", "error 7", "members 5"}
	for i, w := range want {
		f := c.reply()
		if got := fmt.Sprintf("%s %d", f.typ(), f.id()); got != w {
			t.Fatalf("reply %d: %s, want %s", i, got, w)
		}
	}
}

// §5.2, §6.2-§6.4, §12: the reply comes before the events its request caused.
func TestReplyBeforeItsEvents(t *testing.T) {
	sock := oneNode(t, ipctest.Options{})
	c, _ := hello(t, sock, "order")
	id := uint64(10)
	for i := range 20 {
		g := fmt.Sprintf("g%d", i)
		id++
		c.send(m{"type": "join", "id": id, "group": g})
		if f := c.next(); f.typ() != "ok" || f.id() != id {
			t.Fatalf("round %d: got %v before the join's ok", i, f)
		}
		if f := c.next(); f.typ() != "view" || f.str("group") != g {
			t.Fatalf("round %d: got %v, want the join's view", i, f)
		}
		first := id + 1
		const pipelined = 30
		for range pipelined {
			id++
			c.send(m{"type": "multicast", "id": id, "group": g, "data": []byte(fmt.Sprint(id))})
		}
		replied := map[uint64]bool{}
		for range 2 * pipelined {
			switch f := c.next(); f.typ() {
			case "ok":
				replied[f.id()] = true
			case "message":
				var mid uint64
				fmt.Sscan(string(f.data()), &mid)
				if mid < first || !replied[mid] {
					t.Fatalf("round %d: the message of %d before its ok", i, mid)
				}
			default:
				t.Fatalf("round %d: got %v", i, f)
			}
		}
		id++
		c.send(m{"type": "leave", "id": id, "group": g})
		if f := c.next(); f.typ() != "ok" || f.id() != id {
			t.Fatalf("round %d: got %v before the leave's ok", i, f)
		}
		if f := c.next(); f.typ() != "view" || len(f.list("left")) != 1 {
			t.Fatalf("round %d: got %v, want the leave's view", i, f)
		}
	}
}

// §11: a reader that falls behind is cut off with slow_consumer; the others see it
// leave with reason disconnect and lose nothing.
func TestSlowConsumer(t *testing.T) {
	// The daemon gives a cut client CloseTimeout (2 s by default) to read the reason;
	// this test reads it only after the other client has read everything.
	sock := oneNode(t, ipctest.Options{
		Config: func(c *totem.Config) { c.EventQueue = 64 },
		Server: ipc.ServerOptions{CloseTimeout: time.Minute},
	})
	slow, _ := hello(t, sock, "slow")
	slow.join("g")
	fast, _ := hello(t, sock, "fast")
	fast.join("g")
	// Fill the slow client's socket and queue: bounded by a count; 64 KiB each.
	data := make([]byte, 64<<10)
	const sent = 400
	for i := range sent {
		if f := fast.call(m{"type": "multicast", "group": "g", "data": data}); f.typ() != "ok" {
			t.Fatalf("multicast %d: %v", i, f)
		}
	}
	got, cut := 0, false
	for got < sent || !cut {
		ev := fast.event()
		switch {
		case ev.typ() == "message":
			got++
		case ev.typ() == "view" && len(ev.list("left")) == 1 && ev.list("left")[0].str("reason") == "disconnect":
			cut = true
		}
	}
	// The slow client reads what is left in its socket, then the reason, then the end.
	for {
		f, _, err := slow.read()
		if err != nil {
			t.Fatalf("read: %v, want a slow_consumer error first", err)
		}
		if f.typ() == "error" {
			if f.str("code") != "slow_consumer" || !f.fatal() || f.id() != 0 {
				t.Fatalf("got %v", f)
			}
			break
		}
	}
	slow.expectEOF()
}

// §11: a sender the node holds back is not read further; other clients are served.
func TestBackpressure(t *testing.T) {
	sock := ipctest.Start(t, ipctest.Options{Config: ipctest.StalledRing}).Socket
	flood, _ := hello(t, sock, "flood")
	flood.call(m{"type": "join", "group": "g"}) // queued; no ring delivers it
	var b []byte
	for i := range 64 {
		b = append(b, withLength(pack(t, m{"type": "multicast", "id": 1000 + i, "group": "g", "data": []byte("x")}))...)
	}
	flood.write(b)
	other, _ := hello(t, sock, "other")
	other.works() // served while flood is held
	flood.c.Close()
	other.works()
}

// §10: a stopping daemon tells every client shutting_down (fatal, id 0).
func TestShuttingDown(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	c, _ := hello(t, d.Socket, "bye")
	c.join("g")
	go d.StopServing(t.Context())
	c.expectError("shutting_down", 0, true)
}

// §1: where the socket is, without --socket.
func TestDefaultSocket(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1234")
	if got, want := proto.DefaultSocket(), "/run/user/1234/totem/totemd.sock"; got != want {
		t.Errorf("daemon: %s, want %s", got, want)
	}
	if got, want := totemclient.DefaultSocket(), "/run/user/1234/totem/totemd.sock"; got != want {
		t.Errorf("client: %s, want %s", got, want)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	want := filepath.Join(os.TempDir(), fmt.Sprintf("totem-%d", os.Getuid()), "totemd.sock")
	if got := proto.DefaultSocket(); got != want {
		t.Errorf("daemon: %s, want %s", got, want)
	}
	if got := totemclient.DefaultSocket(); got != want {
		t.Errorf("client: %s, want %s", got, want)
	}
}
