package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzConfigFile runs what `totemd --config FILE` runs before it opens anything (the
// TOML parse, the merge under the flags' defaults, every value's validation, the log
// level), on arbitrary file contents. Whatever the file holds:
//
//   - nothing panics;
//   - a refusal names the file, and a line when it names one that the file has;
//   - a file without a node list takes a value exactly when the flag of that name does,
//     and to the same settings: the file is the flags written down, not a looser
//     dialect of them.
//
// Host names resolve to nothing but localhost here, so that no input waits on DNS.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{
		"",
		"# nothing but a comment\n\n   \n",
		"node-id = 2\ntoken-timeout = \"1s\"\ncluster = \"prod\"\n[[node]]\nid = 1\naddress = \"127.0.0.1:6001\"\n[[node]]\nid = 2\naddress = \"localhost:6002\"\n",
		"node-id = 1\r\nmcast = \"239.192.1.1:6000\" # multicast ring\r\nlisten = \"127.0.0.1:5405\"\r\nmulticast-loop = true\r\ntransport = \"multicast\"\r\n",
		"listen = \"10.9.9.1:5405\"\nkey-file = \"/etc/totem/authkey\"\nmtu = 9000\ndatagram-size = 0\ngso = false\n",
		"listen = \"[::1]:5405\"\nunauthenticated = true\nlog-level = \"debug\"\nlog-format = \"json\"\nmax-message-size = 0x100000\nevent-queue = 16\nevent-queue-bytes = 65536\n",
		"socket = \"/run/totem/totemd.sock\"\nstate-dir = \"/var/lib/totem\"\ninterface = \"eth0\"\ncluster = \"a=b\"\n",
		"allow-uid = [1000, 1001]\nallow-gid = []\nmetrics = \"127.0.0.1:9405\"\n",
		"max-message-size = \"1MB\"\n",
		"token-timeout = 3\n",
		"node-id = 1e3\n",
		"mtu = 1500\nmtu = 9000\n",
		"token-timeout = \"1ms\"\n",
		"log-level = \"loud\"\n",
		"transport = \"carrier-pigeon\"\n",
		"[[node]]\nid = 1\n",
		"node = [{id = 1, address = \"127.0.0.1:5405\"}]\n",
		"node = 5\n",
		"[node]\nid = 1\n",
		"[[node]]\nid = 0\naddress = \"127.0.0.1:1\"\n[[node]]\nid = 1\naddress = \"127.0.0.1:1\"\n",
		"peer = \"1@127.0.0.1:5405\"\n",
		"[clients]\nallow-uid = [1]\n",
		"node-id\n",
		"= 5\n",
	} {
		f.Add([]byte(seed))
	}
	lookupNetIP = func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if host == "localhost" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, fmt.Errorf("no such host %q (the fuzz test resolves localhost only)", host)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "totem.toml")
		writeFile(t, path, data)
		s, err := loadConfig(t, "--config", path)
		if err != nil {
			checkRefusal(t, path, data, err)
		}
		file, perr := readClusterFile(path)
		if perr != nil || len(file.nodes) > 0 || len(file.values["transport"]) > 0 {
			return
		}
		sf, errf := loadConfig(t, asFlags(file)...)
		if (err == nil) != (errf == nil) || !reflect.DeepEqual(s, sf) {
			t.Fatalf("%q: from the file %+v (%v), as flags %v %+v (%v)", data, s, err, asFlags(file), sf, errf)
		}
	})
}

