package pack

import (
	"fmt"
	"testing"
)

// BenchmarkPackAssemble measures the whole path of a batch of records: Add, Next until
// empty, and Payload on the receiving side. Bytes are record bytes, headers excluded.
func BenchmarkPackAssemble(b *testing.B) {
	for _, bc := range []struct {
		size, batch int
	}{
		{100, 1000},   // small records, many per payload
		{64 << 10, 1}, // large records, about 47 fragments each
	} {
		b.Run(fmt.Sprintf("record=%dB", bc.size), func(b *testing.B) {
			p := newPacker(b, testPayload, 0)
			a := NewAssembler(0)
			records := make([][]byte, bc.batch)
			for i := range records {
				records[i] = record(1, i, bc.size)
			}
			b.SetBytes(int64(bc.size * bc.batch))
			b.ReportAllocs()
			for b.Loop() {
				packAssemble(b, p, a, records)
			}
		})
	}
}

func packAssemble(b *testing.B, p *Packer, a *Assembler, records [][]byte) {
	for _, r := range records {
		if err := p.Add(r); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	for pl, ok := p.Next(); ok; pl, ok = p.Next() {
		recs, err := a.Payload(1, pl)
		if err != nil {
			b.Fatal(err)
		}
		n += len(recs)
	}
	if n != len(records) {
		b.Fatalf("assembled %d of %d records", n, len(records))
	}
}
