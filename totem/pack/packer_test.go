package pack

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func TestNewPackerChecksItsLimits(t *testing.T) {
	if _, err := NewPacker(MinPayload-1, 0); err == nil {
		t.Errorf("NewPacker(%d, 0) accepted a payload below MinPayload", MinPayload-1)
	}
	if _, err := NewPacker(testPayload, MaxRecordLimit+1); err == nil {
		t.Errorf("NewPacker accepted a record limit above MaxRecordLimit")
	}
	p := newPacker(t, MinPayload, 0)
	if p.maxRecord != DefaultMaxRecord {
		t.Errorf("default record limit = %d, want %d", p.maxRecord, DefaultMaxRecord)
	}
}

func TestAddRefusesRecordsAboveTheLimit(t *testing.T) {
	p := newPacker(t, testPayload, 1000)
	if err := p.Add(make([]byte, 1000)); err != nil {
		t.Fatalf("Add(1000 bytes) at the limit: %v", err)
	}
	err := p.Add(make([]byte, 1001))
	var tooLarge *RecordTooLargeError
	if !errors.Is(err, ErrRecordTooLarge) || !errors.As(err, &tooLarge) {
		t.Fatalf("Add(1001 bytes) = %v, want a *RecordTooLargeError wrapping ErrRecordTooLarge", err)
	}
	if tooLarge.Size != 1001 || tooLarge.Max != 1000 {
		t.Errorf("error says %d of %d bytes, want 1001 of 1000", tooLarge.Size, tooLarge.Max)
	}
	if p.Pending() != 1 {
		t.Errorf("Pending = %d after one refused Add, want 1", p.Pending())
	}
}

// Many tiny records share payloads: the payload count stays close to the byte count
// divided by the payload size, and the records come out identical and in order.
func TestManyTinyRecordsPackDensely(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := newPacker(t, testPayload, 0)
	var records [][]byte
	total := 0
	for i := range 10_000 {
		r := record(1, i, 1+rng.IntN(20))
		records = append(records, r)
		total += len(r)
	}
	addAll(t, p, records)
	payloads := drain(t, p)

	// Each record costs one length byte on top of its data (about 10%), plus a few
	// header bytes per payload: allow a quarter more than the bare data would need.
	if limit := total*5/4/testPayload + 1; len(payloads) > limit {
		t.Errorf("%d bytes in %d payloads, want at most %d", total, len(payloads), limit)
	}
	sameRecords(t, assemble(t, NewAssembler(0), 1, payloads), records)
}

// Next never waits for company: a lone record leaves at once.
func TestLoneRecordLeavesAtOnce(t *testing.T) {
	p := newPacker(t, testPayload, 0)
	addAll(t, p, [][]byte{[]byte("hello")})
	payloads := drain(t, p)
	if len(payloads) != 1 || len(payloads[0]) != baseHeader+1+5 {
		t.Fatalf("got %d payloads (first %d bytes), want one of %d bytes", len(payloads), len(payloads[0]), baseHeader+6)
	}
	if _, ok := p.Next(); ok || p.Pending() != 0 {
		t.Errorf("Next after draining: ok = %v, Pending = %d; want nothing", ok, p.Pending())
	}
}

// A record of MaxUnfragmented bytes travels whole; one byte more needs two payloads.
func TestMaxUnfragmentedIsExact(t *testing.T) {
	p := newPacker(t, testPayload, 0)
	m := p.MaxUnfragmented()
	if want := testPayload - baseHeader - 2; m != want { // a 2-byte length prefix
		t.Fatalf("MaxUnfragmented = %d, want %d", m, want)
	}
	for _, tc := range []struct{ size, payloads int }{{m, 1}, {m + 1, 2}} {
		addAll(t, p, [][]byte{make([]byte, tc.size)})
		if got := len(drain(t, p)); got != tc.payloads {
			t.Errorf("record of %d bytes took %d payloads, want %d", tc.size, got, tc.payloads)
		}
	}
}

// Records at every size around one payload, empty records and a record of exactly the
// maximum size come out intact, alone or behind another record (which moves the point
// where they are cut).
func TestRecordSizesAroundOnePayload(t *testing.T) {
	const maxRecord = 1 << 20
	p := newPacker(t, testPayload, maxRecord)
	m := p.MaxUnfragmented()
	sizes := []int{0, 1, MinFragment - 1, MinFragment, maxRecord}
	for k := -8; k <= 8; k++ {
		sizes = append(sizes, m+k, testPayload+k, 2*m+k)
	}
	for _, size := range sizes {
		for _, lead := range []int{-1, 0, 1, 100, m - MinFragment, m - 1} {
			records := [][]byte{record(1, 1, size), record(1, 2, 0), record(1, 3, size)}
			if lead >= 0 {
				records = append([][]byte{record(1, 0, lead)}, records...)
			}
			addAll(t, p, records)
			sameRecords(t, assemble(t, NewAssembler(maxRecord), 1, drain(t, p)), records)
		}
	}
}

