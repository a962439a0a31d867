package ipc_test

import (
	"net"
	"os"
	"testing"

	"github.com/totem-gcs/totem/totem/ipc"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
	"github.com/totem-gcs/totem/totem/proto"
)

func TestAllows(t *testing.T) {
	tests := []struct {
		name       string
		uids, gids []uint32
		cred       ipc.Cred
		want       bool
	}{
		{"no restriction", nil, nil, ipc.Cred{UID: 1000, GID: 1000}, true},
		{"root always", []uint32{1000}, []uint32{50}, ipc.Cred{UID: 0, GID: 0}, true},
		{"uid allowed", []uint32{1000, 1001}, nil, ipc.Cred{UID: 1001, GID: 7}, true},
		{"uid not allowed", []uint32{1000}, nil, ipc.Cred{UID: 1002, GID: 1000}, false},
		{"gid allowed", nil, []uint32{50}, ipc.Cred{UID: 1002, GID: 50}, true},
		{"gid not allowed", nil, []uint32{50}, ipc.Cred{UID: 1002, GID: 51}, false},
		{"either list", []uint32{1000}, []uint32{50}, ipc.Cred{UID: 9, GID: 50}, true},
		{"neither list", []uint32{1000}, []uint32{50}, ipc.Cred{UID: 9, GID: 9}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ipc.ServerOptions{AllowUIDs: tt.uids, AllowGIDs: tt.gids}
			if got := o.Allows(tt.cred); got != tt.want {
				t.Errorf("Allows(%+v) = %v, want %v", tt.cred, got, tt.want)
			}
		})
	}
}

// TestPeerCred: SO_PEERCRED names this very process, from either end.
func TestPeerCred(t *testing.T) {
	ln, err := ipc.Listen(ipctest.SocketPath(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.UnixConn, 1)
	go func() {
		c, _ := ln.AcceptUnix()
		accepted <- c
	}()
	dialed, err := net.DialUnix("unix", nil, ln.Addr().(*net.UnixAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	defer server.Close()
	want := ipc.Cred{PID: uint32(os.Getpid()), UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	for _, c := range []*net.UnixConn{server, dialed} {
		got, err := ipc.PeerCred(c)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PeerCred = %+v, want %+v", got, want)
		}
	}
}

// TestServeCredentials: a server restricted to another uid refuses us, unless we are
// root, who is always allowed.
func TestServeCredentials(t *testing.T) {
	uid := uint32(os.Getuid())
	d := ipctest.StartOperational(t, ipctest.Options{Server: ipc.ServerOptions{AllowUIDs: []uint32{uid + 1}, AllowGIDs: []uint32{uint32(os.Getgid()) + 1}}})
	r := dialRaw(t, d.Socket)
	r.send(&proto.Request{Type: proto.TypeHello, ID: 1, Version: proto.Version})
	f := r.next()
	if uid == 0 {
		if f.Type != proto.TypeWelcome {
			t.Errorf("root got %+v, want welcome", f)
		}
		return
	}
	if f.Code != proto.CodePermissionDenied || !f.Fatal {
		t.Errorf("got %+v, want fatal permission_denied", f)
	}
	r.expectEOF()
}
