package multicast

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/totem-gcs/totem/internal/fuzzseed"
)

// sealPattern returns n bytes of a recognisable, non-constant pattern.
func sealPattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + 1)
	}
	return b
}

// sealTestSealer is a named sealer for table tests.
type sealTestSealer struct {
	name string
	s    Sealer
}

// sealTestSealers returns a checksum sealer and an AEAD sealer with a fresh key.
func sealTestSealers(t testing.TB) []sealTestSealer {
	t.Helper()
	return []sealTestSealer{
		{"checksum", sealMust(t, nil)},
		{"aead", sealMust(t, GenerateKey())},
	}
}

func sealMust(t testing.TB, key []byte) Sealer {
	t.Helper()
	s, err := NewSealer(key)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

// Open(Seal(p)) is p, for every size up to beyond a datagram, and Seal grows p by exactly
// Overhead bytes. Both append to dst and keep what it held.
func TestSealOpenRoundTrip(t *testing.T) {
	for _, s := range sealTestSealers(t) {
		for _, n := range []int{0, 1, 1024, 64*1024 - 1, 64 * 1024} {
			t.Run(fmt.Sprintf("%s/%d", s.name, n), func(t *testing.T) {
				plain := sealPattern(n)
				orig := bytes.Clone(plain)
				sealed := s.s.Seal([]byte("dst:"), plain)
				if !bytes.HasPrefix(sealed, []byte("dst:")) {
					t.Fatalf("Seal lost dst's contents")
				}
				sealed = sealed[len("dst:"):]
				if got, want := len(sealed)-n, s.s.Overhead(); got != want {
					t.Errorf("Seal grew the datagram by %d bytes, Overhead() = %d", got, want)
				}
				if !bytes.Equal(plain, orig) {
					t.Errorf("Seal modified its plaintext")
				}
				got, err := s.s.Open([]byte("out:"), sealed)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if !bytes.HasPrefix(got, []byte("out:")) {
					t.Fatalf("Open lost dst's contents")
				}
				if got := got[len("out:"):]; !bytes.Equal(got, plain) {
					t.Errorf("Open: got %d bytes, want the %d sealed", len(got), len(plain))
				}
			})
		}
	}
}

// The overheads are those of the documented layouts: scheme byte and CRC-32C; scheme byte,
// key id, 24-byte nonce and 16-byte tag.
func TestSealOverhead(t *testing.T) {
	for _, tt := range []struct {
		key  []byte
		want int
	}{
		{nil, 1 + 4},
		{GenerateKey(), 1 + 4 + 24 + 16},
	} {
		if got := sealMust(t, tt.key).Overhead(); got != tt.want {
			t.Errorf("Overhead() with key %v: got %d, want %d", tt.key != nil, got, tt.want)
		}
	}
}

// A checksum datagram is 0x01, the plaintext, and the big-endian CRC-32C (Castagnoli) of
// everything before it.
func TestSealChecksumLayout(t *testing.T) {
	plain := []byte("totem")
	got := sealMust(t, nil).Seal(nil, plain)
	want := append([]byte{0x01}, plain...)
	want = binary.BigEndian.AppendUint32(want, crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli)))
	if !bytes.Equal(got, want) {
		t.Errorf("Seal:\ngot  % x\nwant % x", got, want)
	}
}

// An AEAD datagram is 0x02, a 4-byte key id that depends only on the key, then the nonce:
// a 16-byte prefix fixed per sealer and a big-endian counter from 1.
func TestSealAEADLayout(t *testing.T) {
	key := GenerateKey()
	a, b := sealMust(t, key), sealMust(t, key)
	other := sealMust(t, GenerateKey())
	a1, a2, b1 := a.Seal(nil, []byte("x")), a.Seal(nil, []byte("y")), b.Seal(nil, []byte("x"))
	o1 := other.Seal(nil, []byte("x"))
	for _, d := range [][]byte{a1, a2, b1, o1} {
		if d[0] != 0x02 {
			t.Errorf("scheme byte: got %#02x, want 0x02", d[0])
		}
	}
	if !bytes.Equal(a1[1:5], b1[1:5]) || !bytes.Equal(a1[1:5], a2[1:5]) {
		t.Errorf("key ids from one key differ: % x, % x, % x", a1[1:5], a2[1:5], b1[1:5])
	}
	if bytes.Equal(a1[1:5], o1[1:5]) {
		t.Errorf("key ids from two random keys are equal: % x", a1[1:5])
	}
	if !bytes.Equal(a1[5:21], a2[5:21]) {
		t.Errorf("nonce prefix changed within one sealer: % x, % x", a1[5:21], a2[5:21])
	}
	if c1, c2 := binary.BigEndian.Uint64(a1[21:29]), binary.BigEndian.Uint64(a2[21:29]); c1 != 1 || c2 != 2 {
		t.Errorf("nonce counters: got %d, %d, want 1, 2", c1, c2)
	}
	if !bytes.Equal(b1[1:aeadHeaderLen], a1[1:aeadHeaderLen]) && bytes.Equal(b1[aeadHeaderLen:], a1[aeadHeaderLen:]) {
		t.Errorf("one plaintext under two nonces gave the same ciphertext")
	}
}

