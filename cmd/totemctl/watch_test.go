package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
)

// startWatch runs "totemctl watch" against d in this process until ctx ends or it
// stops by itself; the exit status comes on the returned channel.
func startWatch(t *testing.T, ctx context.Context, d *ipctest.Daemon, out, errOut *syncBuffer) <-chan int {
	t.Helper()
	done := make(chan int, 1)
	go func() {
		app := newApp()
		app.Writer, app.ErrWriter = out, errOut
		done <- cliutil.ExitCode(errOut, "totemctl", app.RunContext(ctx, []string{"totemctl", "--socket", d.Socket, "watch", "--interval", "10ms"}))
	}()
	return done
}

// waitSnapshots waits until out holds n snapshots, at most appTimeout.
func waitSnapshots(t *testing.T, out *syncBuffer, n int) {
	t.Helper()
	deadline := time.Now().Add(appTimeout)
	for strings.Count(out.String(), "\nduplicate node id") < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d snapshots within %s:\n%s", n, appTimeout, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Interrupted (Ctrl-C cancels the context), watch stops without an error.
func TestWatchInterrupted(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), appTimeout)
	defer cancel()
	var out, errOut syncBuffer
	done := startWatch(t, ctx, d, &out, &errOut)
	waitSnapshots(t, &out, 2)
	cancel()
	if code := <-done; code != 0 || errOut.String() != "" {
		t.Errorf("interrupted watch: exit %d, stderr %q; want 0 and nothing", code, errOut.String())
	}
}

// When the daemon goes away, watch stops with status 1 and says so.
func TestWatchDaemonGone(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), appTimeout)
	defer cancel()
	var out, errOut syncBuffer
	done := startWatch(t, ctx, d, &out, &errOut)
	waitSnapshots(t, &out, 1)
	if err := d.StopNode(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if stderr := errOut.String(); code != 1 || !strings.HasPrefix(stderr, "totemctl: watch: the daemon went away: ") {
			t.Errorf("watch after the daemon stopped: exit %d, stderr %q; want 1 and the daemon went away", code, stderr)
		}
	case <-ctx.Done():
		t.Fatal("watch did not stop when the daemon went away")
	}
}
