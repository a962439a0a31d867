package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/totem-gcs/totem/demo/localring/ringtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	ringtest.Cleanup()
	os.Exit(code)
}

// totemdBinary is the real binary, built once per test binary.
func totemdBinary(t *testing.T) string {
	t.Helper()
	return filepath.Join(ringtest.Binaries(t, "github.com/totem-gcs/totem/cmd/totemd"), "totemd")
}

// The command line as an operator meets it: every case runs the real binary, none may
// start a daemon (a run that does not exit by itself within the timeout fails).
func TestCommandLine(t *testing.T) {
	bin := totemdBinary(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.conf", "node-id 2\nlisten localhost:6002\npeer 1@127.0.0.1:6001\npeer 2@localhost:6002\ntoken-timeout 1s\n")
	badID := write("bad-id.conf", "# comment\nnode-id abc\n")
	badKey := write("bad-key.conf", "node-id 1\nwobble 3\n")
	five := write("five.conf", "node-id 1\nlisten 127.0.0.1:6001\npeer 1@127.0.0.1:6001\npeer 2@127.0.0.1:6002\npeer 3@127.0.0.1:6003\npeer 4@127.0.0.1:6004\npeer 5@127.0.0.1:6005\n")
	twice := write("twice.conf", "node-id 1\nmtu 1500\n\nmtu 9000\n")
	access := write("access.conf", "allow-uid 1000\nallow-uid 1001\nallow-gid 50\n")
	badUID := write("bad-uid.conf", "allow-uid alice\n")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // each must appear
		stderr []string
	}{
		{"version command", []string{"version"}, 0, []string{"totemd ", "go1."}, nil},
		{"version flag", []string{"--version"}, 0, []string{"totemd ", "go1."}, nil},
		{"a stray word is not ignored", []string{"versoin"}, 2, nil, []string{`unexpected argument "versoin"`, "check-config"}},
		{"unknown flag: short, no help dump", []string{"--no-such-flag"}, 2, nil, []string{"no-such-flag", "totemd --help"}},
		{"a duration without a unit", []string{"--token-timeout", "10"}, 2, nil, []string{"token-timeout", "3s"}},
		{"check-config of a good file", []string{"check-config", good}, 0, []string{good + ": ok", "node 2", "127.0.0.1:6002", "peer 1 at 127.0.0.1:6001", "token timeout 1s"}, nil},
		{"check-config names file, line and value", []string{"check-config", badID}, 2, nil, []string{badID + ":2: node-id \"abc\"", "1..4294967295"}},
		{"the token timeout grows with the ring, as Corosync's", []string{"check-config", five}, 0, []string{"token timeout 4.95s (effective)"}, nil},
		{"unless told not to", []string{"--token-coefficient", "0", "check-config", five}, 0, []string{"token timeout 3s (effective)"}, nil},
		{"a ring of two keeps the base", []string{"check-config", good}, 0, []string{"token timeout 1s (effective)"}, nil},
		{"a key given twice", []string{"check-config", twice}, 2, nil, []string{twice + ":4: mtu is given again (first on line 2)"}},
		{"access rules in the file", []string{"check-config", access}, 0, []string{"clients: uid 1000, 1001; gid 50"}, nil},
		{"a uid that is not a number", []string{"check-config", badUID}, 2, nil, []string{badUID + ":1: allow-uid \"alice\""}},
		{"check-config refuses an unknown key", []string{"check-config", badKey}, 2, nil, []string{badKey + ":2", `unknown key "wobble"`}},
		{"check-config of a missing file", []string{"check-config", filepath.Join(dir, "none.conf")}, 2, nil, []string{"none.conf", "no such file"}},
		{"check-config without a file", []string{"check-config"}, 2, nil, []string{"check-config FILE"}},
		{"flags before check-config win", []string{"--node-id", "1", "--listen", "127.0.0.1:6001", "check-config", good}, 0, []string{"node 1 ", "127.0.0.1:6001"}, nil},
		{"keygen without a path", []string{"keygen"}, 2, nil, []string{"keygen PATH"}},
		{"an address that does not resolve", []string{"--listen", "no-such-host.invalid:5405", "check-config", good}, 2, nil, []string{"no-such-host.invalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tt.args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("totemd %v did not exit by itself (it started a daemon?)", tt.args)
			}
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit status %d, want %d; stdout %q stderr %q", code, tt.code, stdout.String(), stderr.String())
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout %q lacks %q", stdout.String(), want)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q lacks %q", stderr.String(), want)
				}
			}
			if tt.code == 2 && strings.Count(stderr.String(), "\n") > 3 {
				t.Errorf("a usage error of %d lines; want a short one:\n%s", strings.Count(stderr.String(), "\n"), stderr.String())
			}
		})
	}
}
