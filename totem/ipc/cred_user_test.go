//go:build linux

package ipc_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/totem-gcs/totem/totem/ipc"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
	"github.com/totem-gcs/totem/totem/proto"
)

// The uid and gid of the second, unprivileged user: nobody and nogroup on Linux.
const otherUID, otherGID = 65534, 65534

// TestAccessControlAgainstAnotherUser runs a client as a second, unprivileged user
// (root only: it needs to switch users) against servers that allow it by uid, by gid,
// or not at all. The socket itself is open to everyone here, so the answer is the
// server's own check, not the file system's.
func TestAccessControlAgainstAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user (CI runs as root)")
	}
	tests := []struct {
		name  string
		allow ipc.ServerOptions
		want  string
	}{
		{"its uid allowed", ipc.ServerOptions{AllowUIDs: []uint32{otherUID}}, "welcome "},
		{"its gid allowed", ipc.ServerOptions{AllowGIDs: []uint32{otherGID}}, "welcome "},
		{"another uid and gid allowed", ipc.ServerOptions{AllowUIDs: []uint32{4321}, AllowGIDs: []uint32{4321}},
			"error " + proto.CodePermissionDenied},
		{"no rule: anyone who can open the socket", ipc.ServerOptions{}, "welcome "},
	}
	bin := executableByAll(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ipctest.StartOperational(t, ipctest.Options{Server: tt.allow})
			openToAll(t, d.Socket)
			cmd := exec.Command(bin, "-test.run=^$")
			cmd.Env = append(os.Environ(), credChildEnv+"="+d.Socket)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherGID}}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("client as uid %d: %v: %s", otherUID, err, out)
			}
			if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got+" ", tt.want) {
				t.Errorf("client as uid %d got %q, want %q", otherUID, got, tt.want)
			}
		})
	}
}

// executableByAll copies the test binary where every user may run it (go test builds
// it in a directory only its owner can enter).
func executableByAll(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "client")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	openToAll(t, bin)
	return bin
}

// openToAll lets every user reach path (a socket or a program): its directories
// searchable, itself readable, writable and executable.
func openToAll(t *testing.T, path string) {
	t.Helper()
	for dir := filepath.Dir(path); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(dir, fi.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
}
