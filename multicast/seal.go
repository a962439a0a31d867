package multicast

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// A sealed datagram starts with one scheme byte:
//
//	checksum (no key):  [0x01][plaintext][crc32c of scheme byte and plaintext, 4 bytes]
//	AEAD (pre-shared):  [0x02][key id, 4 bytes][nonce, 24 bytes][ciphertext][tag, 16 bytes]
//
// The AEAD is XChaCha20-Poly1305 under a key derived with HKDF-SHA256 from the 32-byte
// pre-shared key. The scheme byte and key id are authenticated as associated data.
//
// Nonces: [epoch, 8 bytes][random, 8 bytes][counter, 8 bytes]. The epoch is the time
// the Sealer was made (Unix nanoseconds, strictly increasing within a process), the
// random part is drawn then too, and the counter grows with every datagram. Within one
// Sealer the counter never repeats; two Sealers (other nodes, restarts) differ in epoch
// or, made in the same nanosecond, in 64 random bits. A 192-bit nonce leaves room for
// all three, where a 96-bit GCM nonce would not. A Sealer refuses to seal after 2^64-1
// datagrams rather than wrap. Since the nonce is authenticated, receivers use the epoch
// and counter against replays (replay.go).
const (
	schemeChecksum byte = 0x01
	schemeAEAD     byte = 0x02

	// KeySize is the length of a pre-shared key file.
	KeySize = 32

	keyIDLen       = 4
	checksumLen    = 4
	aeadHeaderLen  = 1 + keyIDLen + chacha20poly1305.NonceSizeX
	aeadOverhead   = aeadHeaderLen + chacha20poly1305.Overhead
	checksumOverhd = 1 + checksumLen
)

// Errors from Open. All wrap ErrOpen, so callers count them with one errors.Is.
var (
	ErrOpen      = errors.New("multicast: cannot open datagram")
	ErrWrongKey  = fmt.Errorf("%w: sealed with another key", ErrOpen)
	ErrForged    = fmt.Errorf("%w: authentication failed", ErrOpen)
	ErrChecksum  = fmt.Errorf("%w: checksum mismatch", ErrOpen)
	ErrScheme    = fmt.Errorf("%w: unexpected sealing scheme", ErrOpen)
	ErrShortSeal = fmt.Errorf("%w: shorter than the sealing overhead", ErrOpen)
)

// Sealer protects datagrams on the wire. Seal and Open are safe for concurrent use.
type Sealer interface {
	// Seal appends the sealed form of plaintext to dst and returns the result.
	Seal(dst, plaintext []byte) []byte
	// Open checks a sealed datagram and appends its plaintext to dst. It never panics on
	// any input; every failure wraps ErrOpen.
	Open(dst, datagram []byte) ([]byte, error)
	// Overhead is the number of bytes Seal adds to every datagram.
	Overhead() int
}

// NewSealer returns an AEAD sealer for a 32-byte pre-shared key, or a checksum-only sealer
// when key is nil. A node with a key refuses checksum-only datagrams and vice versa.
func NewSealer(key []byte) (Sealer, error) {
	if key == nil {
		return checksumSealer{}, nil
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("multicast: key is %d bytes, want %d", len(key), KeySize)
	}
	aeadKey, err := hkdf.Key(sha256.New, key, nil, "totem datagram aead v1", chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("multicast: derive key: %w", err)
	}
	id, err := hkdf.Key(sha256.New, key, nil, "totem key id v1", keyIDLen)
	if err != nil {
		return nil, fmt.Errorf("multicast: derive key id: %w", err)
	}
	aead, err := chacha20poly1305.NewX(aeadKey)
	if err != nil {
		return nil, fmt.Errorf("multicast: %w", err)
	}
	s := &aeadSealer{aead: aead}
	copy(s.keyID[:], id)
	binary.BigEndian.PutUint64(s.prefix[:8], nextEpoch())
	if _, err := rand.Read(s.prefix[8:]); err != nil {
		return nil, fmt.Errorf("multicast: nonce prefix: %w", err)
	}
	return s, nil
}

// lastEpoch keeps epochs strictly increasing within a process, whatever the clock does.
var lastEpoch atomic.Uint64

func nextEpoch() uint64 {
	now := uint64(time.Now().UnixNano())
	for {
		last := lastEpoch.Load()
		e := max(now, last+1)
		if lastEpoch.CompareAndSwap(last, e) {
			return e
		}
	}
}

