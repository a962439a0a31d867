package wire_test

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

var sentinels = []error{
	wire.ErrTruncated, wire.ErrBadMagic, wire.ErrVersion, wire.ErrCluster,
	wire.ErrKind, wire.ErrMalformed, wire.ErrTooLarge,
}

// checkDecodeError decodes b and checks that it fails with an error wrapping want and no
// other sentinel, and returns neither a header nor a packet. It reports whether all was
// well.
func checkDecodeError(t *testing.T, b []byte, want error) bool {
	t.Helper()
	h, p, err := wire.Decode(b, testCluster)
	if err == nil {
		t.Errorf("Decode succeeded with %T %+v, want error %v", p, p, want)
		return false
	}
	ok := true
	if !errors.Is(err, want) {
		t.Errorf("Decode: got error %q, want one wrapping %q", err, want)
		ok = false
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Errorf("Decode: error %q also wraps %q; want exactly one sentinel", err, s)
			ok = false
		}
	}
	if h != (wire.Header{}) || p != nil {
		t.Errorf("Decode returned header %+v and packet %v with its error, want zero values", h, p)
		ok = false
	}
	return ok
}

// Every way a datagram can be unacceptable, and the sentinel Decode reports for it.
func TestDecodeRejects(t *testing.T) {
	valid := encode(t, &wire.MergeDetect{Ring: wire.RingID{Rep: 1, Seq: 1}})
	withHeader := func(f func(h []byte)) []byte {
		b := bytes.Clone(valid)
		f(b[:wire.HeaderLen])
		return b
	}
	// mcastBody writes a Mcast body with the given payload and recovered values.
	mcastBody := func(payload, recovered any) []byte {
		return mp(t, arr(6), arr(2), 1, 1, 1, 1, 0, payload, recovered)
	}
	ring := func(rep, seq int) []any { return []any{arr(2), rep, seq} }
	cat := func(parts ...[]any) []any {
		var all []any
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	// tokenBody writes a Token body whose RTR list holds the given entries (as values).
	tokenBody := func(rtrLen int, rtr ...any) []byte {
		return mp(t, cat([]any{arr(9)}, ring(1, 1), []any{1, 2, 1, 0, 0, 0, false, arr(rtrLen)}, rtr)...)
	}
	// joinBody writes a Join body with the given proc and fail sets.
	joinBody := func(proc, fail []int) []byte {
		vals := []any{arr(4), arr(len(proc))}
		for _, id := range proc {
			vals = append(vals, id)
		}
		vals = append(vals, arr(len(fail)))
		for _, id := range fail {
			vals = append(vals, id)
		}
		return mp(t, append(vals, 1, false)...)
	}
	ints := func(ids []wire.NodeID) []int {
		r := make([]int, len(ids))
		for i, id := range ids {
			r[i] = int(id)
		}
		return r
	}
	member := func(node int) []any { return cat([]any{arr(6), node}, ring(1, 1), []any{0, 0, false, false}) }
	// commitBody writes a CommitToken body with the given member index and member nodes.
	commitBody := func(membIndex int, nodes ...int) []byte {
		vals := cat([]any{arr(4)}, ring(1, 2), []any{1, membIndex, arr(len(nodes))})
		for _, n := range nodes {
			vals = append(vals, member(n)...)
		}
		return mp(t, vals...)
	}
	// recovered writes a recovered message (a Mcast body) whose own recovered field is rec.
	recovered := func(rec any) raw {
		return mp(t, arr(6), arr(2), 1, 1, 1, 1, 0, []byte("old"), rec)
	}

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		// The header.
		{"empty input", nil, wire.ErrTruncated},
		{"one byte", []byte{0x7a}, wire.ErrTruncated},
		{"header minus one byte", valid[:wire.HeaderLen-1], wire.ErrTruncated},
		{"bad magic", withHeader(func(h []byte) { h[0] = 0x7b }), wire.ErrBadMagic},
		{"magic byte-swapped", withHeader(func(h []byte) { h[0], h[1] = h[1], h[0] }), wire.ErrBadMagic},
		{"all zero header", make([]byte, wire.HeaderLen+4), wire.ErrBadMagic},
		{"version 0", withHeader(func(h []byte) { h[2] = 0 }), wire.ErrVersion},
		{"version 2", withHeader(func(h []byte) { h[2] = 2 }), wire.ErrVersion},
		{"wrong cluster", withHeader(func(h []byte) { h[7] ^= 1 }), wire.ErrCluster},
		{"other cluster's name", append(header(wire.Magic, wire.Version, wire.KindMergeDetect, wire.ClusterHash("other"), 1), valid[wire.HeaderLen:]...), wire.ErrCluster},
		{"kind 0", withHeader(func(h []byte) { h[3] = 0 }), wire.ErrKind},
		{"kind 7", withHeader(func(h []byte) { h[3] = 7 }), wire.ErrKind},
		{"kind 255", withHeader(func(h []byte) { h[3] = 255 }), wire.ErrKind},
		{"sender 0", withHeader(func(h []byte) { h[8], h[9], h[10], h[11] = 0, 0, 0, 0 }), wire.ErrMalformed},
		{"one byte over MaxDatagram", datagram(wire.KindMcast, mcastBody(payload(wire.MaxDatagram), nil))[:wire.MaxDatagram+1], wire.ErrTooLarge},
		{"far over MaxDatagram", make([]byte, 1<<20), wire.ErrTooLarge},

		// The body's shape.
		{"header only", valid[:wire.HeaderLen], wire.ErrTruncated},
		{"trailing byte", append(bytes.Clone(valid), 0x00), wire.ErrMalformed},
		{"trailing value", append(bytes.Clone(valid), mp(t, arr(2), 1, 1)...), wire.ErrMalformed},
		{"body is a map", datagram(wire.KindMergeDetect, mp(t, map[string]any{"ring": 1})), wire.ErrMalformed},
		{"body is nil", datagram(wire.KindMergeDetect, mp(t, nil)), wire.ErrMalformed},
		{"body is a uint", datagram(wire.KindMergeDetect, mp(t, 1)), wire.ErrMalformed},
		{"too few fields", datagram(wire.KindMergeDetect, mp(t, arr(0))), wire.ErrMalformed},
		{"token with 8 of 9 fields", datagram(wire.KindToken, mp(t, cat([]any{arr(8)}, ring(1, 1), []any{1, 2, 1, 0, 0, 0, false})...)), wire.ErrMalformed},
		{"more than 64 fields", datagram(wire.KindMergeDetect, mp(t, append(cat([]any{arr(65)}, ring(1, 1)), make([]any, 64)...)...)), wire.ErrMalformed},
		{"unused code 0xc1", datagram(wire.KindMergeDetect, raw{0xc1}), wire.ErrMalformed},

		// Field types.
		{"string where uint expected", datagram(wire.KindMergeDetect, mp(t, arr(1), arr(2), str("1"), 1)), wire.ErrMalformed},
		{"negative int where uint expected", datagram(wire.KindMergeDetect, mp(t, arr(1), arr(2), 1, -1)), wire.ErrMalformed},
		{"int8 1 where uint expected", datagram(wire.KindMergeDetect, mp(t, arr(1), arr(2), 1, raw{0xd0, 0x01})), wire.ErrMalformed},
		{"float where uint expected", datagram(wire.KindMergeDetect, mp(t, arr(1), arr(2), 1, 1.0)), wire.ErrMalformed},
		{"nil where uint expected", datagram(wire.KindMergeDetect, mp(t, arr(1), arr(2), nil, 1)), wire.ErrMalformed},
		{"node id over 32 bits", datagram(wire.KindMergeDetect, mp(t, arr(1), arr(2), uint64(1)<<32, 1)), wire.ErrMalformed},
		{"ring id of 3 elements", datagram(wire.KindMergeDetect, mp(t, arr(1), arr(3), 1, 1, 1)), wire.ErrMalformed},
		{"ring id nil", datagram(wire.KindMergeDetect, mp(t, arr(1), nil)), wire.ErrMalformed},
		{"uint where bool expected", datagram(wire.KindToken, mp(t, cat([]any{arr(9)}, ring(1, 1), []any{1, 2, 1, 0, 0, 0, 1, arr(0)})...)), wire.ErrMalformed},
		{"backlog over 32 bits", datagram(wire.KindToken, mp(t, cat([]any{arr(9)}, ring(1, 1), []any{1, 2, 1, 0, uint64(1) << 32, 0, false, arr(0)})...)), wire.ErrMalformed},
		{"guarantee 2", datagram(wire.KindMcast, mp(t, arr(6), arr(2), 1, 1, 1, 1, 2, []byte("x"), nil)), wire.ErrMalformed},
		{"string where payload expected", datagram(wire.KindMcast, mcastBody(str("text"), nil)), wire.ErrMalformed},
		{"uint where payload expected", datagram(wire.KindMcast, mcastBody(5, nil)), wire.ErrMalformed},
		{"bool where recovered expected", datagram(wire.KindMcast, mcastBody([]byte("x"), false)), wire.ErrMalformed},

		// Lists and their limits.
		{"token with MaxRetransmits+1 requests", datagram(wire.KindToken, tokenBody(wire.MaxRetransmits+1, func() []any {
			var rtr []any
			for range wire.MaxRetransmits + 1 {
				rtr = append(rtr, cat([]any{arr(2)}, ring(1, 1), []any{1})...)
			}
			return rtr
		}()...)), wire.ErrMalformed},
		{"retransmit request of 3 elements", datagram(wire.KindToken, tokenBody(1, cat([]any{arr(3)}, ring(1, 1), []any{1, 1})...)), wire.ErrMalformed},
		{"retransmit request not an array", datagram(wire.KindToken, tokenBody(1, 5)), wire.ErrMalformed},
		{"rtr list claiming 2^32-1 entries", datagram(wire.KindToken, mp(t, cat([]any{arr(9)}, ring(1, 1), []any{1, 2, 1, 0, 0, 0, false, raw{0xdd, 0xff, 0xff, 0xff, 0xff}, 1})...)), wire.ErrMalformed},
		{"rtr list claiming more entries than bytes", datagram(wire.KindToken, tokenBody(wire.MaxRetransmits, arr(2))), wire.ErrTruncated},
		{"join with MaxMembers+1 in proc set", datagram(wire.KindJoin, joinBody(ints(nodes(1, wire.MaxMembers+1)), nil)), wire.ErrMalformed},
		{"join with MaxMembers+1 in fail set", datagram(wire.KindJoin, joinBody(nil, ints(nodes(1, wire.MaxMembers+1)))), wire.ErrMalformed},
		{"join proc set unsorted", datagram(wire.KindJoin, joinBody([]int{1, 3, 2}, nil)), wire.ErrMalformed},
		{"join proc set with a duplicate", datagram(wire.KindJoin, joinBody([]int{1, 2, 2, 3}, nil)), wire.ErrMalformed},
		{"join proc set with node 0", datagram(wire.KindJoin, joinBody([]int{0, 1, 2}, nil)), wire.ErrMalformed},
		{"join fail set unsorted", datagram(wire.KindJoin, joinBody([]int{1}, []int{5, 4})), wire.ErrMalformed},
		{"join fail set with a duplicate", datagram(wire.KindJoin, joinBody([]int{1}, []int{4, 4})), wire.ErrMalformed},
		{"join fail set with node 0", datagram(wire.KindJoin, joinBody([]int{1}, []int{0})), wire.ErrMalformed},
		{"join proc set nil", datagram(wire.KindJoin, mp(t, arr(4), nil, arr(0), 1, false)), wire.ErrMalformed},
		{"commit token with no members", datagram(wire.KindCommitToken, commitBody(0)), wire.ErrMalformed},
		{"commit token with MaxMembers+1 members", datagram(wire.KindCommitToken, commitBody(0, ints(nodes(1, wire.MaxMembers+1))...)), wire.ErrMalformed},
		{"commit token members unsorted", datagram(wire.KindCommitToken, commitBody(0, 1, 3, 2)), wire.ErrMalformed},
		{"commit token members with a duplicate", datagram(wire.KindCommitToken, commitBody(0, 1, 2, 2)), wire.ErrMalformed},
		{"commit token member node 0", datagram(wire.KindCommitToken, commitBody(0, 0, 1)), wire.ErrMalformed},
		{"commit token member index = member count", datagram(wire.KindCommitToken, commitBody(3, 1, 2, 3)), wire.ErrMalformed},
		{"commit token member index far beyond", datagram(wire.KindCommitToken, commitBody(1000, 1, 2, 3)), wire.ErrMalformed},
		{"commit member of 5 fields", datagram(wire.KindCommitToken, mp(t, cat([]any{arr(4)}, ring(1, 2), []any{1, 0, arr(1), arr(5), 1}, ring(1, 1), []any{0, 0, false})...)), wire.ErrMalformed},

		// Recovered messages.
		{"recovered nested twice", datagram(wire.KindMcast, mcastBody([]byte("x"), recovered(recovered(nil)))), wire.ErrMalformed},
		{"recovered of too few fields", datagram(wire.KindMcast, mcastBody([]byte("x"), mp(t, arr(5), arr(2), 1, 1, 1, 1, 0, []byte("old")))), wire.ErrMalformed},

		// Lengths that lie.
		{"payload claiming 4 GiB", datagram(wire.KindMcast, append(mp(t, arr(6), arr(2), 1, 1, 1, 1, 0), 0xc6, 0xff, 0xff, 0xff, 0xff, 'x', 0xc0)), wire.ErrTruncated},
		{"payload claiming one byte more than left", datagram(wire.KindMcast, append(mp(t, arr(6), arr(2), 1, 1, 1, 1, 0), 0xc4, 0x03, 'x', 0xc0)), wire.ErrTruncated},
		{"body claiming 2^32-1 fields", datagram(wire.KindMergeDetect, raw{0xdd, 0xff, 0xff, 0xff, 0xff, 0x92, 0x01, 0x01}), wire.ErrMalformed},
		{"proc set claiming 2^32-1 members", datagram(wire.KindJoin, raw{0x94, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}), wire.ErrMalformed},
		{"proc set claiming more members than bytes", datagram(wire.KindJoin, raw{0x94, 0xdc, 0x00, 0x20, 0x01, 0x02}), wire.ErrTruncated},
		{"extra field: bin claiming 4 GiB", addField(t, valid, raw{0xc6, 0xff, 0xff, 0xff, 0xff, 'x'}), wire.ErrTruncated},
		{"extra field: str claiming 4 GiB", addField(t, valid, raw{0xdb, 0xff, 0xff, 0xff, 0xff, 'x'}), wire.ErrTruncated},
		{"extra field: ext claiming 4 GiB", addField(t, valid, raw{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 'x'}), wire.ErrTruncated},
		{"extra field: array claiming 2^32-1 elements", addField(t, valid, raw{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}), wire.ErrTruncated},
		{"extra field: map claiming 2^32-1 pairs", addField(t, valid, raw{0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01}), wire.ErrTruncated},
		{"extra field: fixarray one element short", addField(t, valid, raw{0x93, 0x01, 0x02}), wire.ErrTruncated},
		{"extra field: uint64 cut short", addField(t, valid, raw{0xcf, 0x01, 0x02}), wire.ErrTruncated},
		{"extra field: fixext16 cut short", addField(t, valid, raw{0xd8, 0x01, 0x02}), wire.ErrTruncated},
		{"extra field: bin16 length cut short", addField(t, valid, raw{0xc5, 0x01}), wire.ErrTruncated},
		{"extra field: nesting never closed", addField(t, valid, bytes.Repeat([]byte{0x91}, 1000)), wire.ErrTruncated},
		{"extra field: unused code 0xc1", addField(t, valid, raw{0xc1}), wire.ErrMalformed},
		{"extra field: missing", addField(t, valid, nil), wire.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkDecodeError(t, tt.in, tt.want)
		})
	}
}

