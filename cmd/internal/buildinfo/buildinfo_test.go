package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
		{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
		{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d"}, {Key: "vcs.time", Value: "2026-12-03T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	want := "v1.2.0 (commit 1a2b3c4d5e6f, 2026-12-03T10:00:00Z, modified) go1.26.8 linux/amd64"
	if got := describe(bi); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	bare := &debug.BuildInfo{GoVersion: "go1.26.8"}
	if got := describe(bare); !strings.HasPrefix(got, "(devel) go1.26.8 ") {
		t.Fatalf("a build without version or vcs: %q", got)
	}
}

func TestVersionOfThisBinary(t *testing.T) {
	if v := Version(); !strings.Contains(v, "go1.") {
		t.Fatalf("Version() = %q, want the Go version in it", v)
	}
}
