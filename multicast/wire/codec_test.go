package wire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Decode(Append(p)) gives back p, with the header Append was given.
func TestRoundTrip(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b := encode(t, s.p)
			h, got, err := wire.Decode(b, testCluster)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			wantH := wire.Header{Kind: s.p.Kind(), Cluster: testCluster, Sender: testSender}
			if h != wantH {
				t.Errorf("header: got %+v, want %+v", h, wantH)
			}
			if reflect.TypeOf(got) != reflect.TypeOf(s.p) {
				t.Fatalf("packet type: got %T, want %T", got, s.p)
			}
			if got.Kind() != h.Kind {
				t.Errorf("packet kind: got %v, header says %v", got.Kind(), h.Kind)
			}
			if g, w := normalize(got), normalize(s.p); !reflect.DeepEqual(g, w) {
				t.Errorf("packet:\ngot  %+v\nwant %+v", g, w)
			}
		})
	}
}

// Encoding is deterministic: the same packet always gives the same bytes, and re-encoding
// a decoded packet reproduces them.
func TestEncodingIsCanonical(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b := encode(t, s.p)
			if again := encode(t, s.p); !bytes.Equal(again, b) {
				t.Fatalf("two encodings differ:\n%x\n%x", b, again)
			}
			_, p, err := wire.Decode(b, testCluster)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if re := encode(t, p); !bytes.Equal(re, b) {
				t.Errorf("re-encoding the decoded packet:\ngot  %x\nwant %x", re, b)
			}
		})
	}
}

// The bytes on the wire are exactly those described in doc.go: a big-endian 12-byte header,
// then a msgpack array of the fields in declaration order, integers in their shortest form.
func TestGoldenEncodings(t *testing.T) {
	ring := wire.RingID{Rep: 1, Seq: 2}
	tests := []struct {
		name   string
		sender wire.NodeID
		p      wire.Packet
		want   string // hex, spaces ignored
	}{
		{
			name: "merge-detect", sender: 2,
			p:    &wire.MergeDetect{Ring: wire.RingID{Rep: 1, Seq: 5}},
			want: "7a7e 01 05 %s 00000002  91 92 01 05",
		},
		{
			name: "token-hold-cancel", sender: 0x01020304,
			p:    &wire.TokenHoldCancel{Ring: wire.RingID{Rep: 300, Seq: 70000}},
			want: "7a7e 01 06 %s 01020304  91 92 cd012c ce00011170",
		},
		{
			name: "mcast", sender: 4,
			p:    &wire.Mcast{Ring: ring, Seq: 3, Origin: 4, Guarantee: wire.Safe, Payload: []byte("hi")},
			want: "7a7e 01 02 %s 00000004  96 92 01 02 03 04 01 c4026869 c0",
		},
		{
			name: "mcast-nil-and-empty", sender: 4,
			p: &wire.Mcast{Ring: ring, Seq: 3, Origin: 4, Payload: []byte{},
				Recovered: &wire.Mcast{Ring: wire.RingID{Rep: 1, Seq: 1}, Seq: 9, Origin: 5}},
			want: "7a7e 01 02 %s 00000004  96 92 01 02 03 04 00 c400  96 92 01 01 09 05 00 c0 c0",
		},
		{
			name: "token", sender: 1,
			p: &wire.Token{Ring: ring, TokenSeq: 10, Seq: 3, Aru: 2, AruID: 4, FCC: 1, RetransFlag: true,
				RTR: []wire.RetransmitRequest{{Ring: ring, Seq: 3}}},
			want: "7a7e 01 01 %s 00000001  99 92 01 02 0a 03 02 04 00 01 c3 91 92 92 01 02 03",
		},
		{
			name: "join", sender: 3,
			p:    &wire.Join{ProcSet: []wire.NodeID{1, 2}, FailSet: []wire.NodeID{3}, RingSeq: 300},
			want: "7a7e 01 03 %s 00000003  94 92 01 02 91 03 cd012c c2",
		},
		{
			name: "commit-token", sender: 1,
			p: &wire.CommitToken{Ring: wire.RingID{Rep: 1, Seq: 8}, TokenSeq: 1,
				Members: []wire.CommitMember{{Node: 1, OldRing: ring, Aru: 3, HighDelivered: 3, Received: true, Filled: true}}},
			want: "7a7e 01 04 %s 00000001  94 92 01 08 01 00 91 96 01 92 01 02 03 03 c3 c3",
		},
	}
	cluster := hex.EncodeToString([]byte{byte(testCluster >> 24), byte(testCluster >> 16), byte(testCluster >> 8), byte(testCluster)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := hex.DecodeString(strings.ReplaceAll(strings.Replace(tt.want, "%s", cluster, 1), " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			got, err := wire.Append(nil, testCluster, tt.sender, tt.p)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Append:\ngot  % x\nwant % x", got, want)
			}
		})
	}
}

