package conformance

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// readTimeout bounds every read: a missing frame fails the test instead of hanging.
const readTimeout = 20 * time.Second

// frame is a decoded daemon frame: a msgpack map, read generically.
type frame map[string]any

func (f frame) str(k string) string {
	s, _ := f[k].(string)
	return s
}

// uint reads an integer key as the document says receivers must: any encoding.
func (f frame) uint(k string) uint64 {
	switch v := f[k].(type) {
	case int8:
		return uint64(v)
	case int16:
		return uint64(v)
	case int32:
		return uint64(v)
	case int64:
		return uint64(v)
	case uint8:
		return uint64(v)
	case uint16:
		return uint64(v)
	case uint32:
		return uint64(v)
	case uint64:
		return v
	}
	return 0
}

func (f frame) id() uint64    { return f.uint("id") }
func (f frame) typ() string   { return f.str("type") }
func (f frame) fatal() bool   { b, _ := f["fatal"].(bool); return b }
func (f frame) isEvent() bool { return f.typ() == "view" || f.typ() == "message" }

func (f frame) list(k string) []frame {
	vs, _ := f[k].([]any)
	out := make([]frame, 0, len(vs))
	for _, v := range vs {
		m, _ := v.(map[string]any)
		out = append(out, frame(m))
	}
	return out
}

func (f frame) sub(k string) frame {
	m, _ := f[k].(map[string]any)
	return frame(m)
}

func (f frame) data() []byte {
	switch v := f["data"].(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	return nil
}

// client is a raw connection.
type client struct {
	t      *testing.T
	c      *net.UnixConn
	nextID uint64
	kept   []frame // events read while waiting for a reply
}

func dial(t *testing.T, socket string) *client {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, nextID: 100}
}

// hello dials and completes the handshake; it returns the welcome.
func hello(t *testing.T, socket, name string) (*client, frame) {
	t.Helper()
	c := dial(t, socket)
	c.send(map[string]any{"type": "hello", "id": 1, "version": 1, "name": name})
	w := c.next()
	if w.typ() != "welcome" {
		t.Fatalf("hello answered with %v", w)
	}
	return c, w
}

func pack(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withLength prefixes body with its length.
func withLength(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes v (a map) as one frame.
func (c *client) send(v any) { c.t.Helper(); c.write(withLength(pack(c.t, v))) }

// sendBody writes a raw body as one frame.
func (c *client) sendBody(body []byte) { c.t.Helper(); c.write(withLength(body)) }

// read reads one frame: its length, and the body as a generic map.
func (c *client) read() (frame, int, error) {
	c.c.SetReadDeadline(time.Now().Add(readTimeout))
	var hdr [4]byte
	if _, err := io.ReadFull(c.c, hdr[:]); err != nil {
		return nil, 0, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > 8<<20 {
		return nil, 0, fmt.Errorf("frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.c, body); err != nil {
		return nil, 0, err
	}
	var m map[string]any
	if err := msgpack.Unmarshal(body, &m); err != nil {
		return nil, 0, fmt.Errorf("daemon frame is not a map: %w", err)
	}
	return frame(m), int(n), nil
}

func (c *client) next() frame {
	c.t.Helper()
	f, _, err := c.read()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// reply reads to the next frame that is not an event, keeping the events.
func (c *client) reply() frame {
	c.t.Helper()
	for {
		f := c.next()
		if !f.isEvent() {
			return f
		}
		c.kept = append(c.kept, f)
	}
}

// call sends req with a fresh id and returns its reply.
func (c *client) call(req map[string]any) frame {
	c.t.Helper()
	c.nextID++
	req["id"] = c.nextID
	c.send(req)
	f := c.reply()
	if f.id() != c.nextID && !(f.typ() == "error" && f.fatal()) {
		c.t.Fatalf("reply %v to request %d", f, c.nextID)
	}
	return f
}

// event returns the next event, kept or read.
func (c *client) event() frame {
	c.t.Helper()
	if len(c.kept) > 0 {
		f := c.kept[0]
		c.kept = c.kept[1:]
		return f
	}
	f := c.next()
	if !f.isEvent() {
		c.t.Fatalf("got %v, want an event", f)
	}
	return f
}

// join joins group and reads its reply and the view that shows the client.
func (c *client) join(group string) frame {
	c.t.Helper()
	if f := c.call(map[string]any{"type": "join", "group": group}); f.typ() != "ok" {
		c.t.Fatalf("join %s: %v", group, f)
	}
	for {
		if v := c.event(); v.typ() == "view" && v.str("group") == group {
			return v
		}
	}
}

// expectError checks that the next non-event frame is an error with code, id and
// fatality; fatal ones must be followed by the end of the connection.
func (c *client) expectError(code string, id uint64, fatal bool) frame {
	c.t.Helper()
	f := c.reply()
	if f.typ() != "error" || f.str("code") != code || f.id() != id || f.fatal() != fatal {
		c.t.Fatalf("got %v, want error %s id %d fatal %v", f, code, id, fatal)
	}
	if fatal {
		c.expectEOF()
	}
	return f
}

func (c *client) expectEOF() {
	c.t.Helper()
	f, _, err := c.read()
	if err == nil {
		c.t.Fatalf("got %v, want the connection closed", f)
	}
	var op *net.OpError
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !(errors.As(err, &op) && !op.Timeout()) {
		c.t.Fatalf("read: %v, want EOF", err)
	}
}

// works checks that the connection still serves requests.
func (c *client) works() {
	c.t.Helper()
	if f := c.call(map[string]any{"type": "status"}); f.typ() != "status" {
		c.t.Fatalf("status: %v", f)
	}
}