// Nodes sharing a key open each other's datagrams: sealers are independent except for it.
func TestSealSameKeyInteroperates(t *testing.T) {
	key := GenerateKey()
	a, b := sealMust(t, key), sealMust(t, bytes.Clone(key))
	for _, dir := range []struct {
		name     string
		from, to Sealer
	}{{"a to b", a, b}, {"b to a", b, a}} {
		got, err := dir.to.Open(nil, dir.from.Seal(nil, []byte("hello")))
		if err != nil || string(got) != "hello" {
			t.Errorf("%s: Open: got %q, %v, want %q, nil", dir.name, got, err, "hello")
		}
	}
}

// sealNonce returns the nonce of an AEAD datagram.
func sealNonce(d []byte) string { return string(d[1+keyIDLen : aeadHeaderLen]) }

// One sealer never repeats a nonce, even when used concurrently.
func TestSealNoncesNeverRepeat(t *testing.T) {
	s := sealMust(t, GenerateKey())
	const goroutines, each = 8, 5000
	nonces := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				nonces[g] = append(nonces[g], sealNonce(s.Seal(nil, nil)))
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool, goroutines*each)
	for _, ns := range nonces {
		for _, n := range ns {
			if seen[n] {
				t.Fatalf("nonce % x used twice", n)
			}
			seen[n] = true
		}
	}
	if got, want := len(seen), goroutines*each; got != want {
		t.Errorf("distinct nonces: got %d, want %d", got, want)
	}
}

// Two sealers from the same key (two nodes, or one node restarted) draw different nonce
// prefixes, so their counters never collide.
func TestSealSameKeyDifferentPrefixes(t *testing.T) {
	key := GenerateKey()
	prefixes := make(map[string]bool)
	for range 100 {
		p := sealNonce(sealMust(t, key).Seal(nil, nil))[:16]
		if prefixes[p] {
			t.Fatalf("two sealers drew the nonce prefix % x", p)
		}
		prefixes[p] = true
	}
}

// checkOpenError checks that err wraps ErrOpen and want.
func checkOpenError(t *testing.T, what string, got []byte, err, want error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: Open succeeded with %q, want %v", what, got, want)
		return
	}
	if !errors.Is(err, ErrOpen) {
		t.Errorf("%s: Open error %q does not wrap ErrOpen", what, err)
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: Open: got error %q, want %q", what, err, want)
	}
}

// A datagram sealed under another key is ErrWrongKey, before any decryption is tried.
func TestOpenWrongKey(t *testing.T) {
	a, b := sealMust(t, GenerateKey()), sealMust(t, GenerateKey())
	got, err := b.Open(nil, a.Seal(nil, []byte("secret")))
	checkOpenError(t, "other key", got, err, ErrWrongKey)
}

// Flipping any bit of an AEAD datagram makes it unopenable: the scheme byte gives
// ErrScheme, the key id ErrWrongKey, the nonce, ciphertext or tag ErrForged.
func TestOpenFlippedBitAEAD(t *testing.T) {
	s := sealMust(t, GenerateKey())
	sealed := s.Seal(nil, []byte("a small datagram"))
	for i := range sealed {
		want := ErrForged
		switch {
		case i == 0:
			want = ErrScheme
		case i < 1+keyIDLen:
			want = ErrWrongKey
		}
		for bit := range 8 {
			d := bytes.Clone(sealed)
			d[i] ^= 1 << bit
			got, err := s.Open([]byte("dst"), d)
			checkOpenError(t, fmt.Sprintf("byte %d bit %d", i, bit), got, err, want)
			if string(got) != "dst" {
				t.Errorf("byte %d bit %d: Open returned %q, want dst unchanged", i, bit, got)
			}
		}
	}
}

