package wire_test

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/totem-gcs/totem/internal/fuzzseed"
	"github.com/totem-gcs/totem/multicast/wire"
)

// seed is a named fuzz input; names starting "valid-" decode, the others do not.
type seed struct {
	name string
	b    []byte
}

// corruptSeeds are invalid datagrams for the seed corpus, each close to a valid one.
func corruptSeeds(t testing.TB) []seed {
	token := encode(t, &wire.Token{Ring: wire.RingID{Rep: 1, Seq: 2}, Seq: 5, RTR: maxRTR()[:3]})
	mcast := encode(t, &wire.Mcast{Ring: wire.RingID{Rep: 1, Seq: 2}, Seq: 5, Origin: 1, Payload: []byte("payload")})
	merge := encode(t, &wire.MergeDetect{Ring: wire.RingID{Rep: 1, Seq: 2}})
	set := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	more := func(b []byte, field ...byte) []byte {
		b = set(b, wire.HeaderLen, b[wire.HeaderLen]+1)
		return append(b, field...)
	}
	return []seed{
		{"corrupt-token-truncated", token[:len(token)/2]},
		{"corrupt-token-trailing-byte", append(bytes.Clone(token), 0)},
		{"corrupt-mcast-bad-magic", set(mcast, 0, 0)},
		{"corrupt-mcast-version-2", set(mcast, 2, 2)},
		{"corrupt-mcast-kind-7", set(mcast, 3, 7)},
		{"corrupt-mcast-other-cluster", set(mcast, 4, mcast[4]^0x80)},
		{"corrupt-mcast-payload-4gib", append(bytes.Clone(mcast[:len(mcast)-len("\xc4\x07payload\xc0")]), 0xc6, 0xff, 0xff, 0xff, 0xff, 'x', 0xc0)},
		{"corrupt-merge-extra-bin-4gib", more(merge, 0xc6, 0xff, 0xff, 0xff, 0xff, 'x')},
		{"corrupt-merge-extra-deep-nesting", more(merge, bytes.Repeat([]byte{0x91}, 2000)...)},
		{"corrupt-merge-extra-map32", more(merge, 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"valid-merge-extra-fields", more(more(merge, 0xa3, 'n', 'e', 'w'), 0x92, 0x80, 0xd6, 0, 1, 2, 3, 4)},
	}
}

// seeds returns every seed: a valid encoding of each sample packet, then corrupt ones.
func seeds(t testing.TB) []seed {
	var all []seed
	for _, s := range samples() {
		all = append(all, seed{"valid-" + s.name, encode(t, s.p)})
	}
	return append(all, corruptSeeds(t)...)
}

// Any input either fails to decode or decodes to a packet whose canonical encoding decodes
// to the same packet and header. Decode never panics.
func FuzzDecode(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		h, p, err := wire.Decode(b, testCluster)
		if !bytes.Equal(b, in) {
			t.Fatalf("Decode modified its input")
		}
		if err != nil {
			if p != nil || h != (wire.Header{}) {
				t.Fatalf("Decode returned %+v, %v with error %v", h, p, err)
			}
			return
		}
		if p.Kind() != h.Kind {
			t.Fatalf("packet kind %v, header kind %v", p.Kind(), h.Kind)
		}
		re, err := wire.Append(nil, h.Cluster, h.Sender, p)
		if err != nil {
			t.Fatalf("Append(decoded %+v): %v", p, err)
		}
		// Re-encoding drops unknown fields and uses the shortest forms: never longer.
		if len(re) > len(b) {
			t.Fatalf("re-encoding grew from %d to %d bytes", len(b), len(re))
		}
		h2, p2, err := wire.Decode(re, testCluster)
		if err != nil {
			t.Fatalf("Decode(re-encoded %x): %v", re, err)
		}
		if h2 != h {
			t.Fatalf("header: got %+v after re-encoding, want %+v", h2, h)
		}
		if !reflect.DeepEqual(p2, p) {
			t.Fatalf("packet after re-encoding:\ngot  %+v\nwant %+v", p2, p)
		}
		if re2, err := wire.Append(nil, h.Cluster, h.Sender, p2); err != nil || !bytes.Equal(re2, re) {
			t.Fatalf("canonical encoding is not a fixed point:\n%x\n%x (%v)", re, re2, err)
		}
	})
}

// Every seed in the checked-in corpus is what seeds() generates now. Rewrite them with
//
//	go test ./multicast/wire/ -run TestFuzzDecodeSeedCorpus -write-fuzz-seeds
func TestFuzzDecodeSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	for _, s := range seeds(t) {
		_, _, err := wire.Decode(s.b, testCluster)
		if valid := strings.HasPrefix(s.name, "valid-"); valid != (err == nil) {
			t.Errorf("seed %s: Decode error %v, want success %v", s.name, err, valid)
		}
		fuzzseed.Check(t, dir, s.name, s.b)
	}
}
