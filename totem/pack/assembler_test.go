package pack

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Three senders stream records of every size, including a 1 MiB record between small
// ones, and the ring mixes their payloads into one total order (with Adds arriving while
// payloads leave). Every record comes out intact, in its sender's order.
func TestSendersInterleavedInTotalOrder(t *testing.T) {
	const maxRecord = 1 << 20
	rng := rand.New(rand.NewPCG(3, 4))
	scripts := map[wire.NodeID][]int{
		1: {10, maxRecord, 20, 0, 30, 100_000, 1, testPayload, 5},
		2: randomSizes(rng, 300, 3000),
		3: {65536, 0, 65536, 65536, 7, 65536, 65536},
	}
	packers := map[wire.NodeID]*Packer{}
	want := map[wire.NodeID][][]byte{}
	got := map[wire.NodeID][][]byte{}
	for from, sizes := range scripts {
		packers[from] = newPacker(t, testPayload, maxRecord)
		for i, size := range sizes {
			want[from] = append(want[from], record(from, i, size))
		}
	}
	a := NewAssembler(maxRecord)
	senders := []wire.NodeID{1, 2, 3}
	for busy := true; busy; {
		busy = false
		for _, from := range senders {
			busy = busy || packers[from].Pending() > 0 || len(scripts[from]) > 0
		}
		from := senders[rng.IntN(len(senders))]
		if n := len(scripts[from]); n > 0 && rng.IntN(4) == 0 {
			i := len(want[from]) - n
			addAll(t, packers[from], [][]byte{want[from][i]})
			scripts[from] = scripts[from][1:]
			continue
		}
		if pl, ok := packers[from].Next(); ok {
			got[from] = append(got[from], assemble(t, a, from, [][]byte{pl})...)
		}
	}
	for _, from := range senders {
		sameRecords(t, got[from], want[from])
	}
}

func randomSizes(rng *rand.Rand, n, max int) []int {
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = rng.IntN(max + 1)
	}
	return sizes
}

// A sender leaves in the middle of a fragmented record. Its partial record is dropped;
// the continuations that still arrive (it did not notice, and kept sending) are refused
// one by one, never glued to anything; the whole records riding with them and every
// record it starts afresh come out intact; other senders are not disturbed.
func TestForgetInTheMiddleOfAFragmentStream(t *testing.T) {
	const payload = 200
	p := newPacker(t, payload, 0)
	records := [][]byte{record(1, 0, 1000), record(1, 1, 10), record(1, 2, 20), record(1, 3, 900), record(1, 4, 30)}
	addAll(t, p, records)
	payloads := drain(t, p)

	other := newPacker(t, payload, 0)
	otherRecords := [][]byte{record(2, 0, 500)}
	addAll(t, other, otherRecords)
	otherPayloads := drain(t, other)

	a := NewAssembler(0)
	assemble(t, a, 1, payloads[:2])
	assemble(t, a, 2, otherPayloads[:1])
	a.Forget(1)
	if isOpen(a, 1) {
		t.Fatal("Forget left the partial record open")
	}

	var got [][]byte
	refused := 0
	for _, pl := range payloads[2:] {
		recs, err := a.Payload(1, pl)
		if err != nil {
			if !errors.Is(err, ErrBrokenStream) {
				t.Fatalf("stray continuation: %v, want ErrBrokenStream", err)
			}
			refused++
		}
		got = append(got, recs...)
	}
	if refused == 0 {
		t.Error("no stray continuation was refused")
	}
	// Record 0 is lost; records 1 and 2 rode whole behind its tail; record 3 began afresh.
	sameRecords(t, got, records[1:])

	fresh := newPacker(t, payload, 0)
	again := [][]byte{record(1, 5, 700), record(1, 6, 3)}
	addAll(t, fresh, again)
	sameRecords(t, assemble(t, a, 1, drain(t, fresh)), again)
	sameRecords(t, assemble(t, a, 2, otherPayloads[1:]), otherRecords)
}

// A sender that restarts (a new Packer) while receivers still hold its partial record:
// the first fresh payload abandons the partial record, with an error, and is itself
// delivered.
func TestFreshPayloadAbandonsOpenRecord(t *testing.T) {
	old := newPacker(t, testPayload, 0)
	addAll(t, old, [][]byte{record(1, 0, 5000)})
	a := NewAssembler(0)
	assemble(t, a, 1, drain(t, old)[:2])

	fresh := newPacker(t, testPayload, 0)
	records := [][]byte{record(1, 1, 10), record(1, 2, 4000)}
	addAll(t, fresh, records)
	payloads := drain(t, fresh)
	got, err := a.Payload(1, payloads[0])
	if !errors.Is(err, ErrBrokenStream) {
		t.Fatalf("fresh payload over an open record: %v, want ErrBrokenStream", err)
	}
	got = slices.Clone(got)
	got = append(got, assemble(t, a, 1, payloads[1:])...)
	sameRecords(t, got, records)
}

// Whole records alias the payload, but appending to one cannot overwrite the next.
func TestWholeRecordsAliasThePayloadSafely(t *testing.T) {
	p := newPacker(t, testPayload, 0)
	addAll(t, p, [][]byte{[]byte("ab"), []byte("cd")})
	pl, _ := p.Next()
	recs, err := NewAssembler(0).Payload(1, pl)
	if err != nil || len(recs) != 2 {
		t.Fatalf("Payload = %q, %v", recs, err)
	}
	if &recs[0][0] != &pl[len(pl)-5] {
		t.Error("the first record does not alias the payload")
	}
	_ = append(recs[0], 'X')
	if string(recs[1]) != "cd" {
		t.Errorf("appending to record 0 changed record 1 to %q", recs[1])
	}
}

