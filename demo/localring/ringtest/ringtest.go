// Package ringtest is what the multi-process tests of several packages share: building
// the binaries they run, once per test binary, and a ring of real daemons that lives as
// long as a test and reports what went wrong when it fails.
package ringtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/totem-gcs/totem/demo/localring"
)

const (
	// buildTimeout bounds building the binaries (a cold build cache takes a while).
	buildTimeout = 5 * time.Minute
	// StartTimeout bounds the wait for a new ring to form.
	StartTimeout = 30 * time.Second
	// logTail is how much of each daemon's log a failed test prints.
	logTail = 16 << 10
)

var builds struct {
	mu   sync.Mutex
	dirs map[string]string // by the packages' list
	errs map[string]error
}

// Binaries builds the main packages pkgs (import paths) once per test binary and
// returns the directory that holds them, each under its last path element. With
// TOTEM_E2E_RACE=1 they are built with the race detector. It skips the test under
// -short, or where there is no go command. The directory lives as long as the test
// binary's temporary files (see Cleanup).
func Binaries(t testing.TB, pkgs ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("a multi-process test (-short)")
	}
	key := strings.Join(pkgs, " ")
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dirs == nil {
		builds.dirs, builds.errs = make(map[string]string), make(map[string]error)
	}
	dir, done := builds.dirs[key]
	if !done {
		var err error
		if dir, err = os.MkdirTemp("", "totem-bin"); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
			err = localring.Build(ctx, dir, os.Getenv("TOTEM_E2E_RACE") == "1", pkgs...)
			cancel()
		}
		builds.dirs[key], builds.errs[key] = dir, err
	}
	switch err := builds.errs[key]; {
	case errors.Is(err, exec.ErrNotFound):
		t.Skipf("no go command to build %s: %v", key, err)
	case err != nil:
		t.Fatalf("build %s: %v", key, err)
	}
	return dir
}

// Cleanup removes what Binaries built; call it from TestMain after m.Run.
func Cleanup() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	for _, dir := range builds.dirs {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	builds.dirs, builds.errs = nil, nil
}

// Start starts n daemons of the totemd binary in bin and waits for their ring. When
// the test ends they are killed; a daemon that reported a data race fails the test, and
// a failed test prints the end of every daemon's log.
func Start(t testing.TB, bin string, n int) *localring.Ring {
	t.Helper()
	dir, err := localring.ShortDir("ring")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	r, err := localring.Start(ctx, localring.Options{Totemd: filepath.Join(bin, "totemd"), Dir: dir, Nodes: n})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		if err := r.Check(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			for _, nd := range r.Nodes {
				t.Logf("--- totemd %d (%s):\n%s", nd.ID, nd.LogPath, Tail(nd.Log(), logTail))
			}
		}
		os.RemoveAll(dir)
	})
	return r
}

// WaitRing waits, at most StartTimeout, until ns form one ring of exactly them.
func WaitRing(t testing.TB, r *localring.Ring, ns ...*localring.Node) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	id, err := r.WaitRing(ctx, ns...)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Tail is the last max bytes of s, marked as cut when it was.
func Tail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("...\n%s", s[len(s)-max:])
}
