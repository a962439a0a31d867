package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzConfigFile runs what `totemd --config FILE` runs before it opens anything (the
// file's parse, the merge under the flags' defaults, every value's validation, the log
// level), on arbitrary file contents. Whatever the file holds:
//
//   - nothing panics;
//   - a refusal names the file, and a line's refusal names that line: the lines above
//     it parse, and the line alone is refused;
//   - a parsed file, written out again by renderConfig and parsed, gives the same keys
//     and values (so the same settings: they are made from those alone);
//   - the file takes a value exactly when the flag of that name does, and to the same
//     settings: the file is the flags written down, not a looser dialect of them.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{
		"",
		"# nothing but a comment\n\n   \n",
		"node-id 2\nlisten = 127.0.0.1:6002\npeer 1@127.0.0.1:6001\npeer 2@127.0.0.1:6002\ntoken-timeout 1s\ncluster prod\n",
		"node-id = 1\r\nmcast = 239.192.1.1:6000 # multicast ring\r\nlisten = 127.0.0.1:5405\r\nmulticast-loop = true\r\n",
		"listen 10.9.9.1:5405\nkey-file /etc/totem/authkey\nmtu 9000\ndatagram-size 0\ngso false\n",
		"listen [::1]:5405\nunauthenticated t\nlog-level debug\nmax-message-size 0x100000\nevent-queue 16\nevent-queue-bytes 65536\n",
		"socket /run/totem/totemd.sock\nstate-dir /var/lib/totem\ninterface eth0\ncluster = a=b\n",
		"max-message-size 1MB\n",
		"datagram-size 16k\n",
		"node-id 1e3\n",
		"node-id +5\n",
		"mtu 1500\nmtu 9000\n",
		"token-timeout 1ms\n",
		"log-level loud\n",
		"listen 10.0.0.1:5405\n",
		"peer 1@127.0.0.1:5405,2@127.0.0.1:5406\n",
		"peer 2@127.0.0.1:6002\n",
		"mcast 239.192.1.1:6000\npeer 1@127.0.0.1:5405\n",
		"node-id\n",
		"= 5\n",
		"no-such-key 1\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "totemd.conf")
		writeFile(t, path, data)
		file, err := readConfigFile(path)
		if err != nil {
			checkLineRefusal(t, dir, path, data, err)
			return
		}

		// Written out again, the file reads the same.
		again := filepath.Join(dir, "again.conf")
		writeFile(t, again, []byte(renderConfig(file)))
		file2, err := readConfigFile(again)
		if err != nil {
			t.Fatalf("%q parses to %q, but written out as %q it is refused: %v", data, file, renderConfig(file), err)
		}
		if !reflect.DeepEqual(file, file2) {
			t.Fatalf("%q parses to %q, written out and parsed again to %q", data, file, file2)
		}

		s, err := loadConfig(t, "--config", path)
		if err != nil && !strings.Contains(err.Error(), path) {
			// Every value not in the file is a valid default, so the file is at fault.
			t.Fatalf("%q: refusal %q does not name the file", data, err)
		}

		// The same values as flags. A comma splits a --peer flag into several peers, where
		// a file's peer line is one peer; so a comma in a peer has no flag equivalent.
		if slices.ContainsFunc(file["peer"], func(p string) bool { return strings.Contains(p, ",") }) {
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
	if _, err := logger(s.logLevel, os.Stderr); err != nil {
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

// checkLineRefusal checks that readConfigFile's refusal of data names path and a line,
// and that it is that line that is refused.
func checkLineRefusal(t *testing.T, dir, path string, data []byte, err error) {
	t.Helper()
	number, _, ok := strings.Cut(strings.TrimPrefix(err.Error(), "config "+path+":"), ": ")
	n, numErr := strconv.Atoi(number)
	if !strings.HasPrefix(err.Error(), "config "+path+":") || !ok || numErr != nil {
		t.Fatalf("%q: refusal %q does not start with \"config %s:LINE: \"", data, err, path)
	}
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		t.Fatalf("%q: refusal %q names line %d of %d", data, err, n, len(lines))
	}
	above := filepath.Join(dir, "above.conf")
	writeFile(t, above, []byte(strings.Join(lines[:n-1], "\n")))
	if _, errAbove := readConfigFile(above); errAbove != nil {
		t.Fatalf("%q: refused at line %d (%v), but the lines above it are refused too: %v", data, n, err, errAbove)
	}
	if strings.Contains(err.Error(), " is given again (first on line ") {
		return // refused for what an earlier line said: the line alone is fine
	}
	line := lines[n-1]
	if n < len(lines) {
		line += "\n"
	}
	alone := filepath.Join(dir, "alone.conf")
	writeFile(t, alone, []byte(line))
	if _, err2 := readConfigFile(alone); err2 == nil || !strings.HasPrefix(err2.Error(), "config "+alone+":1: ") {
		t.Fatalf("%q: refused at line %d (%v), but that line alone gives %v", data, n, err, err2)
	}
}

// renderConfig writes a parsed config file out again, one "key = value" line per value.
// The "=" form keeps a value with an "=" or a space in it whole.
func renderConfig(file map[string][]string) string {
	keys := make([]string, 0, len(file))
	for k := range file {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range file[k] {
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		}
	}
	return b.String()
}

// asFlags is the command line that says what file says: every peer, and the last value
// of each other key (the one the file's reader keeps).
func asFlags(file map[string][]string) []string {
	var args []string
	for k, vs := range file {
		if k != "peer" {
			vs = vs[len(vs)-1:]
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
		{"no value", "cluster x\nnode-id\n", []string{":2: ", `want "key value"`}},
		{"unknown key", "\n\nno-such-key 1\n", []string{":3: ", `unknown key "no-such-key"`}},
		{"a line too long", "cluster x\ncluster " + strings.Repeat("x", 70000) + "\n", []string{":2: ", "too long"}},
		{"a bad value", "mtu 100\n", []string{"--mtu must be 576..65535"}},
		{"a size with a unit", "max-message-size 1MB\n", []string{"--max-message-size"}},
		{"a datagram size with a unit", "datagram-size 16k\n", []string{"--datagram-size"}},
		{"a node id with an exponent", "node-id 1e3\n", []string{"--node-id"}},
		{"a peer list without this node", "peer 2@127.0.0.1:6002\n", []string{"this node (1) is not in the list"}},
		{"no key beyond loopback", "listen 10.0.0.1:5405\n", []string{"no --key-file"}},
		{"a log level", "log-level loud\n", []string{"--log-level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "totemd.conf")
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
