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

	"github.com/totem-gcs/totem/multicast"
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
	path := filepath.Join(t.TempDir(), "totem.toml")
	conf := strings.Join([]string{
		"# a two-node ring",
		"node-id = 2",
		`token-timeout = "1s"`,
		`cluster = "prod"`,
		"[[node]]",
		"id = 1",
		`address = "127.0.0.1:6001"`,
		"[[node]]",
		"id = 2",
		`address = "127.0.0.1:6002"`,
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
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("no-such-key = 1\n"), 0o600)
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

// A configuration that cannot work is refused with what is wrong and how to fix it.
func TestConfigRefusesWhatCannotWork(t *testing.T) {
	self := []string{"--node-id", "2", "--listen", "127.0.0.1:6002"}
	tests := []struct {
		name string
		args []string
		says []string
	}{
		{"self missing from the peers", []string{"--peer", "1@127.0.0.1:6001", "--peer", "3@127.0.0.1:6003"},
			[]string{"this node (2) is not in the list", "add --peer 2@127.0.0.1:6002"}},
		{"self at another address", []string{"--peer", "1@127.0.0.1:6001", "--peer", "2@127.0.0.1:7002"},
			[]string{"127.0.0.1:7002", "--listen is 127.0.0.1:6002"}},
		{"a node listed twice", []string{"--peer", "2@127.0.0.1:6002", "--peer", "1@127.0.0.1:6001", "--peer", "1@127.0.0.1:6011"},
			[]string{"node 1 is listed twice"}},
		{"an address listed twice", []string{"--peer", "2@127.0.0.1:6002", "--peer", "1@127.0.0.1:6001", "--peer", "3@127.0.0.1:6001"},
			[]string{"127.0.0.1:6001 is listed for node 1 and node 3"}},
		{"multicast and peers", []string{"--mcast", "239.192.1.1:6000", "--peer", "2@127.0.0.1:6002"},
			[]string{"--peer and --mcast exclude each other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadArgs(t, append(self, tt.args...)...)
			if err == nil {
				t.Fatalf("accepted %v", tt.args)
			}
			for _, part := range tt.says {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not say %q", err, part)
				}
			}
		})
	}
	if _, err := loadArgs(t, append(self, "--peer", "1@127.0.0.1:6001", "--peer", "2@127.0.0.1:6002")...); err != nil {
		t.Errorf("a full peer list was refused: %v", err)
	}
}

// Beyond loopback a ring without a key is refused, unless asked for by name.
func TestNoKeyBeyondLoopbackIsRefused(t *testing.T) {
	lan := []string{"--listen", "10.9.9.1:5405"}
	_, err := loadArgs(t, lan...)
	if err == nil || !strings.Contains(err.Error(), "no --key-file") || !strings.Contains(err.Error(), "totemd keygen") {
		t.Fatalf("no key on a LAN address: %v; want a refusal that says how to make a key", err)
	}
	if _, err := loadArgs(t, append(lan, "--unauthenticated")...); err != nil {
		t.Errorf("--unauthenticated: %v", err)
	}
	if _, err := loadArgs(t, append(lan, "--key-file", "/etc/totem/authkey")...); err != nil {
		t.Errorf("with a key file: %v", err)
	}
	for _, addr := range []string{"127.0.0.1:5405", "[::1]:5405"} {
		if _, err := loadArgs(t, "--listen", addr); err != nil {
			t.Errorf("no key on loopback %s: %v", addr, err)
		}
	}
	if _, err := loadArgs(t, "--listen", "0.0.0.0:5405"); err == nil {
		t.Errorf("no key on the unspecified address (every interface) was accepted")
	}
}

func TestKeygenCreatesPrivateParents(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "etc", "totem", "authkey")
	app := newApp()
	app.Writer = &strings.Builder{}
	if err := app.Run([]string{"totemd", "keygen", path}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir, filepath.Join(dir, "etc"): 0o700 | os.ModeDir} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
	if _, err := multicast.LoadKeyFile(path); err != nil {
		t.Errorf("the key keygen wrote does not load: %v", err)
	}
	if err := app.Run([]string{"totemd", "keygen", path}); err == nil {
		t.Errorf("keygen overwrote an existing key")
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
