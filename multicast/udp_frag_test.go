package multicast

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

// largeNodes opens n multicast-mode nodes that carry datagrams of up to 60000 bytes in
// 1500-byte frames.
func largeNodes(t *testing.T, n int, cluster uint32, sealer Sealer) []*UDP {
	t.Helper()
	requireLoopbackMulticast(t)
	group := testGroup(t)
	nodes := make([]*UDP, n)
	for i := range nodes {
		nodes[i] = newTestUDP(t, UDPConfig{
			NodeID: wire.NodeID(i + 1), Cluster: cluster, Listen: netip.AddrPortFrom(loopback4, 0),
			Mcast: group, Interface: "lo", TTL: 1, Sealer: sealer, MTU: 1500, Datagram: 60000,
		})
	}
	return nodes
}

func TestUDPLargeDatagramsTravelAsFrames(t *testing.T) {
	cluster := testCluster(t)
	sealer, err := NewSealer(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	nodes := largeNodes(t, 2, cluster, sealer)
	if nodes[0].MaxPayload() != 60000 {
		t.Fatalf("MaxPayload %d, want the configured 60000", nodes[0].MaxPayload())
	}
	var bodies []string
	var batch [][]byte
	for i, size := range []int{10, 1400, 1500, 5000, 59000} {
		b := fmt.Sprintf("%d:%s", i, strings.Repeat(string(rune('a'+i)), size))
		bodies = append(bodies, b)
		batch = append(batch, datagram(cluster, 1, wire.KindMcast, b))
	}
	if err := nodes[0].MulticastBatch(batch); err != nil {
		t.Fatal(err)
	}
	got := receive(t, nodes[1], len(bodies))
	if !slices.Equal(got, bodies) {
		t.Fatalf("received %d datagrams of sizes %v, want %v", len(got), lens(got), lens(bodies))
	}
	// A large unicast, once node 1 has learned node 2's address.
	if err := nodes[1].Multicast(datagram(cluster, 2, wire.KindMcast, "hello")); err != nil {
		t.Fatal(err)
	}
	receive(t, nodes[0], 1)
	big := "u:" + strings.Repeat("z", 30000)
	if err := nodes[0].Unicast(2, datagram(cluster, 1, wire.KindToken, big)); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, nodes[1], 1); got[0] != big {
		t.Fatalf("large unicast came back as %d bytes", len(got[0]))
	}
	if st := nodes[0].Stats(); st.DropSelf == 0 {
		t.Errorf("sender dropped no frames of its own echo: %+v", st)
	}
	if gsoAvailable && nodes[0].noGSO.Load() {
		t.Error("the kernel refused UDP segmentation offload: frames went out one send each")
	}
	if st := nodes[1].Stats(); st.DropFragment != 0 {
		t.Errorf("receiver gave up fragments: %+v", st)
	}
	tooBig := datagram(cluster, 1, wire.KindMcast, strings.Repeat("x", 60000))
	if err := nodes[0].Multicast(tooBig); err == nil {
		t.Error("a datagram above Datagram was sent")
	}
}

func lens(ss []string) []int {
	var out []int
	for _, s := range ss {
		out = append(out, len(s))
	}
	return out
}

// frames cuts b as a sender would, returning each frame's plaintext.
func frames(b []byte, frame int, sender wire.NodeID, cluster, id uint32) [][]byte {
	arena, ends := fragment(nil, nil, b, frame, sender, cluster, id)
	var out [][]byte
	start := 0
	for _, end := range ends {
		out = append(out, bytes.Clone(arena[start:end]))
		start = end
	}
	return out
}

