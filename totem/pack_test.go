package totem_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/client"
)

// payloadFor makes message i of size n, with its index in front so that order and
// content can both be checked.
func payloadFor(i, n int) []byte {
	b := make([]byte, n)
	for k := range b {
		b[k] = byte(i*7 + k)
	}
	if n >= 4 {
		binary.BigEndian.PutUint32(b, uint32(i))
	}
	return b
}

// TestPackingAndFragmentation sends, through a two-node ring over UDP, many tiny messages,
// messages of every size around one datagram's payload, and a 1 MiB message, and checks
// that both nodes receive every one intact and in order.
func TestPackingAndFragmentation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	nodes := startCluster(t, 2, nil)
	waitRing(t, ctx, nodes)

	var sizes []int
	for range 2000 {
		sizes = append(sizes, 1+len(sizes)%9) // tiny: packed many to a datagram
	}
	for n := 1300; n <= 1500; n++ { // around one datagram's payload
		sizes = append(sizes, n)
	}
	for n := 2*1400 - 40; n <= 2*1400+40; n++ { // around two
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 0, 1<<20, 5, 64<<10, 3)

	recv, err := nodes[1].n.Open(ctx, 2, "receiver")
	if err != nil {
		t.Fatal(err)
	}
	send, err := nodes[0].n.Open(ctx, 1, "sender")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*totem.Session{recv, send} {
		if err := s.Join(ctx, "frag"); err != nil {
			t.Fatal(err)
		}
	}
	nextView(t, ctx, recv, "frag", 2)
	nextView(t, ctx, send, "frag", 2)
	go func() {
		for i, n := range sizes {
			if err := send.Multicast(ctx, "frag", payloadFor(i, n), level(i%3 == 0)); err != nil {
				return
			}
		}
	}()
	for _, s := range []*totem.Session{recv, send} {
		for i := 0; i < len(sizes); {
			ev, err := s.Receive(ctx)
			if err != nil {
				t.Fatalf("session %d received %d of %d messages: %v", s.Handle(), i, len(sizes), err)
			}
			m, ok := ev.(client.Message)
			if !ok {
				continue
			}
			if want := payloadFor(i, sizes[i]); !bytes.Equal(m.Data, want) {
				t.Fatalf("message %d: got %d bytes (sha %x), want %d bytes (sha %x)",
					i, len(m.Data), sha256.Sum256(m.Data), len(want), sha256.Sum256(want))
			}
			i++
		}
	}
	t.Log(fmt.Sprintf("%d messages, 0 B to 1 MiB, intact and in order on both nodes", len(sizes)))
}
