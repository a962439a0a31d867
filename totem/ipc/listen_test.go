package ipc_test

import (
	"errors"
	"net"
	"os"
	"testing"

	"github.com/totem-gcs/totem/totem/ipc"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
)

func TestListenMode(t *testing.T) {
	tests := []struct {
		mode, want os.FileMode
	}{
		{0, 0o660},
		{0o600, 0o600},
		{0o666, 0o666},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			path := ipctest.SocketPath(t)
			ln, err := ipc.Listen(path, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tt.want {
				t.Errorf("mode %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListenExisting(t *testing.T) {
	t.Run("stale socket is replaced", func(t *testing.T) {
		path := ipctest.SocketPath(t)
		old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		old.SetUnlinkOnClose(false)
		old.Close() // as a daemon that died: the file stays, nobody listens
		ln, err := ipc.Listen(path, 0)
		if err != nil {
			t.Fatalf("Listen over a stale socket: %v", err)
		}
		ln.Close()
	})
	t.Run("live socket is kept", func(t *testing.T) {
		path := ipctest.SocketPath(t)
		live, err := ipc.Listen(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer live.Close()
		go func() { // answer the probe
			if c, err := live.Accept(); err == nil {
				c.Close()
			}
		}()
		if _, err := ipc.Listen(path, 0); !errors.Is(err, ipc.ErrSocketInUse) {
			t.Fatalf("Listen over a live socket: %v, want ErrSocketInUse", err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("live socket file: %v", err)
		}
	})
	t.Run("regular file is kept", func(t *testing.T) {
		path := ipctest.SocketPath(t)
		if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ipc.Listen(path, 0); err == nil {
			t.Fatal("Listen over a regular file succeeded")
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "data" {
			t.Errorf("file after Listen: %q, %v", b, err)
		}
	})
}
