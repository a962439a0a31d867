package client_test

import (
	"context"
	"testing"

	"github.com/totem-gcs/totem/totem/client"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
)

// BenchmarkMulticast: one sender of 1 KiB agreed messages to a one-node daemon, waiting
// for every answer (sync) against keeping up to 256 in flight (async). The receiving
// side drains the events meanwhile.
//
//	go test -run '^$' -bench Multicast -benchtime 20000x ./totem/client
func BenchmarkMulticast(b *testing.B) {
	d := ipctest.StartOperational(b, ipctest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	data := make([]byte, 1024)
	for _, mode := range []string{"sync", "async"} {
		b.Run(mode, func(b *testing.B) {
			c := newTestClient(b, d, mode, client.WithEventBuffer(65536))
			if err := c.Join(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
			drained := make(chan struct{})
			go func() {
				defer close(drained)
				for range c.Events() {
				}
			}()
			window := make(chan *client.Pending, 256)
			waited := make(chan error, 1)
			go func() {
				var first error
				for p := range window {
					if err := p.Wait(ctx); err != nil && first == nil {
						first = err
					}
				}
				waited <- first
			}()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if mode == "sync" {
					if err := c.Multicast(ctx, "bench", data, client.Agreed); err != nil {
						b.Fatal(err)
					}
					continue
				}
				p, err := c.MulticastAsync(ctx, "bench", data, client.Agreed)
				if err != nil {
					b.Fatal(err)
				}
				window <- p
			}
			close(window)
			if err := <-waited; err != nil {
				b.Fatal(err)
			}
			c.Close()
			<-drained
		})
	}
}
