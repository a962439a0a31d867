package main

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// The README's first command: the tour must run to its end on this machine, and say
// what it promises at each step.
func TestTour(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the tour builds with the go command:", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	if code := run(ctx, nil, &out, &errOut); code != 0 {
		t.Fatalf("quickstart exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{
		`(?m)^Ring \d+\.\d+ is operational with nodes 1, 2, 3\.$`,
		`(?m)^\[node 1\] 5$`, `(?m)^\[node 2\] 6$`, `(?m)^\[node 3\] 4$`,
		`(?m)^Ring \d+\.\d+ is operational with nodes 1, 2\.$`,
		`(?m)^Replica 3 lost its daemon and stopped: .*daemon`,
		`(?m)^\[node 1\] 14$`,
		`(?m)^    replica 3 \| value 14 \| replicas .* \(3 of 3\) \| serving$`,
		`(?m)^Every replica shows value 14\.$`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"extra"}, &out, &errOut); code != 2 {
		t.Errorf("an argument: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"--bogus"}, &out, &errOut); code != 2 {
		t.Errorf("an unknown flag: exit %d, want 2", code)
	}
}