func TestReassemblerPutsFramesTogetherInAnyOrder(t *testing.T) {
	ra := newReassembler(9, 77, 10000)
	b := bytes.Repeat([]byte("0123456789"), 500)
	fs := frames(b, 1000, 2, 77, 1)
	if len(fs) != 6 {
		t.Fatalf("%d frames of 5000 bytes in 1000-byte frames, want 6", len(fs))
	}
	for _, f := range fs {
		if len(f) > 1000 || !isFrame(f) {
			t.Fatalf("frame of %d bytes, magic %v", len(f), isFrame(f))
		}
	}
	order := []int{5, 0, 3, 1, 4, 2}
	for k, i := range order {
		whole, res := ra.add(fs[i])
		if k < len(order)-1 {
			if res != fragPending || whole != nil {
				t.Fatalf("frame %d: %v before the last frame", i, res)
			}
			continue
		}
		if res != fragComplete || !bytes.Equal(whole, b) {
			t.Fatalf("last frame: %v, %d bytes, want the datagram back", res, len(whole))
		}
	}
	if len(ra.senders) != 0 {
		t.Fatalf("a complete datagram left state behind: %v", ra.senders)
	}
}

func TestReassemblerKeepsAFewIncompleteDatagramsPerSender(t *testing.T) {
	ra := newReassembler(9, 77, 10000)
	b := bytes.Repeat([]byte{1}, 3000)
	var gaveUp int
	for id := range uint32(fragKeep + 3) {
		if _, res := ra.add(frames(b, 1000, 2, 77, id)[0]); res == fragBad {
			gaveUp++
		}
	}
	if gaveUp != 3 || len(ra.senders[2]) != fragKeep {
		t.Fatalf("gave up %d, kept %d incomplete datagrams, want 3 given up and %d kept", gaveUp, len(ra.senders[2]), fragKeep)
	}
	// The newest are kept and still complete.
	fs := frames(b, 1000, 2, 77, fragKeep+2)
	ra.add(fs[1])
	ra.add(fs[2])
	if whole, res := ra.add(fs[3]); res != fragComplete || !bytes.Equal(whole, b) {
		t.Fatalf("newest datagram: %v", res)
	}
}

func TestReassemblerRefusesBadFrames(t *testing.T) {
	b := bytes.Repeat([]byte{1}, 3000)
	good := frames(b, 1000, 2, 77, 1)
	mutate := func(f func(p []byte) []byte) []byte { return f(bytes.Clone(good[0])) }
	cases := map[string][]byte{
		"short":          good[0][:fragHeaderLen],
		"other version":  mutate(func(p []byte) []byte { p[2] = 9; return p }),
		"index >= count": mutate(func(p []byte) []byte { p[3] = 5; return p }),
		"one frame only": mutate(func(p []byte) []byte { p[4] = 1; p[3] = 0; return p }),
		"sender 0":       mutate(func(p []byte) []byte { clear(p[5:9]); return p }),
		"other cluster":  mutate(func(p []byte) []byte { p[12]++; return p }),
	}
	for name, f := range cases {
		ra := newReassembler(9, 77, 10000)
		if _, res := ra.add(f); res != fragBad {
			t.Errorf("%s: %v, want refused", name, res)
		}
	}
	ra := newReassembler(9, 77, 2500)
	ra.add(good[0])
	ra.add(good[1])
	if _, res := ra.add(good[2]); res != fragBad {
		t.Errorf("a datagram above the limit: %v, want refused", res)
	}
	ra = newReassembler(9, 77, 10000)
	ra.add(good[0])
	if _, res := ra.add(good[0]); res != fragBad {
		t.Errorf("a duplicate frame: %v, want refused", res)
	}
	if _, res := newReassembler(2, 77, 10000).add(good[0]); res != fragSelf {
		t.Errorf("our own frame: %v, want fragSelf", res)
	}
	ra = newReassembler(9, 77, 10000)
	for s := range wire.NodeID(fragSenders + 10) {
		ra.add(frames(b, 1000, s+1, 77, 1)[0])
	}
	if len(ra.senders) > fragSenders {
		t.Errorf("%d senders with incomplete datagrams, want at most %d", len(ra.senders), fragSenders)
	}
}

func FuzzReassembler(f *testing.F) {
	for _, fr := range frames(bytes.Repeat([]byte{3}, 2500), 1000, 2, 77, 1) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ra := newReassembler(9, 77, 5000)
		for range 3 {
			if whole, _ := ra.add(bytes.Clone(b)); len(whole) > 5000 {
				t.Fatalf("datagram of %d bytes above the limit", len(whole))
			}
		}
	})
}
