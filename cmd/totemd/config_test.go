package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

func TestParsePeer(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		id   uint32
		addr string
	}{
		{"1@127.0.0.1:5405", true, 1, "127.0.0.1:5405"},
		{"7@[::1]:6000", true, 7, "[::1]:6000"},
		{"0@127.0.0.1:5405", false, 0, ""},
		{"x@127.0.0.1:5405", false, 0, ""},
		{"127.0.0.1:5405", false, 0, ""},
		{"1@nohost", false, 0, ""},
	}
	for _, tt := range tests {
		id, addr, err := parsePeer(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("parsePeer(%q) error %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && (uint32(id) != tt.id || addr != netip.MustParseAddrPort(tt.addr)) {
			t.Errorf("parsePeer(%q) = %d, %v", tt.in, id, addr)
		}
	}
}

// loadArgs runs the app's flag parsing and load, without starting anything.
func loadArgs(t *testing.T, args ...string) (*settings, error) {
	t.Helper()
	app := newApp()
	var got *settings
	var loadErr error
	app.Action = func(c *cli.Context) error { got, loadErr = load(c); return nil }
	app.Writer, app.ErrWriter = &bytes.Buffer{}, &bytes.Buffer{}
	if err := app.Run(append([]string{"totemd"}, args...)); err != nil {
		return nil, err
	}
	return got, loadErr
}

func TestConfigFileUnderFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "totemd.conf")
	conf := strings.Join([]string{
		"# a three-node ring",
		"node-id 2",
		"listen = 127.0.0.1:6002",
		"peer 1@127.0.0.1:6001",
		"peer 2@127.0.0.1:6002",
		"token-timeout 1s",
		"cluster prod",
	}, "\n")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := loadArgs(t, "--config", path, "--cluster", "test")
	if err != nil {
		t.Fatal(err)
	}
	if s.nodeID != 2 || s.listen.Port() != 6002 || len(s.peers) != 2 || s.tokenTimeout != time.Second {
		t.Fatalf("settings %+v: want the file's node id, listen, peers and token timeout", s)
	}
	if s.cluster != "test" {
		t.Fatalf("cluster %q: want the flag to win over the file", s.cluster)
	}
}

func TestConfigRejects(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("no-such-key 1\n"), 0o600)
	tests := []struct {
		name string
		args []string
	}{
		{"node id zero", []string{"--node-id", "0"}},
		{"bad listen", []string{"--listen", "nonsense"}},
		{"bad peer", []string{"--peer", "1@x"}},
		{"tiny token timeout", []string{"--token-timeout", "1ms"}},
		{"unknown config key", []string{"--config", bad}},
		{"missing config", []string{"--config", filepath.Join(dir, "none")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := loadArgs(t, tt.args...); err == nil {
				t.Fatalf("accepted %v", tt.args)
			}
		})
	}
}

func TestDefaultsAreAOneNodeRingOnLoopback(t *testing.T) {
	s, err := loadArgs(t)
	if err != nil {
		t.Fatal(err)
	}
	if s.nodeID != 1 || !s.listen.Addr().IsLoopback() || s.mcast.IsValid() || s.socket == "" {
		t.Fatalf("defaults %+v: want node 1, udpu on loopback, a socket path", s)
	}
}
