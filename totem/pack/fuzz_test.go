package pack

import (
	"errors"
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

// fuzzMaxRecord is small so that the fuzzer reaches the record limit easily.
const fuzzMaxRecord = 4096

// FuzzAssembler feeds arbitrary payload sequences from four senders, with Forgets mixed in.
// The input is a list of operations: a byte whose low two bits name the sender and whose
// top bit means Forget; otherwise a length byte and that many payload bytes follow.
//
// Whatever comes in, the Assembler must not panic, must not return a record above its
// limit, must not buffer more than the limit per sender, and must report every problem
// as a *PayloadError (with no records when the payload could not be parsed).
func FuzzAssembler(f *testing.F) {
	f.Fuzz(func(t *testing.T, ops []byte) {
		a := NewAssembler(fuzzMaxRecord)
		for len(ops) > 0 {
			op := ops[0]
			from := wire.NodeID(op & 3)
			if op&0x80 != 0 || len(ops) < 2 {
				a.Forget(from)
				ops = ops[1:]
				continue
			}
			n := min(int(ops[1]), len(ops)-2)
			payload := ops[2 : 2+n]
			ops = ops[2+n:]
			checkPayload(t, a, from, payload)
		}
	})
}

func checkPayload(t *testing.T, a *Assembler, from wire.NodeID, payload []byte) {
	recs, err := a.Payload(from, payload)
	var perr *PayloadError
	if err != nil && !errors.As(err, &perr) {
		t.Fatalf("error %v is not a *PayloadError", err)
	}
	if errors.Is(err, ErrMalformed) && len(recs) > 0 {
		t.Fatalf("a malformed payload yielded %d records", len(recs))
	}
	for _, r := range recs {
		if len(r) > fuzzMaxRecord {
			t.Fatalf("a record of %d bytes passed the %d-byte limit", len(r), fuzzMaxRecord)
		}
	}
	for sender, p := range a.partial {
		if cap(p.buf) > fuzzMaxRecord {
			t.Fatalf("sender %v buffers %d bytes, above the limit", sender, cap(p.buf))
		}
	}
}

// FuzzRoundTrip packs an arbitrary list of records into payloads of an arbitrary size,
// calling Next at arbitrary points between Adds, then assembles them: the records must
// come back identical and in order, and no payload may exceed its budget.
//
// Each input byte b makes one record of about b²/16 bytes (up to 4 KiB, so records
// both smaller and larger than a payload occur); its low bit says whether to take a
// payload right after adding it. Only the first 256 bytes count: the mutator sometimes
// grows inputs to many kilobytes, which would mean hundreds of megabytes per run.
func FuzzRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, sizes []byte, payloadSize uint16) {
		sizes = sizes[:min(len(sizes), 256)]
		p := newPacker(t, MinPayload+int(payloadSize)%4096, fuzzMaxRecord)
		a := NewAssembler(fuzzMaxRecord)
		var want, got [][]byte
		for i, b := range sizes {
			r := record(1, i, int(b)*int(b)/16)
			want = append(want, r)
			addAll(t, p, [][]byte{r})
			if b&1 == 0 {
				continue
			}
			if pl, ok := p.Next(); ok {
				got = append(got, assemble(t, a, 1, [][]byte{pl})...)
			}
		}
		got = append(got, assemble(t, a, 1, drain(t, p))...)
		sameRecords(t, got, want)
	})
}