// loadConfig is what run does before it opens anything: the settings, and the log level.
func loadConfig(t *testing.T, args ...string) (*settings, error) {
	s, err := loadArgs(t, args...)
	if err != nil {
		return nil, err
	}
	if _, err := logger(s.logLevel, s.logFormat, os.Stderr); err != nil {
		return nil, err
	}
	return s, nil
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkRefusal checks that a refusal of the file at path names it, and that a line it
// names is one of the file's.
func checkRefusal(t *testing.T, path string, data []byte, err error) {
	t.Helper()
	rest, ok := strings.CutPrefix(err.Error(), "config "+path)
	if !ok {
		if strings.Contains(err.Error(), path) {
			return
		}
		t.Fatalf("%q: refusal %q does not name the file", data, err)
	}
	if number, _, ok := strings.Cut(strings.TrimPrefix(rest, ":"), ": "); ok && strings.HasPrefix(rest, ":") {
		if n, err2 := strconv.Atoi(number); err2 == nil && (n < 1 || n > strings.Count(string(data), "\n")+1) {
			t.Fatalf("%q: refusal %q names line %d of a file of %d lines", data, err, n, strings.Count(string(data), "\n")+1)
		}
	}
}

// asFlags is the command line that says what a file without a node list says: each
// key as its flag, a list as that flag repeated. The file's transport has no flag: the
// flags say it with --mcast or its absence.
func asFlags(file *clusterFile) []string {
	var args []string
	for k, vs := range file.values {
		if k == "transport" {
			continue
		}
		for _, v := range vs {
			args = append(args, "--"+k+"="+v)
		}
	}
	return args
}

// The file's refusals, and what they say.
func TestConfigFileRefusals(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file string
		says       []string
	}{
		{"no value", "cluster = \"x\"\nnode-id =\n", []string{":2: ", "TOML"}},
		{"unknown key", "\n\nno-such-key = 1\n", []string{":3: ", `unknown key "no-such-key"`}},
		{"a peer key", "peer = \"1@127.0.0.1:5405\"\n", []string{":1: ", "[[node]] tables"}},
		{"a table the file does not have", "[clients]\nallow-uid = [1]\n", []string{":1: ", `unknown key "clients"`}},
		{"a wrong type", "mtu = \"1500\"\n", []string{":1: ", `mtu = "1500": want an integer`}},
		{"a duration without a unit", "token-timeout = 3\n", []string{":1: ", "a duration needs a unit"}},
		{"a bad value", "mtu = 100\n", []string{":1: mtu \"100\"", "--mtu must be 576..65535"}},
		{"a size with a unit", "max-message-size = \"1MB\"\n", []string{"max-message-size", "want an integer"}},
		{"a node without an address", "\n[[node]]\nid = 1\n", []string{":3: ", "needs an id and an address"}},
		{"a node id of 0", "[[node]]\nid = 0\naddress = \"127.0.0.1:1\"\n", []string{":2: ", "1..4294967295"}},
		{"a node listed twice", "node-id = 1\n[[node]]\nid = 1\naddress = \"127.0.0.1:1\"\n[[node]]\nid = 1\naddress = \"127.0.0.1:2\"\n", []string{":6: ", "listed again (first on line 3)"}},
		{"an address listed twice", "node-id = 1\n[[node]]\nid = 1\naddress = \"127.0.0.1:1\"\n[[node]]\nid = 2\naddress = \"127.0.0.1:1\"\n", []string{":6: ", "node 1's already (line 3)"}},
		{"an unknown node key", "[[node]]\nid = 1\naddress = \"127.0.0.1:1\"\nport = 5\n", []string{":4: ", `unknown key "port" in a [[node]] table`}},
		{"a transport", "transport = \"tcp\"\n", []string{":1: ", `want "udpu"`}},
		{"udpu with a group", "transport = \"udpu\"\nmcast = \"239.192.1.1:6000\"\n", []string{":1: ", "remove mcast"}},
		{"no key beyond loopback", "listen = \"10.0.0.1:5405\"\n", []string{"no --key-file"}},
		{"a log level", "log-level = \"loud\"\n", []string{"--log-level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "totem.toml")
			writeFile(t, path, []byte(tt.file))
			_, err := loadConfig(t, "--config", path)
			if err == nil {
				t.Fatalf("%q accepted", tt.file)
			}
			for _, part := range append(tt.says, path) {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("refusal %q does not say %q", err, part)
				}
			}
		})
	}
}
