package msgp_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/totem-gcs/totem/multicast/wire/msgp"
)

// reflective encodes v as the reflective encoder does with compact integers.
func reflective(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAppendersWriteWhatTheReflectiveEncoderWrites(t *testing.T) {
	uints := []uint64{0, 1, 127, 128, 255, 256, math.MaxUint16, math.MaxUint16 + 1, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}
	for _, v := range uints {
		if got, want := msgp.AppendUint(nil, v), reflective(t, v); !bytes.Equal(got, want) {
			t.Errorf("uint %d: % x, want % x", v, got, want)
		}
	}
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		s := strings.Repeat("x", n)
		if got, want := msgp.AppendString(nil, s), reflective(t, s); !bytes.Equal(got, want) {
			t.Errorf("string of %d: header % x, want % x", n, got[:min(5, len(got))], want[:min(5, len(want))])
		}
		b := []byte(s)
		if got, want := msgp.AppendBytes(nil, b), reflective(t, b); !bytes.Equal(got, want) {
			t.Errorf("bytes of %d: header % x, want % x", n, got[:min(5, len(got))], want[:min(5, len(want))])
		}
	}
	if got, want := msgp.AppendBytes(nil, nil), reflective(t, []byte(nil)); !bytes.Equal(got, want) {
		t.Errorf("nil bytes: % x, want % x", got, want)
	}
	for _, v := range []bool{false, true} {
		if got, want := msgp.AppendBool(nil, v), reflective(t, v); !bytes.Equal(got, want) {
			t.Errorf("bool %v: % x, want % x", v, got, want)
		}
	}
	for _, n := range []int{0, 15, 16, 65535, 65536} {
		arr := make([]bool, n)
		if got, want := msgp.AppendArrayHeader(nil, n), reflective(t, arr); !bytes.HasPrefix(want, got) || len(want)-len(got) != n {
			t.Errorf("array header %d: % x", n, got)
		}
	}
}

func TestReaderReadsWhatTheReflectiveEncoderWrites(t *testing.T) {
	type sample struct {
		_msgpack struct{} `msgpack:",as_array"`
		A        uint64
		B        string
		C        []byte
		D        bool
		E        map[string]int
		F        []any
	}
	in := sample{A: math.MaxUint32 + 7, B: strings.Repeat("é", 40), C: []byte{1, 2, 3}, D: true,
		E: map[string]int{"k": -5}, F: []any{1.5, float32(2), int8(-3), nil, "s", []byte("b"), map[string]any{"n": []int{1}}}}
	b := reflective(t, &in)
	r := msgp.NewReader(b)
	n, err := r.ArrayHeader()
	if err != nil || n != 6 {
		t.Fatalf("array header %d, %v", n, err)
	}
	if v, err := r.Uint(math.MaxUint64); err != nil || v != in.A {
		t.Fatalf("A %d, %v", v, err)
	}
	if v, err := r.String(); err != nil || v != in.B {
		t.Fatalf("B %q, %v", v, err)
	}
	if v, err := r.Bytes(); err != nil || !bytes.Equal(v, in.C) {
		t.Fatalf("C %v, %v", v, err)
	}
	if v, err := r.Bool(); err != nil || !v {
		t.Fatalf("D %v, %v", v, err)
	}
	if err := r.Skip(); err != nil {
		t.Fatalf("skip E: %v", err)
	}
	if err := r.Skip(); err != nil {
		t.Fatalf("skip F: %v", err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes left", r.Len())
	}
}

func TestUintRefusesWhatDoesNotFit(t *testing.T) {
	for _, c := range []struct {
		v   any
		max uint64
	}{{int8(-1), math.MaxUint64}, {int64(-2), math.MaxUint64}, {uint64(math.MaxUint32 + 1), math.MaxUint32}, {uint16(300), 255}} {
		r := msgp.NewReader(reflective(t, c.v))
		if _, err := r.Uint(c.max); err == nil {
			t.Errorf("Uint(%d) of %v: no error", c.max, c.v)
		}
	}
	r := msgp.NewReader(reflective(t, "x"))
	if _, err := r.Uint(10); err == nil {
		t.Error("Uint of a string: no error")
	}
}

func TestLengthsThatTheInputDoesNotBackAreRefused(t *testing.T) {
	for _, b := range [][]byte{
		{0xdf, 0xff, 0xff, 0xff, 0xff},      // a map of 4G pairs in 5 bytes
		{0xdd, 0xff, 0xff, 0xff, 0xff},      // an array of 4G values
		{0xdb, 0x00, 0x10, 0x00, 0x00, 'x'}, // a 1 MiB string with one byte
		{0xc6, 0xff, 0xff, 0xff, 0xff},      // a 4 GiB bin
		{0xcf, 0x01},                        // a truncated uint64
	} {
		r := msgp.NewReader(b)
		if err := r.Skip(); err == nil {
			t.Errorf("% x: skipped", b)
		}
	}
}

func TestSkipBoundsNesting(t *testing.T) {
	b := bytes.Repeat([]byte{0x91}, 1000)
	b = append(b, 0xc0)
	r := msgp.NewReader(b)
	if err := r.Skip(); err == nil {
		t.Fatal("1000 nested arrays skipped")
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{0x93, 0x01, 0xa1, 'x', 0xc4, 0x01, 0x02})
	f.Add([]byte{0x82, 0xa1, 'k', 0xc0, 0xa1, 'l', 0xde, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := msgp.NewReader(b)
		for r.Len() > 0 {
			before := r.Len()
			if err := r.Skip(); err != nil {
				return
			}
			if r.Len() >= before {
				t.Fatal("Skip made no progress")
			}
		}
	})
}
