package ipc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/totem-gcs/totem/totem/proto"
)

// A claim above bigClaim bytes has the allocations of its read measured; allocSlack is
// what the rest of the process may allocate meanwhile.
const (
	bigClaim   = 4 << 20
	allocSlack = 1 << 20
)

// errStreamBroke is the read error of a stream that breaks instead of ending.
var errStreamBroke = errors.New("stream broke")

// choppedReader gives its bytes in reads of sizes[i]+1 bytes (cycling; all at once
// without sizes), then io.EOF, or errStreamBroke when broke.
type choppedReader struct {
	b     []byte
	sizes []byte
	i     int
	broke bool
}

func (r *choppedReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		if r.broke {
			return 0, errStreamBroke
		}
		return 0, io.EOF
	}
	n := len(r.b)
	if len(r.sizes) > 0 {
		n = min(n, int(r.sizes[r.i%len(r.sizes)])+1)
		r.i++
	}
	n = copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

// streamFrame is one frame of the model: a body, or how the stream ends.
type streamFrame struct {
	body    []byte
	err     error // io.EOF, io.ErrUnexpectedEOF, errStreamBroke or ErrFrameTooLarge
	claim   int   // the length prefix, -1 for none
	limit   int   // the limit it is read against
	arrived int   // the body bytes that arrived (all of them, or those of a frame cut short)
}

// modelStream is what a FrameReader must make of stream: the frames, with first as the
// limit of the first frame and then as the limit of the rest, and how the stream ends.
func modelStream(stream []byte, first, then int, broke bool) []streamFrame {
	cut := io.ErrUnexpectedEOF
	if broke {
		cut = errStreamBroke
	}
	var out []streamFrame
	for limit := first; ; limit = then {
		switch {
		case len(stream) == 0 && broke:
			return append(out, streamFrame{err: errStreamBroke, claim: -1, limit: limit})
		case len(stream) == 0:
			return append(out, streamFrame{err: io.EOF, claim: -1, limit: limit})
		case len(stream) < proto.HeaderSize:
			return append(out, streamFrame{err: cut, claim: -1, limit: limit})
		}
		n := int(binary.BigEndian.Uint32(stream))
		switch {
		case n > limit:
			return append(out, streamFrame{err: proto.ErrFrameTooLarge, claim: n, limit: limit})
		case len(stream)-proto.HeaderSize < n:
			return append(out, streamFrame{err: cut, claim: n, limit: limit, arrived: len(stream) - proto.HeaderSize})
		}
		out = append(out, streamFrame{body: stream[proto.HeaderSize : proto.HeaderSize+n], claim: n, limit: limit, arrived: n})
		stream = stream[proto.HeaderSize+n:]
	}
}

