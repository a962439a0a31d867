package wire_test

import (
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

func benchToken() *wire.Token {
	return &wire.Token{
		Ring: wire.RingID{Rep: 3, Seq: 41}, TokenSeq: 123456, Seq: 100000, Aru: 99990, AruID: 5,
		Backlog: 40, FCC: 60, RTR: maxRTR()[:10],
	}
}

func benchMcast1K() *wire.Mcast {
	return &wire.Mcast{Ring: wire.RingID{Rep: 3, Seq: 41}, Seq: 100001, Origin: 5, Payload: payload(1024)}
}

func benchEncode(b *testing.B, p wire.Packet) {
	buf := make([]byte, 0, wire.MaxDatagram)
	b.SetBytes(int64(len(encode(b, p))))
	b.ReportAllocs()
	var err error
	for b.Loop() {
		if buf, err = wire.Append(buf[:0], testCluster, testSender, p); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, p wire.Packet) {
	buf := encode(b, p)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := wire.Decode(buf, testCluster); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeToken(b *testing.B)   { benchEncode(b, benchToken()) }
func BenchmarkDecodeToken(b *testing.B)   { benchDecode(b, benchToken()) }
func BenchmarkEncodeMcast1K(b *testing.B) { benchEncode(b, benchMcast1K()) }
func BenchmarkDecodeMcast1K(b *testing.B) { benchDecode(b, benchMcast1K()) }