// Flipping any bit of a checksum datagram makes it unopenable: the scheme byte gives
// ErrScheme, any other ErrChecksum (CRC-32C detects every single-bit error).
func TestOpenFlippedBitChecksum(t *testing.T) {
	s := sealMust(t, nil)
	sealed := s.Seal(nil, []byte("a small datagram"))
	for i := range sealed {
		want := ErrChecksum
		if i == 0 {
			want = ErrScheme
		}
		for bit := range 8 {
			d := bytes.Clone(sealed)
			d[i] ^= 1 << bit
			got, err := s.Open(nil, d)
			checkOpenError(t, fmt.Sprintf("byte %d bit %d", i, bit), got, err, want)
		}
	}
}

// Cut, extended or spliced AEAD datagrams are forgeries.
func TestOpenTamperedAEAD(t *testing.T) {
	s := sealMust(t, GenerateKey())
	one, two := s.Seal(nil, []byte("first datagram")), s.Seal(nil, []byte("other datagram"))
	for _, tt := range []struct {
		name string
		d    []byte
	}{
		{"last byte cut", one[:len(one)-1]},
		{"byte appended", append(bytes.Clone(one), 0)},
		{"nonce of another datagram", append(bytes.Clone(two[:aeadHeaderLen]), one[aeadHeaderLen:]...)},
		{"tag of another datagram", append(bytes.Clone(one[:len(one)-16]), two[len(two)-16:]...)},
		{"all zero after the key id", append(bytes.Clone(one[:1+keyIDLen]), make([]byte, len(one)-1-keyIDLen)...)},
	} {
		got, err := s.Open(nil, tt.d)
		checkOpenError(t, tt.name, got, err, ErrForged)
	}
}

// A node with a key refuses checksum datagrams, and a node without one refuses AEAD
// datagrams, even when the datagram is otherwise perfect.
func TestOpenWrongScheme(t *testing.T) {
	checksum, aead := sealMust(t, nil), sealMust(t, GenerateKey())
	long := sealPattern(100) // longer than either overhead, so only the scheme is wrong
	got, err := aead.Open(nil, checksum.Seal(nil, long))
	checkOpenError(t, "checksum datagram to AEAD sealer", got, err, ErrScheme)
	got, err = checksum.Open(nil, aead.Seal(nil, long))
	checkOpenError(t, "AEAD datagram to checksum sealer", got, err, ErrScheme)
	for _, scheme := range []byte{0x00, 0x03, 0xff} {
		d := checksum.Seal(nil, long)
		d[0] = scheme
		for _, s := range []Sealer{checksum, aead} {
			got, err := s.Open(nil, d)
			checkOpenError(t, fmt.Sprintf("scheme %#02x", scheme), got, err, ErrScheme)
		}
	}
}

// Anything shorter than a sealer's overhead is ErrShortSeal, whatever it holds.
func TestOpenShort(t *testing.T) {
	for _, s := range sealTestSealers(t) {
		valid := s.s.Seal(nil, nil) // exactly Overhead bytes, and valid
		if got, err := s.s.Open(nil, valid); err != nil || len(got) != 0 {
			t.Errorf("%s: Open(empty plaintext): got %q, %v, want empty, nil", s.name, got, err)
		}
		for n := range s.s.Overhead() {
			got, err := s.s.Open(nil, valid[:n])
			checkOpenError(t, fmt.Sprintf("%s: %d bytes", s.name, n), got, err, ErrShortSeal)
		}
	}
}

// Every error Open reports is one of the documented ones, all wrapping ErrOpen.
func TestOpenErrorsWrapErrOpen(t *testing.T) {
	for _, err := range []error{ErrWrongKey, ErrForged, ErrChecksum, ErrScheme, ErrShortSeal} {
		if !errors.Is(err, ErrOpen) {
			t.Errorf("%q does not wrap ErrOpen", err)
		}
	}
}

// NewSealer takes nil (checksum only) or exactly KeySize bytes.
func TestNewSealerKeyLength(t *testing.T) {
	for _, n := range []int{0, 1, 16, KeySize - 1, KeySize + 1, 64} {
		if s, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer(%d-byte key): got %T, want an error", n, s)
		}
	}
	if s, err := NewSealer(make([]byte, KeySize)); err != nil || s.Overhead() != aeadOverhead {
		t.Errorf("NewSealer(%d-byte key): got %v, %v, want an AEAD sealer", KeySize, s, err)
	}
	if s, err := NewSealer(nil); err != nil || s.Overhead() != checksumOverhd {
		t.Errorf("NewSealer(nil): got %v, %v, want a checksum sealer", s, err)
	}
}