// FuzzFrameStream feeds arbitrary bytes, in arbitrary reads, to the FrameReader a
// server reads a client with (and a client its server), with the limit changing after
// the first frame as a client's does after the handshake, and each frame it returns to
// the server's request decoding (the hello, then requests) and the client's frame
// decoding. Whatever arrives:
//
//   - the reader returns exactly the stream's frames, in order, and ends as the stream
//     does: io.EOF between frames, io.ErrUnexpectedEOF inside one, the reader's own
//     error as it is, ErrFrameTooLarge naming the claim and the limit for a prefix
//     above the limit;
//   - a prefix above the limit is refused without allocating for it, and a frame's
//     buffer grows with the bytes that arrive, not with what the prefix claims (a peer
//     claiming 4 GiB and sending 10 bytes costs a read chunk, not 4 GiB);
//   - the server answers every frame with a request or an error reply with a known code
//     that encodes, fits any client's frame limit and decodes on the client; a frame
//     too large gets a fatal frame_too_large, other ends of the stream no reply;
//   - nothing panics.
func FuzzFrameStream(f *testing.F) {
	var hello, requests []byte
	hello, _ = proto.AppendFrame(hello, &proto.Request{Type: proto.TypeHello, ID: 1, Version: 1, Name: "fuzz"})
	for _, v := range []any{
		&proto.Request{Type: proto.TypeJoin, ID: 2, Group: "g"},
		&proto.Request{Type: proto.TypeMulticast, ID: 3, Group: "g", Level: proto.LevelSafe, Data: []byte("hello")},
		&proto.Request{Type: proto.TypeStatus, ID: 4},
		&proto.ServerFrame{Type: proto.TypeMessage, Group: "g", Sender: proto.Member{Node: 1, Session: 2, PID: 3}, Level: proto.LevelAgreed, Data: []byte("d")},
	} {
		requests, _ = proto.AppendFrame(requests, v)
	}
	stream := append(slices.Clone(hello), requests...)
	huge := binary.BigEndian.AppendUint32(nil, 0xffffffff)
	for _, seed := range []struct {
		stream      []byte
		first, then uint32
		sizes       []byte
		broke       bool
	}{
		{nil, 1 << 10, 1 << 20, nil, false},
		{stream, 1 << 10, 1 << 20, nil, false},
		{stream, 1 << 10, 1 << 20, []byte{0, 2, 6}, true},
		{stream, 8, 1 << 20, []byte{3}, false},                                 // the hello over the limit
		{stream[:len(stream)-3], 1 << 10, 1 << 20, nil, false},                 // the last frame cut short
		{append(slices.Clone(hello), huge...), 1 << 10, 1<<32 - 1, nil, false}, // claims 4 GiB within the limit, sends nothing
		{append(slices.Clone(hello), huge...), 1 << 10, 1 << 20, nil, true},    // claims 4 GiB over the limit
		{append(binary.BigEndian.AppendUint32(nil, 200000), bytes.Repeat([]byte{0x80}, 150000)...), 1 << 20, 1 << 20, []byte{255}, false},
		{[]byte{0, 0}, 16, 16, nil, true},
		{binary.BigEndian.AppendUint32(nil, 0), 16, 16, nil, false}, // an empty body
		{append(binary.BigEndian.AppendUint32(nil, 1), 0xc1), 16, 16, nil, false},
	} {
		f.Add(seed.stream, seed.first, seed.then, seed.sizes, seed.broke)
	}
	srv := &server{}
	f.Fuzz(func(t *testing.T, stream []byte, first, then uint32, sizes []byte, broke bool) {
		want := modelStream(stream, int(first), int(then), broke)
		fr := proto.NewFrameReader(&choppedReader{b: stream, sizes: sizes, broke: broke}, int(first))
		for i, w := range want {
			kept := fr.Retained()
			if kept > proto.KeepBuffer {
				kept = 0
			}
			// At most this much may be allocated for the frame: what arrived, with room to
			// grow, and a read chunk ahead of it.
			allowed := 2*w.arrived + 2*proto.ReadChunk
			var before runtime.MemStats
			if w.claim > bigClaim { // rare, and a claim worth measuring
				runtime.ReadMemStats(&before)
			}
			body, err := fr.Next()
			if w.claim > bigClaim {
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(allowed+allocSlack) {
					t.Fatalf("frame %d: %d bytes allocated for a %d-byte claim (limit %d) with %d bytes behind it", i, alloc, w.claim, w.limit, w.arrived)
				}
			}
			if i == 0 {
				fr.SetMax(int(then))
			}
			switch {
			case w.err == nil && err != nil:
				t.Fatalf("frame %d: %v, want its %d-byte body", i, err, len(w.body))
			case w.err == nil && !bytes.Equal(body, w.body):
				t.Fatalf("frame %d: body %x, want %x", i, body, w.body)
			case w.err != nil && !errors.Is(err, w.err):
				t.Fatalf("frame %d: error %v, body %x; want %v", i, err, body, w.err)
			case errors.Is(w.err, proto.ErrFrameTooLarge):
				if msg := err.Error(); !strings.Contains(msg, strconv.Itoa(w.claim)+" bytes") || !strings.Contains(msg, strconv.Itoa(w.limit)) {
					t.Errorf("frame %d: %q does not say the claim (%d) and the limit (%d)", i, msg, w.claim, w.limit)
				}
				if fr.Retained() != kept {
					t.Errorf("frame %d: refusing a %d-byte claim, the buffer went from %d to %d bytes", i, w.claim, kept, fr.Retained())
				}
			}
			if fr.Retained() > max(kept, allowed) {
				t.Errorf("frame %d: a buffer of %d bytes for %d that arrived", i, fr.Retained(), w.arrived)
			}
			checkServerReads(t, srv, i, body, err)
		}
	})
}

