package groups

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// plainRecord is record without its hand-written codec: what the reflective encoder
// makes of the same fields, the format the codec must keep.
type plainRecord struct {
	_msgpack struct{} `msgpack:",as_array"`
	Kind     recordKind
	Group    string
	Session  uint32
	PID      uint32
	Name     string
	Reason   Reason
	Safe     bool
	Data     []byte
	Sync     []syncEntry
}

func testRecords() []*record {
	return []*record{
		{Kind: recJoin, Group: "g", Session: 7, PID: 4242, Name: "alice"},
		{Kind: recLeave, Group: "g", Session: 7, PID: 4242, Reason: ReasonDisconnect},
		{Kind: recData, Group: "chat", Session: 1 << 31, PID: 1, Safe: true, Data: bytes.Repeat([]byte{0xab}, 300)},
		{Kind: recData, Group: "empty", Data: []byte{}},
		{Kind: recSync, Sync: []syncEntry{{Group: "a", Session: 1, PID: 2, Name: "x"}, {Group: "b", Session: 3, PID: 4, Name: ""}}},
		{Kind: recSync},
	}
}

// The hand-written codec writes the smallest integers where the reflective encoder wrote
// fixed widths; any msgpack decoder reads both alike, so daemons of either kind
// understand each other. Both directions are checked against the reflective codec.
func TestRecordCodecKeepsTheFormat(t *testing.T) {
	for _, r := range testRecords() {
		got, err := encodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		p := plainRecord{Kind: r.Kind, Group: r.Group, Session: r.Session, PID: r.PID, Name: r.Name,
			Reason: r.Reason, Safe: r.Safe, Data: r.Data, Sync: r.Sync}
		var old plainRecord
		if err := msgpack.Unmarshal(got, &old); err != nil {
			t.Fatalf("reflective decoder on %x: %v", got, err)
		}
		if len(old.Data) == 0 && len(p.Data) == 0 {
			old.Data = p.Data // nil and empty encode alike
		}
		if !reflect.DeepEqual(old, p) {
			t.Errorf("reflective decoder read %+v, want %+v", old, p)
		}
		want, err := msgpack.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeRecord(want)
		if err != nil {
			t.Fatalf("decode %x: %v", want, err)
		}
		if r.Data != nil && len(r.Data) == 0 {
			back.Data = []byte{} // nil and empty encode alike
		}
		if !reflect.DeepEqual(back, r) {
			t.Errorf("round trip: %+v, want %+v", back, r)
		}
	}
}

func TestRecordCodecAllocates(t *testing.T) {
	b, _ := encodeRecord(&record{Kind: recData, Group: "g", Session: 7, PID: 9, Data: make([]byte, 100)})
	if n := testing.AllocsPerRun(100, func() { decodeRecord(b) }); n > 2 {
		t.Errorf("decoding a data record: %v allocations, want the record and its group name", n)
	}
}

// Appended fields of a newer sender are skipped; a record cut short keeps zeros.
func TestRecordCodecVersions(t *testing.T) {
	b, _ := encodeRecord(&record{Kind: recJoin, Group: "g", Name: "n"})
	longer := append([]byte{0x9a}, b[1:]...) // fixarray of 10
	longer = append(longer, 0xa3, 'n', 'e', 'w')
	r, err := decodeRecord(longer)
	if err != nil || r.Group != "g" || r.Name != "n" {
		t.Fatalf("record with an extra field: %+v, %v", r, err)
	}
	r, err = decodeRecord([]byte{0x92, 0x03, 0xa1, 'g'})
	if err != nil || r.Kind != recData || r.Group != "g" || r.Data != nil {
		t.Fatalf("record of two fields: %+v, %v", r, err)
	}
}

// Whatever the bytes, decoding ends with a record or an error, and allocates little.
func TestRecordDecodeGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var seeds [][]byte
	for _, r := range testRecords() {
		b, _ := encodeRecord(r)
		seeds = append(seeds, b)
	}
	seeds = append(seeds, []byte{0x99, 0x04, 0xa0, 0, 0, 0xa0, 0, 0xc2, 0xc0, 0xdd, 0xff, 0xff, 0xff, 0xff})
	for i := range 20000 {
		b := append([]byte(nil), seeds[i%len(seeds)]...)
		for range 1 + rng.IntN(4) {
			if len(b) > 0 {
				b[rng.IntN(len(b))] = byte(rng.Uint32())
			}
		}
		if rng.IntN(4) == 0 {
			b = b[:rng.IntN(len(b)+1)]
		}
		decodeRecord(b) // must not panic
	}
	allocs := testing.AllocsPerRun(10, func() {
		decodeRecord([]byte{0x99, 0x04, 0xa0, 0, 0, 0xa0, 0, 0xc2, 0xc0, 0xdd, 0x7f, 0xff, 0xff, 0xff})
	})
	if allocs > 20 {
		t.Errorf("a record claiming 2^31 sync entries took %v allocations", allocs)
	}
}

// FuzzRecord: a record decoded from any bytes (a payload's contents come from any key
// holder, or anyone on a ring without a key) never panics, and re-encodes to a record
// that decodes to itself and to the same format the reflective codec reads.
func FuzzRecord(f *testing.F) {
	for _, r := range testRecords() {
		b, _ := encodeRecord(r)
		f.Add(b)
	}
	f.Add([]byte{0x99, 0x04, 0xa0, 0, 0, 0xa0, 0, 0xc2, 0xc0, 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		enc, err := encodeRecord(r)
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v (%+v)", err, r)
		}
		again, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("a re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalRecord(r), normalRecord(again)) {
			t.Fatalf("round trip: %+v != %+v", r, again)
		}
	})
}

// normalRecord treats empty and nil slices alike.
func normalRecord(r *record) record {
	c := *r
	if len(c.Data) == 0 {
		c.Data = nil
	}
	if len(c.Sync) == 0 {
		c.Sync = nil
	}
	return c
}

// BenchmarkRecord measures a 100-byte data record's encoding and decoding, which every
// message pays once at its sender and once at every node.
func BenchmarkRecord(b *testing.B) {
	r := &record{Kind: recData, Group: "bench", Session: 7, PID: 4242, Data: make([]byte, 100)}
	enc, _ := encodeRecord(r)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			encodeRecord(r)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeRecord(enc)
		}
	})
}
