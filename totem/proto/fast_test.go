package proto

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

func TestHandEncodedFramesAreTheReflectiveEncodersBytes(t *testing.T) {
	for _, id := range []uint32{1, 127, 128, 65536, 1<<32 - 1} {
		want, _ := AppendFrame([]byte("prefix"), &ServerFrame{Type: TypeOK, ID: id})
		if got := AppendOK([]byte("prefix"), id); !bytes.Equal(got, want) {
			t.Errorf("ok %d:\n got %x\nwant %x", id, got, want)
		}
	}
	for _, level := range []string{"", LevelAgreed, LevelSafe} {
		for _, d := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte{7}, 70000)} {
			want, _ := AppendFrame(nil, &Request{Type: TypeMulticast, ID: 300, Group: "grp", Level: level, Data: d})
			if got := AppendMulticast(nil, 300, "grp", level, d); !bytes.Equal(got, want) {
				t.Errorf("multicast level %q %d bytes:\n got %x\nwant %x", level, len(d), got[:min(60, len(got))], want[:min(60, len(want))])
			}
		}
	}
	senders := []Member{{Node: 1, Session: 2, PID: 3}, {Node: 1<<32 - 1, Session: 70000, PID: 1 << 31, Name: strings.Repeat("n", 40)}}
	datas := [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte{7}, 300), bytes.Repeat([]byte{9}, 70000)}
	for _, s := range senders {
		for _, d := range datas {
			for _, level := range []string{LevelAgreed, LevelSafe} {
				for _, g := range []string{"g", strings.Repeat("G", 255)} {
					want, _ := AppendFrame(nil, &ServerFrame{Type: TypeMessage, Group: g, Sender: s, Level: level, Data: d})
					if got := AppendMessage(nil, g, s, level, d); !bytes.Equal(got, want) {
						t.Errorf("message %+v %d bytes %s %d:\n got %x\nwant %x", s, len(d), level, len(g), got[:min(60, len(got))], want[:min(60, len(want))])
					}
				}
			}
		}
	}
}

// fastSeeds are frames of both directions, plain and not.
func fastSeeds(t testing.TB) [][]byte {
	var out [][]byte
	add := func(v any) {
		b, err := AppendFrame(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b[HeaderSize:])
	}
	add(&Request{Type: TypeMulticast, ID: 9, Group: "g", Level: LevelSafe, Data: []byte("hello")})
	add(&Request{Type: TypeMulticast, ID: 1<<32 - 1, Group: "g", Data: []byte{}})
	add(&Request{Type: TypeHello, ID: 1, Version: 1, Name: "me"})
	add(&Request{Type: TypeJoin, ID: 2, Group: "g"})
	add(map[string]any{"type": "multicast", "id": uint64(1) << 33, "group": "g"})
	add(map[string]any{"type": "multicast", "id": -2, "group": "g", "data": nil})
	add(map[string]any{"type": []byte("multicast"), "id": 3, "group": []byte("g"), "extra": 1})
	add(&ServerFrame{Type: TypeOK, ID: 7})
	add(&ServerFrame{Type: TypeMessage, Group: "g", Sender: Member{Node: 2, Session: 3, PID: 4, Name: "x"}, Level: LevelAgreed, Data: []byte("d")})
	add(&ServerFrame{Type: TypeView, Group: "g", Members: []Member{{Node: 1, Session: 1, PID: 1}}})
	add(&ServerFrame{Type: TypeError, ID: 3, Code: CodeNotJoined, Message: "no"})
	return out
}

// checkFastAgrees: whatever a fast decoder (or the server's strict parseRequest)
// accepts, Decode reads the same way.
func checkFastAgrees(t *testing.T, b []byte) {
	var fr, rr Request
	if ParseRequest(b, &fr) == nil {
		if err := Decode(b, &rr); err != nil {
			t.Fatalf("parseRequest took %x, Decode refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(normalize(fr), normalize(rr)) {
			t.Fatalf("request %x: fast %+v, Decode %+v", b, fr, rr)
		}
	}
	var fs, rs ServerFrame
	if DecodeServerFrameFast(b, &fs) {
		if err := Decode(b, &rs); err != nil {
			t.Fatalf("fast frame decoder took %x, Decode refuses it: %v", b, err)
		}
		if len(fs.Data) == 0 && len(rs.Data) == 0 {
			fs.Data, rs.Data = nil, nil
		}
		if !reflect.DeepEqual(fs, rs) {
			t.Fatalf("frame %x: fast %+v, Decode %+v", b, fs, rs)
		}
	}
}

func normalize(r Request) Request {
	if len(r.Data) == 0 {
		r.Data = nil
	}
	return r
}

func TestFastDecodersAgreeWithDecode(t *testing.T) {
	seeds := fastSeeds(t)
	var req Request
	if err := ParseRequest(seeds[0], &req); err != nil || req.ID != 9 || req.Level != LevelSafe || string(req.Data) != "hello" {
		t.Fatalf("plain multicast not parsed: %+v %v", req, err)
	}
	for i, b := range seeds[4:7] {
		if ParseRequest(b, &Request{}) == nil {
			t.Errorf("seed %d (out of range, negative, nil or bin for str) accepted by parseRequest", i+4)
		}
	}
	var f ServerFrame
	if !DecodeServerFrameFast(seeds[8], &f) || f.Sender.Name != "x" || string(f.Data) != "d" {
		t.Fatalf("plain message not taken by the fast path: %+v", f)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 50000 {
		b := bytes.Clone(seeds[i%len(seeds)])
		for range 1 + rng.IntN(3) {
			b[rng.IntN(len(b))] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 {
			b = b[:rng.IntN(len(b)+1)]
		}
		checkFastAgrees(t, b)
	}
}

func FuzzFastDecoders(f *testing.F) {
	for _, b := range fastSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFastAgrees(t, b) })
}

func TestFastDecodersDoNotAliasTheBody(t *testing.T) {
	b, _ := AppendFrame(nil, &ServerFrame{Type: TypeMessage, Group: "g", Sender: Member{Node: wire.NodeID(1)}, Level: LevelAgreed, Data: []byte("data")})
	body := b[HeaderSize:]
	var f ServerFrame
	if !DecodeServerFrameFast(body, &f) {
		t.Fatal("not taken")
	}
	for i := range body {
		body[i] = 0
	}
	if string(f.Data) != "data" || f.Group != "g" {
		t.Fatalf("decoded frame changed with its buffer: %+v", f)
	}
}

func BenchmarkMessageFrame(b *testing.B) {
	data := make([]byte, 100)
	s := Member{Node: 2, Session: 3, PID: 4242}
	b.Run("encode/reflective", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = AppendFrame(buf[:0], &ServerFrame{Type: TypeMessage, Group: "bench", Sender: s, Level: LevelAgreed, Data: data})
		}
	})
	b.Run("encode/hand", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = AppendMessage(buf[:0], "bench", s, LevelAgreed, data)
		}
	})
	frame := AppendMessage(nil, "bench", s, LevelAgreed, data)[HeaderSize:]
	b.Run("decode/reflective", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var f ServerFrame
			Decode(frame, &f)
		}
	})
	b.Run("decode/hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var f ServerFrame
			DecodeServerFrameFast(frame, &f)
		}
	})
}