// A nil payload and an empty payload are encoded differently (msgpack nil, zero-length bin)
// and Decode keeps them apart, in the outer and in a recovered message.
func TestPayloadNilAndEmptyStayDistinct(t *testing.T) {
	for _, tt := range []struct {
		name    string
		payload []byte
		wantNil bool
	}{
		{"nil", nil, true},
		{"empty", []byte{}, false},
		{"one byte", []byte{0}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := &wire.Mcast{Seq: 1, Origin: 1, Payload: tt.payload,
				Recovered: &wire.Mcast{Seq: 2, Origin: 2, Payload: tt.payload}}
			_, p, err := wire.Decode(encode(t, in), testCluster)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			m := p.(*wire.Mcast)
			if got := m.Payload == nil; got != tt.wantNil {
				t.Errorf("Payload == nil: got %v, want %v", got, tt.wantNil)
			}
			if got := m.Recovered.Payload == nil; got != tt.wantNil {
				t.Errorf("Recovered.Payload == nil: got %v, want %v", got, tt.wantNil)
			}
			if !bytes.Equal(m.Payload, tt.payload) {
				t.Errorf("Payload: got %x, want %x", m.Payload, tt.payload)
			}
		})
	}
}

// A list that is nil and one that is empty both decode as a list of length zero.
func TestEmptyListsDecodeEmpty(t *testing.T) {
	for _, p := range []wire.Packet{
		&wire.Token{RTR: nil}, &wire.Token{RTR: []wire.RetransmitRequest{}},
		&wire.Join{}, &wire.Join{ProcSet: []wire.NodeID{}, FailSet: []wire.NodeID{}},
	} {
		b := encode(t, p)
		_, got, err := wire.Decode(b, testCluster)
		if err != nil {
			t.Fatalf("Decode(%+v): %v", p, err)
		}
		switch got := got.(type) {
		case *wire.Token:
			if len(got.RTR) != 0 {
				t.Errorf("RTR: got %d entries, want 0", len(got.RTR))
			}
		case *wire.Join:
			if len(got.ProcSet) != 0 || len(got.FailSet) != 0 {
				t.Errorf("ProcSet, FailSet: got %d, %d entries, want 0, 0", len(got.ProcSet), len(got.FailSet))
			}
		}
	}
}

// A decoded payload aliases the datagram (no copy) but has no spare capacity, so that
// appending to it cannot overwrite the bytes that follow it in the datagram.
func TestPayloadAliasesInput(t *testing.T) {
	b := encode(t, &wire.Mcast{Seq: 1, Origin: 1, Payload: []byte("abc"),
		Recovered: &wire.Mcast{Seq: 1, Origin: 2, Payload: []byte("old")}})
	orig := bytes.Clone(b)
	_, p, err := wire.Decode(b, testCluster)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	m := p.(*wire.Mcast)
	if got := cap(m.Payload); got != len(m.Payload) {
		t.Errorf("cap(Payload): got %d, want %d", got, len(m.Payload))
	}
	_ = append(m.Payload, "XYZ"...)
	if !bytes.Equal(b, orig) {
		t.Errorf("appending to Payload changed the datagram:\ngot  %x\nwant %x", b, orig)
	}
	i := bytes.Index(b, []byte("abc"))
	b[i] = 'A'
	if got := string(m.Payload); got != "Abc" {
		t.Errorf("Payload after writing the datagram: got %q, want %q (aliased)", got, "Abc")
	}
}