// Every malformed payload is refused with an error, never a panic, and the sender's
// partial record is dropped. Whole records of a parsable payload survive a broken
// fragment.
func TestMalformedPayloads(t *testing.T) {
	const maxRecord = 16
	// The sender's open record, when a case has one: id 1, 4 of 10 bytes received.
	start := pieces(hdr(Version, flagFirst, 1, 1, 10), "abcd")
	cont := flagCont | flagLast
	for _, tc := range []struct {
		name    string
		open    bool
		payload []byte
		want    error
		records []string
	}{
		{"empty", true, nil, ErrMalformed, nil},
		{"version only", true, []byte{Version}, ErrMalformed, nil},
		{"no count", true, []byte{Version, 0}, ErrMalformed, nil},
		{"truncated fragment header", true, hdr(Version, cont, 1, 1), ErrMalformed, nil},
		{"wrong version", true, pieces(hdr(2, 0, 1), "x"), ErrMalformed, nil},
		{"unknown flag", true, pieces(hdr(Version, 0x80, 1), "x"), ErrMalformed, nil},
		{"zero count", true, hdr(Version, 0, 0), ErrMalformed, nil},
		{"bad varint", true, append(hdr(Version, 0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), ErrMalformed, nil},
		{"id above 32 bits", true, pieces(hdr(Version, flagFirst, 1, 1<<33, 10), "x"), ErrMalformed, nil},
		{"last without continuation", true, pieces(hdr(Version, flagLast, 1), "x"), ErrMalformed, nil},
		{"middle fragment shares payload", true, pieces(hdr(Version, flagCont, 2, 1, 4), "ef", "x"), ErrMalformed, nil},
		{"one piece ends and begins", true, pieces(hdr(Version, cont|flagFirst, 1, 1, 4, 2, 9), "efghij"), ErrMalformed, nil},
		{"length beyond payload", true, append(hdr(Version, 0, 1, 10), "abc"...), ErrMalformed, nil},
		{"count beyond payload", true, pieces(hdr(Version, 0, 1000), "x"), ErrMalformed, nil},
		{"count above pieces", true, pieces(hdr(Version, 0, 3), "a", "b"), ErrMalformed, nil},
		{"count below pieces", true, pieces(hdr(Version, 0, 1), "a", "b"), ErrMalformed, nil},
		{"whole record above maxRecord", false, pieces(hdr(Version, 0, 2), "01234567890123456", "ok"), ErrRecordTooLarge, []string{"ok"}},
		{"continuation without start", false, pieces(hdr(Version, cont, 2, 1, 4), "efghij", "ok"), ErrBrokenStream, []string{"ok"}},
		{"continuation of another record", true, pieces(hdr(Version, cont, 2, 2, 4), "efghij", "ok"), ErrBrokenStream, []string{"ok"}},
		{"continuation at wrong offset", true, pieces(hdr(Version, cont, 1, 1, 3), "efghij"), ErrBrokenStream, nil},
		{"continuation beyond total", true, pieces(hdr(Version, cont, 1, 1, 4), "efghijk"), ErrBrokenStream, nil},
		{"last fragment short", true, pieces(hdr(Version, cont, 1, 1, 4), "efghi"), ErrBrokenStream, nil},
		{"middle fragment completes", true, pieces(hdr(Version, flagCont, 1, 1, 4), "efghij"), ErrBrokenStream, nil},
		{"fresh payload over open record", true, pieces(hdr(Version, 0, 1), "ok"), ErrBrokenStream, []string{"ok"}},
		{"fragment exceeding maxRecord", false, pieces(hdr(Version, flagFirst, 2, 2, maxRecord+1), "ok", "head"), ErrRecordTooLarge, []string{"ok"}},
		{"first fragment as long as its total", false, pieces(hdr(Version, flagFirst, 1, 2, 3), "abc"), ErrBrokenStream, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAssembler(maxRecord)
			if tc.open {
				if _, err := a.Payload(7, start); err != nil || !isOpen(a, 7) {
					t.Fatalf("opening a record: %v", err)
				}
			}
			recs, err := a.Payload(7, tc.payload)
			var perr *PayloadError
			if !errors.Is(err, tc.want) || !errors.As(err, &perr) || perr.From != 7 {
				t.Fatalf("Payload = %v, want a *PayloadError from node 7 wrapping %v", err, tc.want)
			}
			if got := toStrings(recs); !slices.Equal(got, tc.records) {
				t.Errorf("records = %q, want %q", got, tc.records)
			}
			if isOpen(a, 7) {
				t.Error("the sender's partial record survived")
			}
		})
	}
}

func toStrings(recs [][]byte) []string {
	var s []string
	for _, r := range recs {
		s = append(s, string(r))
	}
	return s
}

// The hand-built payloads above follow what a Packer really writes: here a whole record
// and the first fragment of the next one fill a payload to the byte.
func TestHandBuiltPayloadsMatchThePacker(t *testing.T) {
	p := newPacker(t, 200, 0)
	addAll(t, p, [][]byte{[]byte("ok"), make([]byte, 300)})
	pl, _ := p.Next()
	// 6 header bytes (version, flags, count 2, id 1, total 300 in two bytes), 3 for
	// "ok", and the head of the 300-byte record: two length bytes and 189 bytes.
	want := pieces(hdr(Version, flagFirst, 2, 1, 300), "ok", string(make([]byte, 189)))
	if string(pl) != string(want) || len(pl) != 200 {
		t.Errorf("packer wrote % x\nwant            % x", pl, want)
	}
}
