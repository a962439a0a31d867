package pack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

// testPayload is the budget most tests use: a 1500-byte MTU minus the wire headers.
const testPayload = 1400

func newPacker(t testing.TB, maxPayload, maxRecord int) *Packer {
	t.Helper()
	p, err := NewPacker(maxPayload, maxRecord)
	if err != nil {
		t.Fatalf("NewPacker(%d, %d): %v", maxPayload, maxRecord, err)
	}
	return p
}

// record is a deterministic record whose bytes depend on its sender, index and size, so
// that a fragment glued onto the wrong record cannot go unnoticed.
func record(from wire.NodeID, i, size int) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(int(from)*131 + i*31 + j*7 + j>>8)
	}
	return b
}

// addAll queues records, failing the test on any refusal.
func addAll(t testing.TB, p *Packer, records [][]byte) {
	t.Helper()
	for i, r := range records {
		if err := p.Add(r); err != nil {
			t.Fatalf("Add(record %d, %d bytes): %v", i, len(r), err)
		}
	}
}

// drain takes every payload the packer has, checking each against its size budget.
func drain(t testing.TB, p *Packer) [][]byte {
	t.Helper()
	var payloads [][]byte
	for {
		pl, ok := p.Next()
		if !ok {
			return payloads
		}
		if len(pl) > p.maxPayload {
			t.Fatalf("payload of %d bytes exceeds the %d-byte budget", len(pl), p.maxPayload)
		}
		payloads = append(payloads, pl)
	}
}

// assemble feeds one sender's payloads to a, failing on any error, and returns the records.
func assemble(t testing.TB, a *Assembler, from wire.NodeID, payloads [][]byte) [][]byte {
	t.Helper()
	var got [][]byte
	for i, pl := range payloads {
		recs, err := a.Payload(from, pl)
		if err != nil {
			t.Fatalf("payload %d of %d: %v", i, len(payloads), err)
		}
		got = append(got, recs...) // copies the headers: a reuses its result slice
	}
	return got
}

// sameRecords compares record lists, reporting the first difference briefly (records can
// be a megabyte long).
func sameRecords(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d: got %d bytes %s, want %d bytes %s",
				i, len(got[i]), brief(got[i]), len(want[i]), brief(want[i]))
		}
	}
}

func brief(b []byte) string {
	if len(b) > 16 {
		return fmt.Sprintf("%x…", b[:16])
	}
	return fmt.Sprintf("%x", b)
}

// hdr hand-builds a payload header: version, flags, then uvarint fields (count, ids,
// offsets, totals) in the order the format lists them.
func hdr(version, flags byte, fields ...uint64) []byte {
	b := []byte{version, flags}
	for _, f := range fields {
		b = binary.AppendUvarint(b, f)
	}
	return b
}

// pieces appends length-prefixed pieces to a hand-built header.
func pieces(b []byte, ps ...string) []byte {
	for _, p := range ps {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	return b
}

// isOpen reports whether a holds a partial record for the sender.
func isOpen(a *Assembler, from wire.NodeID) bool {
	_, ok := a.partial[from]
	return ok
}