// Append appends to dst and leaves what was already there alone.
func TestAppendKeepsPrefix(t *testing.T) {
	p := &wire.MergeDetect{Ring: wire.RingID{Rep: 1, Seq: 2}}
	alone := encode(t, p)
	prefix := []byte("prefix")
	got, err := wire.Append(bytes.Clone(prefix), testCluster, testSender, p)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if !bytes.HasPrefix(got, prefix) {
		t.Errorf("Append lost the prefix: got %q", got)
	}
	if !bytes.Equal(got[len(prefix):], alone) {
		t.Errorf("appended bytes:\ngot  %x\nwant %x", got[len(prefix):], alone)
	}
}

// PeekHeader reads the same header Decode returns, without looking at the body.
func TestPeekHeader(t *testing.T) {
	for _, s := range samples() {
		b := encode(t, s.p)
		want := wire.Header{Kind: s.p.Kind(), Cluster: testCluster, Sender: testSender}
		if h, err := wire.PeekHeader(b, testCluster); err != nil || h != want {
			t.Errorf("%s: PeekHeader: got %+v, %v, want %+v, nil", s.name, h, err, want)
		}
		// A garbage body does not matter to PeekHeader.
		garbage := append(b[:wire.HeaderLen:wire.HeaderLen], 0xc1, 0xc1)
		if h, err := wire.PeekHeader(garbage, testCluster); err != nil || h != want {
			t.Errorf("%s: PeekHeader(garbage body): got %+v, %v, want %+v, nil", s.name, h, err, want)
		}
	}
}

// A datagram of exactly MaxDatagram bytes is fine; one byte more is ErrTooLarge, both for
// Append and for Decode.
func TestMaxDatagramBoundary(t *testing.T) {
	// The payload is the only variable part; bin16 covers every length from 256 up.
	base := len(encode(t, &wire.Mcast{Payload: make([]byte, 256)})) - 256
	fits := &wire.Mcast{Seq: 1, Origin: 1, Payload: payload(wire.MaxDatagram - base)}
	b, err := wire.Append(nil, testCluster, testSender, fits)
	if err != nil {
		t.Fatalf("Append(%d-byte datagram): %v", wire.MaxDatagram, err)
	}
	if len(b) != wire.MaxDatagram {
		t.Fatalf("datagram length: got %d, want %d", len(b), wire.MaxDatagram)
	}
	if _, _, err := wire.Decode(b, testCluster); err != nil {
		t.Errorf("Decode(%d-byte datagram): %v", len(b), err)
	}

	over := &wire.Mcast{Seq: 1, Origin: 1, Payload: payload(wire.MaxDatagram - base + 1)}
	if _, err := wire.Append(nil, testCluster, testSender, over); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("Append(%d-byte datagram): got %v, want ErrTooLarge", wire.MaxDatagram+1, err)
	}
}

