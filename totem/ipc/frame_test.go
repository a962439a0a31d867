package ipc_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem/proto"
)

func TestFrameReader(t *testing.T) {
	const max = 16
	body := []byte("0123456789abcdef")
	tests := []struct {
		name    string
		in      []byte
		want    [][]byte
		wantErr error
	}{
		{"clean end", nil, nil, io.EOF},
		{"two frames", append(frame([]byte("a")), frame([]byte("bc"))...), [][]byte{[]byte("a"), []byte("bc")}, io.EOF},
		{"empty body", frame(nil), [][]byte{{}}, io.EOF},
		{"exactly max", frame(body), [][]byte{body}, io.EOF},
		{"over max", frame(append(body, 'x')), nil, proto.ErrFrameTooLarge},
		{"huge claim, no body", binary.BigEndian.AppendUint32(nil, 0xffffffff), nil, proto.ErrFrameTooLarge},
		{"partial header", []byte{0, 0}, nil, io.ErrUnexpectedEOF},
		{"partial body", frame(body)[:10], nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := proto.NewFrameReader(bytes.NewReader(tt.in), max)
			var got [][]byte
			var err error
			for {
				var b []byte
				if b, err = fr.Next(); err != nil {
					break
				}
				got = append(got, bytes.Clone(b))
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d frames, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Errorf("frame %d = %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestFrameRoundTrip: what AppendFrame writes, FrameReader and Decode give back.
func TestFrameRoundTrip(t *testing.T) {
	frames := []any{
		&proto.Request{Type: proto.TypeHello, ID: 1, Version: 1, Name: "n"},
		&proto.Request{Type: proto.TypeMulticast, ID: 1<<32 - 1, Group: "g", Level: proto.LevelSafe, Data: []byte{0, 1, 2}},
		&proto.ServerFrame{Type: proto.TypeWelcome, ID: 1, Version: 1, NodeID: 7, Session: 3, PID: 42, MaxMessage: 1 << 20, MaxFrame: 1<<20 + proto.FrameOverhead, Levels: []string{"agreed", "safe"}},
		&proto.ServerFrame{Type: proto.TypeStatus, ID: 2, NodeID: 7, State: "operational", Ring: proto.RingID{Rep: 1, Seq: 1 << 40}, Nodes: []wire.NodeID{1, 7}},
		&proto.ServerFrame{Type: proto.TypeGroups, ID: 3, Groups: []proto.Group{{Name: "g", Members: []proto.Member{{Node: 1, Session: 2, PID: 3, Name: "x"}}}}},
		&proto.ServerFrame{Type: proto.TypeView, Group: "g", Members: []proto.Member{{Node: 1, Session: 2, PID: 3}}, Joined: []proto.Change{{Node: 1, Session: 2, PID: 3, Reason: "join"}}, Left: []proto.Change{{Node: 2, Session: 1, Reason: "node-down"}}},
		&proto.ServerFrame{Type: proto.TypeMessage, Group: "g", Sender: proto.Member{Node: 1, Session: 2, PID: 3, Name: "x"}, Level: proto.LevelAgreed, Data: []byte("hi")},
		&proto.ServerFrame{Type: proto.TypeError, ID: 4, Code: proto.CodeNotJoined, Message: "no", Fatal: true},
	}
	var stream []byte
	for _, f := range frames {
		var err error
		if stream, err = proto.AppendFrame(stream, f); err != nil {
			t.Fatal(err)
		}
	}
	fr := proto.NewFrameReader(bytes.NewReader(stream), 1<<20)
	for i, want := range frames {
		body, err := fr.Next()
		if err != nil {
			t.Fatal(err)
		}
		got := reflect.New(reflect.TypeOf(want).Elem()).Interface()
		if err := proto.Decode(body, got); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("frame %d: got %+v, want %+v", i, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"empty map", []byte{0x80}, true},
		{"every scalar kind", []byte{0x8d,
			0x00, 0x7f, 0x01, 0xe0, 0x02, 0xc0, 0x03, 0xc3, // fixints, nil, true
			0x04, 0xcc, 1, 0x05, 0xd1, 1, 2, 0x06, 0xca, 1, 2, 3, 4, // uint8, int16, float32
			0x07, 0xcf, 1, 2, 3, 4, 5, 6, 7, 8, // uint64
			0x08, 0xd9, 2, 'h', 'i', 0x09, 0xc4, 1, 0xff, // str8, bin8
			0x0a, 0xd4, 1, 9, 0x0b, 0xc7, 1, 5, 9, // fixext1, ext8
			0x0c, 0x92, 0x90, 0x80, // array of an empty array and an empty map
		}, true},
		{"empty", nil, false},
		{"array at the top", []byte{0x90}, false},
		{"string at the top", []byte{0xa1, 'x'}, false},
		{"trailing byte", []byte{0x80, 0x00}, false},
		{"reserved code", []byte{0x81, 0x00, 0xc1}, false},
		{"map short of values", []byte{0x82, 0x00, 0x00}, false},
		{"str32 claims 2 GiB", []byte{0x81, 0x00, 0xdb, 0x7f, 0xff, 0xff, 0xff}, false},
		{"array32 claims 4 billion", []byte{0x81, 0x00, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x00}, false},
		{"map32 claims 4 billion", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0x00}, false},
		{"truncated uint64", []byte{0x81, 0x00, 0xcf, 1, 2}, false},
		{"truncated length", []byte{0x81, 0x00, 0xc5, 1}, false},
		{"nested too deep", append(bytes.Repeat([]byte{0x81, 0x00}, 17), 0xc0), false},
		{"nested at the limit", append(bytes.Repeat([]byte{0x81, 0x00}, 16), 0xc0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := proto.Check(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("Check = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, proto.ErrMalformed) {
				t.Errorf("error %v is not ErrMalformed", err)
			}
		})
	}
}

// FuzzDecode: decoding any bytes never panics, and a decoded request encodes and decodes
// to itself.
func FuzzDecode(f *testing.F) {
	for _, v := range []any{
		&proto.Request{Type: proto.TypeMulticast, ID: 3, Group: "g", Level: "safe", Data: []byte("x")},
		&proto.ServerFrame{Type: proto.TypeView, Group: "g", Members: []proto.Member{{Node: 1}}, Left: []proto.Change{{Reason: "leave"}}},
	} {
		b, _ := proto.AppendFrame(nil, v)
		f.Add(b[proto.HeaderSize:])
	}
	f.Add([]byte{0x81, 0xa4, 't', 'y', 'p', 'e', 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var sf proto.ServerFrame
		_ = proto.Decode(b, &sf)
		var req proto.Request
		if proto.Decode(b, &req) != nil {
			return
		}
		enc, err := proto.AppendFrame(nil, &req)
		if err != nil {
			t.Fatal(err)
		}
		var again proto.Request
		if err := proto.Decode(enc[proto.HeaderSize:], &again); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normal(req), normal(again)) {
			t.Fatalf("round trip: %+v != %+v", req, again)
		}
	})
}

// normal treats empty and nil data alike (omitempty leaves both out).
func normal(r proto.Request) proto.Request {
	if len(r.Data) == 0 {
		r.Data = nil
	}
	return r
}
