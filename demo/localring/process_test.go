package localring

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestProcessLines(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var seen []string
	p, err := StartProcess(exec.Command(sh, "-c", `echo one; echo oops >&2; read x; echo "got $x"; exit 3`), func(l string) { seen = append(seen, l) })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if i, err := p.WaitLine(ctx, 0, func(l string) bool { return l == "one" }); err != nil || i != 0 {
		t.Fatalf("WaitLine(one) = %d, %v", i, err)
	}
	io.WriteString(p.Stdin, "two\n")
	if i, err := p.WaitLine(ctx, 1, func(l string) bool { return l == "got two" }); err != nil || i != 1 {
		t.Fatalf("WaitLine(got two) = %d, %v", i, err)
	}
	if _, err := p.WaitLine(ctx, 0, func(l string) bool { return l == "never" }); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("WaitLine after the end = %v; want an error saying it exited", err)
	}
	if !p.WaitExit(10 * time.Second) {
		t.Fatal("still running")
	}
	if err := p.Err(); err == nil {
		t.Fatal("exit status 3 reported as success")
	}
	if got := p.Stderr(); got != "oops\n" {
		t.Errorf("Stderr = %q", got)
	}
	if got := strings.Join(p.Lines(), "|"); got != "one|got two" || strings.Join(seen, "|") != got {
		t.Errorf("Lines = %q, onLine saw %q", got, seen)
	}
}

func TestProcessStopAndTimeout(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep:", err)
	}
	p, err := StartProcess(exec.Command(sleep, "60"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.WaitLine(ctx, 0, func(string) bool { return true }); err == nil {
		t.Fatal("WaitLine returned a line sleep never printed")
	}
	p.Stop(10 * time.Second)
	select {
	case <-p.Exited():
	default:
		t.Fatal("Stop returned with the process running")
	}
}