// sealerEpoch returns the epoch of a Sealer with a key.
func sealerEpoch(s Sealer) (uint64, bool) {
	a, ok := s.(*aeadSealer)
	if !ok {
		return 0, false
	}
	return binary.BigEndian.Uint64(a.prefix[:8]), true
}

// sealedSequence returns the epoch and counter of a datagram sealed with a key, and
// false for any other. Only meaningful once Open has accepted the datagram.
func sealedSequence(datagram []byte) (epoch, counter uint64, ok bool) {
	if len(datagram) < aeadOverhead || datagram[0] != schemeAEAD {
		return 0, 0, false
	}
	nonce := datagram[1+keyIDLen:]
	return binary.BigEndian.Uint64(nonce), binary.BigEndian.Uint64(nonce[16:]), true
}

// ErrKeyFileMode: the key file is open to group or others.
var ErrKeyFileMode = errors.New("multicast: key file not private")

// GenerateKey returns a new random pre-shared key.
func GenerateKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k) // never fails on supported platforms (crypto/rand contract since Go 1.24)
	return k
}

// LoadKeyFile reads a pre-shared key file: exactly KeySize bytes, readable and writable
// by its owner only (on Unix). A key that others on the host can read authenticates
// nothing, so such a file is refused (ErrKeyFileMode) rather than used.
func LoadKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("multicast: key file: %w", err)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && fi.Mode().IsRegular() && perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, so group or others can read or change the key; fix it with: chmod 600 %s",
			ErrKeyFileMode, path, perm, path)
	}
	if fi.Size() != KeySize {
		return nil, fmt.Errorf("multicast: key file %s is %d bytes, want %d", path, fi.Size(), KeySize)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("multicast: key file: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("multicast: key file %s changed while read", path)
	}
	return key, nil
}

type checksumSealer struct{}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (checksumSealer) Overhead() int { return checksumOverhd }

func (checksumSealer) Seal(dst, plaintext []byte) []byte {
	start := len(dst)
	dst = append(dst, schemeChecksum)
	dst = append(dst, plaintext...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func (checksumSealer) Open(dst, datagram []byte) ([]byte, error) {
	if len(datagram) < checksumOverhd {
		return dst, ErrShortSeal
	}
	if datagram[0] != schemeChecksum {
		return dst, fmt.Errorf("%w: %#02x, want checksum", ErrScheme, datagram[0])
	}
	body, sum := datagram[:len(datagram)-checksumLen], datagram[len(datagram)-checksumLen:]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(sum) {
		return dst, ErrChecksum
	}
	return append(dst, body[1:]...), nil
}

type aeadSealer struct {
	aead    cipher.AEAD
	keyID   [keyIDLen]byte
	prefix  [16]byte
	counter atomic.Uint64
}

func (s *aeadSealer) Overhead() int { return aeadOverhead }

func (s *aeadSealer) Seal(dst, plaintext []byte) []byte {
	n := s.counter.Add(1)
	if n == 0 {
		panic("multicast: nonce counter exhausted") // 2^64 datagrams: unreachable in practice
	}
	start := len(dst)
	dst = append(dst, schemeAEAD)
	dst = append(dst, s.keyID[:]...)
	dst = append(dst, s.prefix[:]...)
	dst = binary.BigEndian.AppendUint64(dst, n)
	hdr := dst[start:]
	nonce := hdr[1+keyIDLen:]
	return s.aead.Seal(dst, nonce, plaintext, hdr[:1+keyIDLen])
}

func (s *aeadSealer) Open(dst, datagram []byte) ([]byte, error) {
	if len(datagram) < aeadOverhead {
		return dst, ErrShortSeal
	}
	if datagram[0] != schemeAEAD {
		return dst, fmt.Errorf("%w: %#02x, want aead", ErrScheme, datagram[0])
	}
	if [keyIDLen]byte(datagram[1:1+keyIDLen]) != s.keyID {
		return dst, ErrWrongKey
	}
	nonce := datagram[1+keyIDLen : aeadHeaderLen]
	out, err := s.aead.Open(dst, nonce, datagram[aeadHeaderLen:], datagram[:1+keyIDLen])
	if err != nil {
		return dst, ErrForged
	}
	return out, nil
}
