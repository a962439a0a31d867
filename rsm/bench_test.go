package rsm_test

import (
	"context"
	"testing"

	"github.com/totem-gcs/totem/rsm"
	"github.com/totem-gcs/totem/totem/client"
)

// BenchmarkPropose measures one client's sequential commands on a three-node loopback
// ring, against the ring's own round trip: a safe multicast awaited until its sender
// delivers it (raw-safe), which every command pays at least once. local proposes at a
// replica in the client's process; remote goes through a replica's gateway (one more
// multicast for the request, one for the reply).
//
//	go test -run '^$' -bench Propose -benchtime 2000x ./rsm
func BenchmarkPropose(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := newCluster(b, 3)
	reps := c.startReplicas(nil)
	waitReady(b, ctx, reps...)
	for _, tr := range reps {
		c.serve(tr)
	}

	b.Run("raw-safe", func(b *testing.B) {
		s, err := c.node(1).Open(ctx, 1, "bench")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if err := s.Join(ctx, "bench-raw"); err != nil {
			b.Fatal(err)
		}
		awaitOwn := func() {
			for {
				ev, err := s.Receive(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := ev.(client.Message); ok {
					return
				}
			}
		}
		payload := add("n", 1)
		for b.Loop() {
			if err := s.Multicast(ctx, "bench-raw", payload, client.Safe); err != nil {
				b.Fatal(err)
			}
			awaitOwn()
		}
	})
	b.Run("local", func(b *testing.B) {
		for b.Loop() {
			if _, err := reps[0].r.Propose(ctx, add("n", 1)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remote", func(b *testing.B) {
		r := c.remote(1, rsm.RemoteConfig{})
		for b.Loop() {
			if _, err := r.Propose(ctx, add("n", 1)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