// The first payload is filled to the byte when the next record can be cut into a head of
// at least MinFragment bytes; otherwise the record waits whole for the next payload.
func TestPackerFillsPayloadsWithFirstFragments(t *testing.T) {
	p := newPacker(t, testPayload, 0)
	m := p.MaxUnfragmented()
	for _, tc := range []struct {
		name       string
		lead, next int
		full       bool
	}{
		{"room for a fragment", 1000, 1000, true},
		// Behind a lead of m-MinFragment-k bytes, the fragment needs 3 header bytes
		// (id, a 2-byte total) and a length byte, leaving MinFragment+k-4 for data.
		{"room for exactly MinFragment", m - MinFragment - 4, 1000, true},
		{"one byte short of MinFragment", m - MinFragment - 3, 1000, false},
		{"large record behind", 1000, 100_000, true},
		{"large record behind, little room", m - 10, 100_000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			records := [][]byte{record(1, 0, tc.lead), record(1, 1, tc.next)}
			addAll(t, p, records)
			payloads := drain(t, p)
			if full := len(payloads[0]) == testPayload; full != tc.full {
				t.Errorf("first payload is %d of %d bytes; want full = %v", len(payloads[0]), testPayload, tc.full)
			}
			sameRecords(t, assemble(t, NewAssembler(0), 1, payloads), records)
		})
	}
}

// Pending and PendingBytes count a record until its last byte has left.
func TestPendingCountsRecordsUntilTheirLastByte(t *testing.T) {
	p := newPacker(t, testPayload, 0)
	addAll(t, p, [][]byte{make([]byte, 10_000), make([]byte, 10)})
	if p.Pending() != 2 || p.PendingBytes() != 10_010 {
		t.Fatalf("Pending = %d, PendingBytes = %d; want 2, 10010", p.Pending(), p.PendingBytes())
	}
	p.Next()
	if p.Pending() != 2 || p.PendingBytes() >= 10_010 || p.PendingBytes() < 10_010-testPayload {
		t.Errorf("after one payload: Pending = %d, PendingBytes = %d", p.Pending(), p.PendingBytes())
	}
	drain(t, p)
	if p.Pending() != 0 || p.PendingBytes() != 0 {
		t.Errorf("after draining: Pending = %d, PendingBytes = %d; want 0, 0", p.Pending(), p.PendingBytes())
	}
}

// A long-lived packer with a steady backlog reuses its queue instead of growing it for
// ever, and drops its references to emitted records.
func TestPackerQueueStaysBounded(t *testing.T) {
	p := newPacker(t, testPayload, 0)
	a := NewAssembler(0)
	var want, got [][]byte
	for i := range 50_000 {
		// About one payload's worth in, one payload out: the backlog stays near 1000.
		for j := range 2 {
			r := record(1, 2*i+j, 700)
			want = append(want, r)
			addAll(t, p, [][]byte{r})
		}
		if i < 500 {
			continue
		}
		pl, _ := p.Next()
		got = append(got, assemble(t, a, 1, [][]byte{pl})...)
		if cap(p.queue) > 4*p.Pending()+128 {
			t.Fatalf("queue capacity %d for %d pending records", cap(p.queue), p.Pending())
		}
	}
	for _, r := range p.queue[:p.head] {
		if r != nil {
			t.Fatal("the queue still references an emitted record")
		}
	}
	got = append(got, assemble(t, a, 1, drain(t, p))...)
	sameRecords(t, got, want)
}

func TestResetDropsQueuedAndPartlyEmittedRecords(t *testing.T) {
	p, err := NewPacker(100, 0)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1000)
	if err := p.Add(big); err != nil {
		t.Fatal(err)
	}
	first, _ := p.Next() // the first fragment of big leaves
	p.Reset()
	if p.Pending() != 0 || p.PendingBytes() != 0 {
		t.Fatalf("after Reset: %d records, %d bytes pending, want none", p.Pending(), p.PendingBytes())
	}
	if _, ok := p.Next(); ok {
		t.Fatal("Next returned a payload after Reset")
	}
	// Re-adding the record starts it afresh: a receiver that saw the abandoned first
	// fragment and then the new stream gets the record exactly once.
	p.Add(big)
	a := NewAssembler(0)
	a.Payload(1, first)
	var got [][]byte
	for {
		pl, ok := p.Next()
		if !ok {
			break
		}
		recs, _ := a.Payload(1, pl)
		for _, r := range recs {
			got = append(got, append([]byte(nil), r...))
		}
	}
	if len(got) != 1 || len(got[0]) != len(big) {
		t.Fatalf("reassembled %d records, want the one record once", len(got))
	}
}