// Append refuses packets beyond the limits Decode enforces, with ErrTooLarge, and then
// returns dst as it was.
func TestAppendRejectsOverLimit(t *testing.T) {
	tests := []struct {
		name string
		p    wire.Packet
	}{
		{"token with MaxRetransmits+1 requests", &wire.Token{RTR: make([]wire.RetransmitRequest, wire.MaxRetransmits+1)}},
		{"join with MaxMembers+1 in proc set", &wire.Join{ProcSet: nodes(1, wire.MaxMembers+1)}},
		{"join with MaxMembers+1 in fail set", &wire.Join{FailSet: nodes(1, wire.MaxMembers+1)}},
		{"commit token with MaxMembers+1 members", &wire.CommitToken{Members: make([]wire.CommitMember, wire.MaxMembers+1)}},
		{"mcast with a payload over MaxDatagram", &wire.Mcast{Payload: make([]byte, wire.MaxDatagram)}},
		{"recovered message nested twice", &wire.Mcast{Recovered: &wire.Mcast{Recovered: &wire.Mcast{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := wire.Append(dst, testCluster, testSender, tt.p)
			if !errors.Is(err, wire.ErrTooLarge) {
				t.Errorf("Append: got error %v, want ErrTooLarge", err)
			}
			if string(got) != "keep" {
				t.Errorf("Append returned %q, want dst unchanged %q", got, "keep")
			}
		})
	}
}

// addField appends one more element to a datagram's top-level body array. Every body has
// fewer than 15 fields, so its array header is a single fixarray byte.
func addField(t *testing.T, b, field []byte) []byte {
	t.Helper()
	b = bytes.Clone(b)
	if b[wire.HeaderLen]&0xf0 != 0x90 || b[wire.HeaderLen] == 0x9f {
		t.Fatalf("body does not start with a small fixarray: %#02x", b[wire.HeaderLen])
	}
	b[wire.HeaderLen]++
	return append(b, field...)
}

// Forward compatibility: a later version may append fields to any body. A decoder that does
// not know them skips them, whatever their type, and decodes the fields it knows.
func TestExtraTrailingFieldsAreSkipped(t *testing.T) {
	extras := []struct {
		name  string
		field []byte
	}{
		{"uint", mp(t, 12345678)},
		{"negative int", mp(t, -300)},
		{"nil", mp(t, nil)},
		{"bool", mp(t, true)},
		{"float", mp(t, 2.5)},
		{"string", mp(t, str("a field from the future"))},
		{"bin 300", mp(t, payload(300))},
		{"array", mp(t, arr(3), 1, str("two"), arr(2), nil, false)},
		{"map", mp(t, map[string]any{"a": 1, "b": []any{"x", 2}})},
		{"fixext4", raw{0xd6, 0x01, 1, 2, 3, 4}},
		{"ext8", raw{0xc7, 0x03, 0x05, 1, 2, 3}},
		{"str16", append(raw{0xda, 0x01, 0x00}, make([]byte, 256)...)},
		{"array16 of maps", append(raw{0xdc, 0x00, 0x02}, 0x80, 0x81, 0x01, 0xc0)},
		{"nested 200 deep", append(bytes.Repeat([]byte{0x91}, 200), 0x01)},
	}
	for _, s := range samples() {
		for _, x := range extras {
			t.Run(s.name+"/"+x.name, func(t *testing.T) {
				b := addField(t, encode(t, s.p), x.field)
				h, got, err := wire.Decode(b, testCluster)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if h.Kind != s.p.Kind() {
					t.Errorf("kind: got %v, want %v", h.Kind, s.p.Kind())
				}
				if g, w := normalize(got), normalize(s.p); !reflect.DeepEqual(g, w) {
					t.Errorf("packet:\ngot  %+v\nwant %+v", g, w)
				}
			})
		}
	}

	t.Run("several fields", func(t *testing.T) {
		p := &wire.MergeDetect{Ring: wire.RingID{Rep: 4, Seq: 4}}
		b := datagram(wire.KindMergeDetect, mp(t, arr(4), arr(2), 4, 4, str("x"), arr(0), 7))
		_, got, err := wire.Decode(b, testCluster)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("got %+v, want %+v", got, p)
		}
	})

	t.Run("in a recovered message", func(t *testing.T) {
		want := &wire.Mcast{Ring: wire.RingID{Rep: 1, Seq: 2}, Seq: 3, Origin: 4, Payload: []byte("x"),
			Recovered: &wire.Mcast{Ring: wire.RingID{Rep: 1, Seq: 1}, Seq: 9, Origin: 4, Guarantee: wire.Safe, Payload: []byte("old")}}
		b := datagram(wire.KindMcast, mp(t,
			arr(7), arr(2), 1, 2, 3, 4, 0, []byte("x"),
			arr(7), arr(2), 1, 1, 9, 4, 1, []byte("old"), nil, str("inner extra"),
			str("outer extra")))
		_, got, err := wire.Decode(b, testCluster)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
}

func TestKindString(t *testing.T) {
	tests := []struct {
		k    wire.Kind
		want string
	}{
		{wire.KindToken, "token"},
		{wire.KindMcast, "mcast"},
		{wire.KindJoin, "join"},
		{wire.KindCommitToken, "commit-token"},
		{wire.KindMergeDetect, "merge-detect"},
		{wire.KindTokenHoldCancel, "token-hold-cancel"},
		{0, "kind(0)"},
		{7, "kind(7)"},
		{255, "kind(255)"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d).String(): got %q, want %q", uint8(tt.k), got, tt.want)
		}
	}
	for _, tt := range []struct {
		g    wire.Guarantee
		want string
	}{{wire.Agreed, "agreed"}, {wire.Safe, "safe"}, {2, "guarantee(2)"}} {
		if got := tt.g.String(); got != tt.want {
			t.Errorf("Guarantee(%d).String(): got %q, want %q", uint8(tt.g), got, tt.want)
		}
	}
}

// Every packet reports the kind its header carries.
func TestPacketKinds(t *testing.T) {
	tests := []struct {
		p    wire.Packet
		want wire.Kind
	}{
		{&wire.Token{}, wire.KindToken},
		{&wire.Mcast{}, wire.KindMcast},
		{&wire.Join{}, wire.KindJoin},
		{&wire.CommitToken{}, wire.KindCommitToken},
		{&wire.MergeDetect{}, wire.KindMergeDetect},
		{&wire.TokenHoldCancel{}, wire.KindTokenHoldCancel},
	}
	for _, tt := range tests {
		if got := tt.p.Kind(); got != tt.want {
			t.Errorf("%T.Kind(): got %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestRingID(t *testing.T) {
	a, b, c := wire.RingID{Rep: 9, Seq: 1}, wire.RingID{Rep: 1, Seq: 2}, wire.RingID{Rep: 2, Seq: 2}
	for _, tt := range []struct {
		x, y wire.RingID
		want bool
	}{
		{a, b, true},  // lower seq first, whatever the representative
		{b, a, false}, //
		{b, c, true},  // same seq: lower representative first
		{c, b, false}, //
		{b, b, false}, // irreflexive
	} {
		if got := tt.x.Less(tt.y); got != tt.want {
			t.Errorf("%v.Less(%v): got %v, want %v", tt.x, tt.y, got, tt.want)
		}
	}
	if !(wire.RingID{}).IsZero() || a.IsZero() || (wire.RingID{Seq: 1}).IsZero() || (wire.RingID{Rep: 1}).IsZero() {
		t.Errorf("IsZero: only RingID{} is zero")
	}
	if got, want := (wire.RingID{Rep: 3, Seq: 41}).String(), "3.41"; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
}

// ClusterHash is 32-bit FNV-1a (known test vectors), so other implementations can compute it.
func TestClusterHash(t *testing.T) {
	for _, tt := range []struct {
		name string
		want uint32
	}{
		{"", 0x811c9dc5},
		{"a", 0xe40c292c},
		{"foobar", 0xbf9cf968},
	} {
		if got := wire.ClusterHash(tt.name); got != tt.want {
			t.Errorf("ClusterHash(%q): got %#08x, want %#08x", tt.name, got, tt.want)
		}
	}
}