// checkServerReads checks what the server makes of frame i (or the stream's end, err),
// and what the client makes of the server's reply and of the frame.
func checkServerReads(t *testing.T, srv *server, i int, body []byte, err error) {
	t.Helper()
	var reply *proto.ServerFrame
	switch {
	case err != nil:
		reply = srv.readError(context.Background(), err)
		if errors.Is(err, proto.ErrFrameTooLarge) != (reply != nil) {
			t.Fatalf("stream end %v: reply %+v; want frame_too_large exactly for a frame too large", err, reply)
		}
		if reply != nil && (reply.Code != proto.CodeFrameTooLarge || !reply.Fatal) {
			t.Fatalf("stream end %v: reply %+v, want a fatal %s", err, reply, proto.CodeFrameTooLarge)
		}
	case i == 0:
		var req proto.Request
		reply = checkHello(body, &req)
		if reply != nil && !reply.Fatal {
			t.Fatalf("hello %x refused with a reply that is not fatal: %+v", body, reply)
		}
		if reply == nil && (req.Type != proto.TypeHello || req.ID == 0 || req.Version < 1) {
			t.Fatalf("hello %x accepted as %+v", body, req)
		}
	default:
		it := decodeRequest(body)
		if (it.req == nil) == (it.reply == nil) {
			t.Fatalf("request %x: item %+v, want a request or a reply", body, it)
		}
		if it.req != nil && it.req.ID == 0 {
			t.Fatalf("request %x accepted with id 0: %+v", body, it.req)
		}
		reply = it.reply
		if reply != nil && reply.Code != proto.CodeBadRequest {
			t.Fatalf("request %x: reply %+v, want %s", body, reply, proto.CodeBadRequest)
		}
	}
	if reply != nil {
		if reply.Type != proto.TypeError || reply.Code == "" || reply.Message == "" {
			t.Fatalf("frame %d: reply %+v does not say what is wrong", i, reply)
		}
		switch reply.Code {
		case proto.CodeBadRequest, proto.CodeHelloRequired, proto.CodeBadVersion, proto.CodeFrameTooLarge:
		default:
			t.Fatalf("frame %d: reply with an unexpected code: %+v", i, reply)
		}
		b, err := proto.AppendFrame(nil, reply)
		if err != nil {
			t.Fatalf("frame %d: reply %+v does not encode: %v", i, reply, err)
		}
		if len(b)-proto.HeaderSize > proto.FrameOverhead {
			t.Fatalf("frame %d: a %d-byte error reply is over any client's frame limit", i, len(b)-proto.HeaderSize)
		}
		var back proto.ServerFrame
		if err := proto.Decode(b[proto.HeaderSize:], &back); err != nil || back.Code != reply.Code || back.Message != reply.Message || back.ID != reply.ID {
			t.Fatalf("frame %d: reply %+v decodes on the client as %+v (%v)", i, reply, back, err)
		}
	}
	if err == nil {
		// What a client does with a frame from its server.
		var fast, slow proto.ServerFrame
		if !proto.DecodeServerFrameFast(body, &fast) {
			if err := proto.Decode(body, &slow); err != nil && !errors.Is(err, proto.ErrMalformed) {
				t.Fatalf("frame %d: %x: the client's error %v is not ErrMalformed", i, body, err)
			}
		}
	}
}

// A length prefix over the limit is refused before anything is read for it, and says
// so; the reader's buffer stays as it was.
func TestFrameReaderRefusesAClaimBeforeAllocating(t *testing.T) {
	for _, claim := range []uint32{1<<20 + 1, 1 << 31, 1<<32 - 1} {
		fr := proto.NewFrameReader(bytes.NewReader(binary.BigEndian.AppendUint32(nil, claim)), 1<<20)
		_, err := fr.Next()
		if !errors.Is(err, proto.ErrFrameTooLarge) || err.Error() != fmt.Sprintf("ipc: frame too large: %d bytes, max %d", claim, 1<<20) {
			t.Errorf("claim %d: %v", claim, err)
		}
		if fr.Retained() != 0 {
			t.Errorf("claim %d: a %d-byte buffer for a refused frame", claim, fr.Retained())
		}
	}
	// Within a 4 GiB limit, a 4 GiB claim with 10 bytes behind it costs a read chunk.
	fr := proto.NewFrameReader(bytes.NewReader(append(binary.BigEndian.AppendUint32(nil, 1<<32-1), make([]byte, 10)...)), 1<<32-1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := fr.Next()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a 4 GiB claim with 10 bytes: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*proto.ReadChunk+allocSlack {
		t.Errorf("a 4 GiB claim with 10 bytes behind it: %d bytes allocated", alloc)
	}
}
