package wire

import (
	"encoding/binary"
	"testing"
)

func TestProbeSkipAlloc(t *testing.T) {
	c := ClusterHash("x")
	b := binary.BigEndian.AppendUint16(nil, Magic)
	b = append(b, Version, byte(KindMergeDetect))
	b = binary.BigEndian.AppendUint32(b, c)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, 0x92, 0x92, 0x01, 0x01, 0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2, 3)
	for i := 0; i < 5; i++ {
		_, _, err := Decode(b, c)
		t.Log(err)
	}
	a := testing.AllocsPerRun(10, func() { Decode(b, c) })
	t.Log("allocs", a)
	res := testing.Benchmark(func(bb *testing.B) { bb.ReportAllocs(); for bb.Loop() { Decode(b, c) } })
	t.Log(res.String(), res.MemString())
}
