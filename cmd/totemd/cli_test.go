package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/totem-gcs/totem/demo/localring"
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
	good := write("good.toml", "node-id = 2\ntoken-timeout = \"1s\"\n\n[[node]]\nid = 1\naddress = \"127.0.0.1:6001\"\n\n[[node]]\nid = 2\naddress = \"localhost:6002\"\nname = \"beta\"\n")
	badID := write("bad-id.toml", "# comment\nnode-id = \"abc\"\n")
	badKey := write("bad-key.toml", "node-id = 1\nwobble = 3\n")
	five := write("five.toml", "node-id = 1\n"+nodes(5))
	twice := write("twice.toml", "node-id = 1\nmtu = 1500\n\nmtu = 9000\n")
	access := write("access.toml", "allow-uid = [1000, 1001]\nallow-gid = [50]\n")
	badUID := write("bad-uid.toml", "allow-uid = [\"alice\"]\n")
	// A shared file: this host has 127.0.0.1, and 192.0.2.0/24 is TEST-NET-1, never an
	// address of a host here.
	shared := write("shared.toml", "cluster = \"prod\"\n[[node]]\nid = 7\naddress = \"192.0.2.1:5405\"\n[[node]]\nid = 8\naddress = \"127.0.0.1:6008\"\n")
	notHere := write("not-here.toml", "unauthenticated = true\n[[node]]\nid = 7\naddress = \"192.0.2.1:5405\"\n")
	mcast := write("mcast.toml", "transport = \"multicast\"\nmcast = \"239.192.1.1:6000\"\nnode-id = 1\n"+nodes(4))
	noGroup := write("no-group.toml", "transport = \"multicast\"\n")
	syntax := write("syntax.toml", "cluster = \"a\"\nmtu = \n")
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
		{"check-config of a good file", []string{"check-config", good}, 0, []string{good + ": ok", "node 2", "127.0.0.1:6002", "peer 1 at 127.0.0.1:6001", "peer 2 at 127.0.0.1:6002 (beta), this node", "token timeout 1s"}, nil},
		{"check-config names file, line, key and value", []string{"check-config", badID}, 2, nil, []string{badID + ":2: node-id = \"abc\": want an integer"}},
		{"the token timeout grows with the ring, as Corosync's", []string{"check-config", five}, 0, []string{"token timeout 4.95s (effective)"}, nil},
		{"unless told not to", []string{"--token-coefficient", "0", "check-config", five}, 0, []string{"token timeout 3s (effective)"}, nil},
		{"a ring of two keeps the base", []string{"check-config", good}, 0, []string{"token timeout 1s (effective)"}, nil},
		{"a multicast ring with a node list grows too", []string{"check-config", mcast}, 0, []string{"multicast 239.192.1.1:6000", "token timeout 4.3s (effective)", "peer 4 at"}, nil},
		{"a multicast ring needs its group", []string{"check-config", noGroup}, 2, nil, []string{noGroup + ":1: transport \"multicast\"", `mcast = "GROUP:PORT"`}},
		{"a key given twice", []string{"check-config", twice}, 2, nil, []string{twice + ":4: ", "mtu", "already defined"}},
		{"a TOML syntax error", []string{"check-config", syntax}, 2, nil, []string{syntax + ":2: ", "TOML"}},
		{"access rules in the file", []string{"check-config", access}, 0, []string{"clients: uid 1000, 1001; gid 50"}, nil},
		{"a uid that is not a number", []string{"check-config", badUID}, 2, nil, []string{badUID + ":1: allow-uid = [\"alice\"]", "list of integers"}},
		{"check-config refuses an unknown key", []string{"check-config", badKey}, 2, nil, []string{badKey + ":2", `unknown key "wobble"`}},
		{"a shared file: this node by its address", []string{"check-config", shared}, 0, []string{"this is node 8 by its address 127.0.0.1", "127.0.0.1:6008"}, nil},
		{"a shared file: this node by its id", []string{"--node-id", "7", "--unauthenticated", "check-config", shared}, 0, []string{"node 7 ", "192.0.2.1:5405", "by its node id"}, nil},
		{"a shared file without this host", []string{"check-config", notHere}, 2, nil, []string{"no [[node]] address is one of this host's", "--node-id"}},
		{"an id not in the file", []string{"--node-id", "9", "check-config", shared}, 2, nil, []string{"node-id 9 is not in its node list ([7 8])"}},
		{"check-config of a missing file", []string{"check-config", filepath.Join(dir, "none.toml")}, 2, nil, []string{"none.toml", "no such file"}},
		{"check-config without a file", []string{"check-config"}, 2, nil, []string{"check-config FILE"}},
		{"flags before check-config win", []string{"--node-id", "1", "check-config", good}, 0, []string{"node 1 ", "127.0.0.1:6001"}, nil},
		{"a --listen that is not the file's", []string{"--listen", "127.0.0.1:7002", "check-config", good}, 2, nil, []string{"--listen is 127.0.0.1:7002", "lists node 2 at 127.0.0.1:6002"}},
		{"a hello timeout without a unit", []string{"--hello-timeout", "5", "check-config", good}, 2, nil, []string{"hello-timeout", "a duration needs a unit"}},
		{"the hello timeout in force", []string{"--hello-timeout", "750ms", "check-config", good}, 0, []string{"clients send their hello within 750ms"}, nil},
		{"no duration hint for a number", []string{"--mtu", "big"}, 2, nil, []string{"mtu"}},
		{"a hello timeout too short", []string{"--hello-timeout", "1ms", "check-config", good}, 2, nil, []string{"--hello-timeout must be a duration of at least 10ms"}},
		{"a log format", []string{"--log-format", "xml", "check-config", good}, 2, nil, []string{"--log-format \"xml\": want text or json"}},
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

// nodes is a cluster file's node list of n nodes on loopback, ports 6001 up.
func nodes(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "\n[[node]]\nid = %d\naddress = \"127.0.0.1:%d\"\n", i, 6000+i)
	}
	return b.String()
}

// The daemon says where its socket is, on standard output, in the form
// docs/PROTOCOL.md §1 gives: a line ending "; clients connect to PATH". It stops cleanly
// on SIGTERM.
func TestStartLineNamesTheSocket(t *testing.T) {
	bin := totemdBinary(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "t.sock")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ports, err := localring.FreeUDPPorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "--listen", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--socket", sock, "--state-dir", filepath.Join(dir, "state"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no line on standard output: %v\n%s", err, stderr.String())
	}
	if want := "; clients connect to " + sock + "\n"; !strings.HasPrefix(line, "totemd: ") || !strings.HasSuffix(line, want) {
		t.Errorf("start line %q does not end %q", line, want)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Errorf("the socket the line names: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v\n%s", err, stderr.String())
	}
}