// A datagram cut short anywhere, in its header or its body, is ErrTruncated: never a
// panic, never a packet.
func TestDecodeRejectsEveryTruncation(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b := encode(t, s.p)
			for n := range len(b) {
				// A fresh copy with no spare capacity, so that nothing past n can be read.
				if !checkDecodeError(t, bytes.Clone(b[:n]), wire.ErrTruncated) {
					t.Fatalf("... for the first %d of %d bytes", n, len(b))
				}
			}
		})
	}
}

// Rejecting a hostile datagram costs no more than its length: lying lengths in skipped
// fields are checked, not believed. (msgpack's own Skip reads a skipped value into a buffer
// grown to the claimed length, so this 20-byte datagram used to cost hundreds of MB.)
func TestDecodeLyingSkippedFieldAllocatesLittle(t *testing.T) {
	valid := encode(t, &wire.MergeDetect{Ring: wire.RingID{Rep: 1, Seq: 1}})
	for _, field := range []raw{
		{0xc6, 0xff, 0xff, 0xff, 0xff, 'x'},       // bin32
		{0xdb, 0xff, 0xff, 0xff, 0xff, 'x'},       // str32
		{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 'x'}, // ext32
		{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01},      // array32
		{0xdf, 0xff, 0xff, 0xff, 0xff, 0x01},      // map32
	} {
		b := addField(t, valid, field)
		const runs = 20
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			if _, _, err := wire.Decode(b, testCluster); !errors.Is(err, wire.ErrTruncated) {
				t.Fatalf("Decode(% x): got %v, want ErrTruncated", b, err)
			}
		}
		runtime.ReadMemStats(&after)
		if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 1024 {
			t.Errorf("Decode(% x): allocated %d bytes per call, want at most 1024", b, perRun)
		}
	}
}
