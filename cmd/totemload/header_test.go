package main

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestHeaderLayout: the bytes are those of cpgload's packed struct on a little-endian
// host.
func TestHeaderLayout(t *testing.T) {
	h := header{magic: loadMagic, runID: 0x01020304, kind: kindEnd, sender: 0x0a0b, size: 0x11223344,
		seq: 0x0102030405060708, ts: 0x1112131415161718}
	b := make([]byte, hdrLen+3)
	h.put(b)
	want, _ := hex.DecodeString("4254444c" + "04030201" + "0200" + "0b0a" + "44332211" +
		"0807060504030201" + "1817161514131211" + "000000")
	if !bytes.Equal(b, want) {
		t.Fatalf("header bytes\n got %x\nwant %x", b, want)
	}
	if string(b[:4]) != "BTDL" {
		t.Errorf("magic bytes %q, want BTDL", b[:4])
	}
	got, ok := parseHeader(b)
	if !ok || got != h {
		t.Errorf("parseHeader = %+v, %v; want %+v", got, ok, h)
	}
	if _, ok := parseHeader(b[:hdrLen-1]); ok {
		t.Error("parseHeader accepted 31 bytes")
	}
	if _, ok := parseHeader(b[:hdrLen]); !ok {
		t.Error("parseHeader refused exactly a header")
	}
}

// TestFNV: the published FNV-1a 64 test vectors.
func TestFNV(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
	}{
		{"", 0xcbf29ce484222325},
		{"a", 0xaf63dc4c8601ec8c},
		{"foobar", 0x85944171f73967e8},
	} {
		if got := fnvMix(fnvOffset, []byte(tt.in)); got != tt.want {
			t.Errorf("fnv1a64(%q) = %016x, want %016x", tt.in, got, tt.want)
		}
	}
}

// TestDigestRecord: a record is the 16 bytes nodeid, sender, kind, seq (little-endian),
// mixed in delivery order.
func TestDigestRecord(t *testing.T) {
	rec, _ := hex.DecodeString("03000000" + "0200" + "0100" + "2a00000000000000")
	d := digestRecord(fnvOffset, 3, 2, kindData, 42)
	if want := fnvMix(fnvOffset, rec); d != want {
		t.Fatalf("digestRecord = %016x, want %016x", d, want)
	}
	// Order matters.
	a := digestRecord(digestRecord(fnvOffset, 1, 1, kindData, 0), 2, 2, kindData, 0)
	b := digestRecord(digestRecord(fnvOffset, 2, 2, kindData, 0), 1, 1, kindData, 0)
	if a == b {
		t.Error("the digest does not depend on the order")
	}
}