// GenerateKey returns KeySize random bytes.
func TestGenerateKey(t *testing.T) {
	a, b := GenerateKey(), GenerateKey()
	if len(a) != KeySize || len(b) != KeySize {
		t.Fatalf("GenerateKey lengths: got %d, %d, want %d", len(a), len(b), KeySize)
	}
	if bytes.Equal(a, b) {
		t.Errorf("two generated keys are equal: % x", a)
	}
}

// A key file holds exactly KeySize bytes; anything else, or no file, is an error.
func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, sealPattern(n), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	key, err := LoadKeyFile(write("good", KeySize))
	if err != nil {
		t.Fatalf("LoadKeyFile(%d bytes): %v", KeySize, err)
	}
	if !bytes.Equal(key, sealPattern(KeySize)) {
		t.Errorf("LoadKeyFile: got % x, want % x", key, sealPattern(KeySize))
	}
	if _, err := NewSealer(key); err != nil {
		t.Errorf("NewSealer(loaded key): %v", err)
	}

	for _, n := range []int{0, KeySize - 1, KeySize + 1, 4096} {
		path := write(fmt.Sprintf("size%d", n), n)
		if key, err := LoadKeyFile(path); err == nil {
			t.Errorf("LoadKeyFile(%d bytes): got %d-byte key, want an error", n, len(key))
		} else if !strings.Contains(err.Error(), fmt.Sprint(n)) {
			t.Errorf("LoadKeyFile(%d bytes): error %q does not say the size", n, err)
		}
	}

	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o602} {
		path := write(fmt.Sprintf("mode%04o", mode), KeySize)
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKeyFile(path)
		if !errors.Is(err, ErrKeyFileMode) || !strings.Contains(err.Error(), fmt.Sprintf("%04o", mode)) ||
			!strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("LoadKeyFile(mode %04o) = %v; want ErrKeyFileMode naming the mode and the fix", mode, err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "good"), 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "good")); err != nil {
		t.Errorf("LoadKeyFile(mode 0400): %v; read-only for the owner is private", err)
	}

	_, err = LoadKeyFile(filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadKeyFile(missing file): got %v, want an error wrapping fs.ErrNotExist", err)
	}
	if _, err := LoadKeyFile(dir); err == nil {
		t.Errorf("LoadKeyFile(a directory): got no error")
	}
}

// fuzzKey is the key of the FuzzOpen corpus. Its datagrams are checked in, so it is fixed.
var fuzzKey = []byte("totem FuzzOpen key, test only!!!")

// fuzzSealers returns the sealers of FuzzOpen. The AEAD sealer's nonce prefix is fixed too,
// so that sealing the same plaintexts in the same order reproduces the corpus exactly.
func fuzzSealers(t testing.TB) (checksum Sealer, aead *aeadSealer) {
	t.Helper()
	if len(fuzzKey) != KeySize {
		t.Fatalf("fuzzKey is %d bytes, want %d", len(fuzzKey), KeySize)
	}
	a := sealMust(t, fuzzKey).(*aeadSealer)
	copy(a.prefix[:], "FuzzOpen prefix!")
	return sealMust(t, nil), a
}

// fuzzSeed is a named FuzzOpen input and, if it is authentic, its plaintext.
type fuzzSeed struct {
	name      string
	datagram  []byte
	plaintext []byte // nil unless the AEAD sealer sealed datagram
}

// fuzzOpenSeeds seals a few plaintexts with both fuzz sealers and corrupts some copies.
// The AEAD entries with a plaintext are the only datagrams ever sealed under fuzzKey.
func fuzzOpenSeeds(t testing.TB) []fuzzSeed {
	checksum, aead := fuzzSealers(t)
	var seeds []fuzzSeed
	for _, p := range []struct {
		name  string
		plain []byte
	}{
		{"empty", []byte{}},
		{"one-byte", []byte{0x7a}},
		{"text", []byte("hello, ring")},
		{"1k", sealPattern(1024)},
	} {
		seeds = append(seeds,
			fuzzSeed{"aead-" + p.name, aead.Seal(nil, p.plain), p.plain},
			fuzzSeed{"checksum-" + p.name, checksum.Seal(nil, p.plain), nil})
	}
	a, c := seeds[4].datagram, seeds[5].datagram // the "text" datagrams
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x10; return b }
	return append(seeds,
		fuzzSeed{"corrupt-aead-flipped-ciphertext", flip(a, aeadHeaderLen+1), nil},
		fuzzSeed{"corrupt-aead-flipped-tag", flip(a, len(a)-1), nil},
		fuzzSeed{"corrupt-aead-flipped-key-id", flip(a, 2), nil},
		fuzzSeed{"corrupt-aead-truncated", a[:len(a)-1], nil},
		fuzzSeed{"corrupt-aead-short", a[:aeadOverhead-1], nil},
		fuzzSeed{"corrupt-checksum-flipped", flip(c, 3), nil},
		fuzzSeed{"corrupt-checksum-short", c[:checksumOverhd-1], nil},
		fuzzSeed{"corrupt-scheme-0", flip(c, 0)[:1], nil},
		fuzzSeed{"corrupt-empty", []byte{}, nil},
	)
}

