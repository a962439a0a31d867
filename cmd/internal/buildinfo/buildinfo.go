// Package buildinfo says which build of a command is running, from what the Go
// toolchain records in every binary: the module version, the commit and its time, and
// the Go version. The commands print it for --version and the daemon logs it at start.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version returns a one-line description of this build, e.g.
// "v1.2.0 (commit 1a2b3c4d5e6f, 2026-12-03T10:00:00Z) go1.26.8 linux/amd64". A build
// from a work tree with uncommitted changes says "modified"; one without build
// information (go run of a file) says "unknown".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("unknown %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	return describe(bi)
}

func describe(bi *debug.BuildInfo) string {
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var vcs []string
	if rev := settings["vcs.revision"]; rev != "" {
		vcs = append(vcs, "commit "+rev[:min(12, len(rev))])
	}
	if t := settings["vcs.time"]; t != "" {
		vcs = append(vcs, t)
	}
	if settings["vcs.modified"] == "true" {
		vcs = append(vcs, "modified")
	}
	out := version
	if len(vcs) > 0 {
		out += " (" + strings.Join(vcs, ", ") + ")"
	}
	goos, goarch := settings["GOOS"], settings["GOARCH"]
	if goos == "" {
		goos, goarch = runtime.GOOS, runtime.GOARCH
	}
	return fmt.Sprintf("%s %s %s/%s", out, bi.GoVersion, goos, goarch)
}
