package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/totem-gcs/totem/demo/localring"
	"github.com/totem-gcs/totem/demo/localring/ringtest"
)

// TestRing runs the harness's side of a benchmark on three real daemons: a totemload
// process on every node, as run_all.sh starts them, in tput mode (all senders) and in
// lat mode; every node must be complete with the same digest, and the RESULT lines
// must carry what summarize.py reads.
func TestRing(t *testing.T) {
	bin := ringtest.Binaries(t, "github.com/totem-gcs/totem/cmd/totemd", "github.com/totem-gcs/totem/cmd/totemload")
	ring := ringtest.Start(t, bin, 3)
	dir := t.TempDir()

	tput := runRing(t, bin, ring, dir, "41", "-m", "tput", "-c", "2000", "-s", "1024", "-d", "10", "-T", "20")
	for _, kv := range tput {
		for k, v := range map[string]string{"mode": "tput", "sent": "2000", "expected": "6000", "delivered": "6000",
			"bytes": strconv.Itoa(6000 * 1024)} {
			if kv[k] != v {
				t.Errorf("tput node %s: %s=%s, want %s", kv["node"], k, kv[k], v)
			}
		}
	}

	lat := runRing(t, bin, ring, dir, "42", "-m", "lat", "-r", "200", "-d", "1", "-T", "20")
	for _, kv := range lat {
		for k, v := range map[string]string{"mode": "lat", "rate": "200.0", "sent": "200", "expected": "600",
			"delivered": "600", "lat_n": "600"} {
			if kv[k] != v {
				t.Errorf("lat node %s: %s=%s, want %s", kv["node"], k, kv[k], v)
			}
		}
		var prev float64
		for _, k := range []string{"lat_p50_us", "lat_p90_us", "lat_p99_us", "lat_max_us"} {
			v, _ := strconv.ParseFloat(kv[k], 64)
			if v <= 0 || v < prev {
				t.Errorf("lat node %s: %s=%s (not positive, or below the percentile before)", kv["node"], k, kv[k])
			}
			prev = v
		}
	}
}

// runRing runs one totemload per node of ring, with -R run and args, and checks what
// every benchmark run must satisfy: complete everywhere, no order errors, equal
// digests and equal delivery logs, and the keys summarize.py needs. It returns the
// RESULT lines' keys and values, by node.
func runRing(t *testing.T, bin string, ring *localring.Ring, dir, runID string, args ...string) []map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	n := len(ring.Nodes)
	type out struct {
		stdout, stderr bytes.Buffer
		err            error
	}
	outs := make([]out, n)
	cmds := make([]*exec.Cmd, n)
	for i, nd := range ring.Nodes {
		a := append([]string{"-socket", nd.Socket, "-L", "totemd", "-i", strconv.Itoa(i + 1), "-n", strconv.Itoa(n),
			"-R", runID, "-w", "10", "-l", logPath(dir, runID, i+1)}, args...)
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "totemload"), a...)
		cmd.Stdout, cmd.Stderr = &outs[i].stdout, &outs[i].stderr
		cmd.WaitDelay = 5 * time.Second
		localring.DieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		outs[i].err = cmd.Wait()
	}
	results := make([]map[string]string, n)
	var digest string
	var log0 []byte
	for i := range outs {
		o := &outs[i]
		if o.err != nil {
			t.Fatalf("run %s node %d: %v\nstdout: %s\nstderr: %s", runID, i+1, o.err, o.stdout.String(), o.stderr.String())
		}
		kv := parseResult(t, o.stdout.String())
		results[i] = kv
		t.Logf("node %d: %s", i+1, bytes.TrimSpace(o.stdout.Bytes()))
		keys := summarizeKeys
		if kv["mode"] == "lat" {
			keys = append(keys[:len(keys):len(keys)], summarizeLatKeys...)
		}
		for _, k := range keys {
			if _, err := strconv.ParseFloat(kv[k], 64); err != nil && k != "sys" && k != "mode" && k != "digest" {
				t.Errorf("node %d: %s=%q is not a number", i+1, k, kv[k])
			}
		}
		for k, v := range map[string]string{"sys": "totemd", "node": strconv.Itoa(i + 1), "nodeid": strconv.Itoa(ring.Nodes[i].ID),
			"n": strconv.Itoa(n), "senders": strconv.Itoa(n), "run": runID, "complete": "1", "order_errors": "0",
			"size_errors": "0", "member_left": "0"} {
			if kv[k] != v {
				t.Errorf("node %d: %s=%s, want %s", i+1, k, kv[k], v)
			}
		}
		if len(kv["digest"]) != 16 {
			t.Errorf("node %d: digest=%s is not 16 hex digits", i+1, kv["digest"])
		}
		t0, _ := strconv.ParseUint(kv["t0_ns"], 10, 64)
		tlast, _ := strconv.ParseUint(kv["tlast_ns"], 10, 64)
		if !(t0 > 0 && tlast > t0) {
			t.Errorf("node %d: t0_ns=%d tlast_ns=%d", i+1, t0, tlast)
		}
		log, err := os.ReadFile(logPath(dir, runID, i+1))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			digest, log0 = kv["digest"], log
			continue
		}
		if kv["digest"] != digest {
			t.Errorf("node %d: digest=%s, node 1 digest=%s", i+1, kv["digest"], digest)
		}
		if !bytes.Equal(log, log0) {
			t.Errorf("node %d: the delivery log differs from node 1's", i+1)
		}
	}
	return results
}

func logPath(dir, runID string, node int) string {
	return filepath.Join(dir, fmt.Sprintf("deliveries.%s.%d", runID, node))
}