// Opening arbitrary bytes never panics; every failure wraps ErrOpen; the AEAD sealer opens
// only datagrams it sealed itself, to their plaintexts; the checksum sealer opens only what
// its Seal would produce; no datagram opens under both schemes.
func FuzzOpen(f *testing.F) {
	seeds := fuzzOpenSeeds(f)
	authentic := make(map[string][]byte)
	for _, s := range seeds {
		if s.plaintext != nil {
			authentic[string(s.datagram)] = s.plaintext
		}
		f.Add(s.datagram)
	}
	checksum, aead := fuzzSealers(f)
	f.Fuzz(func(t *testing.T, d []byte) {
		in := bytes.Clone(d)
		pa, errA := aead.Open([]byte("dst"), d)
		pc, errC := checksum.Open([]byte("dst"), d)
		if !bytes.Equal(d, in) {
			t.Fatalf("Open modified its input")
		}
		for _, r := range []struct {
			name string
			out  []byte
			err  error
		}{{"aead", pa, errA}, {"checksum", pc, errC}} {
			if !bytes.HasPrefix(r.out, []byte("dst")) {
				t.Fatalf("%s: Open lost dst's contents: %q", r.name, r.out)
			}
			if r.err != nil && !errors.Is(r.err, ErrOpen) {
				t.Fatalf("%s: Open error %q does not wrap ErrOpen", r.name, r.err)
			}
			if r.err != nil && len(r.out) != len("dst") {
				t.Fatalf("%s: Open failed but appended %q", r.name, r.out)
			}
		}
		if errA == nil {
			want, ok := authentic[string(d)]
			if !ok {
				t.Fatalf("AEAD sealer opened a datagram it never sealed: %x", d)
			}
			if got := pa[len("dst"):]; !bytes.Equal(got, want) {
				t.Fatalf("AEAD Open: got %x, want %x", got, want)
			}
		}
		if errC == nil {
			if again := checksum.Seal(nil, pc[len("dst"):]); !bytes.Equal(again, d) {
				t.Fatalf("checksum sealer opened %x, which it would seal as %x", d, again)
			}
		}
		if errA == nil && errC == nil {
			t.Fatalf("datagram %x opened under both schemes", d)
		}
	})
}

// Every seed in the checked-in corpus is what fuzzOpenSeeds generates now, and opens (or
// not) as its name says. Rewrite them with
//
//	go test ./multicast/ -run TestOpenSeedCorpus -write-fuzz-seeds
func TestOpenSeedCorpus(t *testing.T) {
	checksum, aead := fuzzSealers(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	for _, s := range fuzzOpenSeeds(t) {
		_, errA := aead.Open(nil, s.datagram)
		_, errC := checksum.Open(nil, s.datagram)
		switch {
		case strings.HasPrefix(s.name, "aead-") && errA != nil:
			t.Errorf("seed %s: AEAD Open: %v", s.name, errA)
		case strings.HasPrefix(s.name, "checksum-") && errC != nil:
			t.Errorf("seed %s: checksum Open: %v", s.name, errC)
		case strings.HasPrefix(s.name, "corrupt-") && (errA == nil || errC == nil):
			t.Errorf("seed %s opens", s.name)
		}

		fuzzseed.Check(t, dir, s.name, s.datagram)
	}
}

func benchSeal(b *testing.B, s Sealer) {
	plain := sealPattern(1024)
	dst := make([]byte, 0, len(plain)+s.Overhead())
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		dst = s.Seal(dst[:0], plain)
	}
}

func benchOpen(b *testing.B, s Sealer) {
	sealed := s.Seal(nil, sealPattern(1024))
	dst := make([]byte, 0, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	var err error
	for b.Loop() {
		if dst, err = s.Open(dst[:0], sealed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealAEAD1K(b *testing.B)     { benchSeal(b, sealMust(b, GenerateKey())) }
func BenchmarkOpenAEAD1K(b *testing.B)     { benchOpen(b, sealMust(b, GenerateKey())) }
func BenchmarkSealChecksum1K(b *testing.B) { benchSeal(b, sealMust(b, nil)) }
func BenchmarkOpenChecksum1K(b *testing.B) { benchOpen(b, sealMust(b, nil)) }
