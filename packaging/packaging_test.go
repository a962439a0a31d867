package packaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	unitPath     = "systemd/totemd.service"
	examplePath  = "systemd/totem.toml.example"
	sysusersPath = "systemd/totem.sysusers"
)

// totemd is a totemd built from this tree for the tests (TestMain), or buildErr says why
// there is none.
var (
	totemd   string
	buildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "packaging-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	totemd, buildErr = buildTotemd(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildTotemd(dir string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "totemd")
	out, err := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "github.com/totem-gcs/totem/cmd/totemd").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build totemd: %w\n%s", err, out)
	}
	return bin, nil
}

// needTotemd returns the built totemd, skipping where there is no go command (a
// compiled test shipped alone) and failing where the build failed.
func needTotemd(t *testing.T) string {
	t.Helper()
	if errors.Is(buildErr, exec.ErrNotFound) {
		t.Skipf("no go command to build totemd: %v", buildErr)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return totemd
}

// runTotemd runs the built totemd with args and returns its exit status and output.
func runTotemd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, needTotemd(t), args...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("totemd %s: still running after 30s (it was meant to stop before opening sockets); output:\n%s", strings.Join(args, " "), out.String())
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	case err != nil:
		t.Fatalf("totemd %s: %v", strings.Join(args, " "), err)
	}
	return 0, out.String()
}

// help is totemd --help, parsed.
type help struct {
	flags    map[string]bool // long flag names, without "--"
	commands map[string]bool
}

var (
	helpFlagRe    = regexp.MustCompile(`(?m)^\s+--([a-z0-9][a-z0-9-]*)`)
	helpCommandRe = regexp.MustCompile(`(?m)^\s+([a-z][a-z0-9-]*)(?:,\s*[a-z]+)?\s{2,}\S`)
)

func totemdHelp(t *testing.T) help {
	t.Helper()
	code, out := runTotemd(t, "--help")
	if code != 0 {
		t.Fatalf("totemd --help: exit status %d\n%s", code, out)
	}
	h := help{flags: map[string]bool{}, commands: map[string]bool{}}
	for _, m := range helpFlagRe.FindAllStringSubmatch(out, -1) {
		h.flags[m[1]] = true
	}
	if _, cmds, ok := strings.Cut(out, "COMMANDS:"); ok {
		cmds, _, _ = strings.Cut(cmds, "OPTIONS:")
		for _, m := range helpCommandRe.FindAllStringSubmatch(cmds, -1) {
			h.commands[m[1]] = true
		}
	}
	for _, f := range []string{"config", "listen", "node-id"} {
		if !h.flags[f] {
			t.Fatalf("totemd --help lists no --%s; parsed flags %v from:\n%s", f, slices.Sorted(maps.Keys(h.flags)), out)
		}
	}
	return h
}

// sentinel is an invalid --log-level, for a totemd without check-config (before it had
// one): such a totemd checks the log level last of all settings, after reading the
// config file, and stops with exit status 2 naming it. Reaching that error means
// everything before it was accepted; nothing is opened before it.
const sentinel = "packaging-test-sentinel"

// checkConfig asks totemd whether it accepts the config file at path with flags in
// front, without starting it: with its check-config command if it has one, else by
// making it stop at the sentinel. ok is false with totemd's message when it refuses.
func checkConfig(t *testing.T, h help, path string, flags ...string) (ok bool, msg string) {
	t.Helper()
	if h.commands["check-config"] {
		args := append(slices.Clone(flags), "check-config", path)
		code, out := runTotemd(t, args...)
		return code == 0, out
	}
	args := append(slices.Clone(flags), "--config", path, "--log-level", sentinel)
	code, out := runTotemd(t, args...)
	return code == 2 && strings.Contains(out, "--log-level") && strings.Contains(out, sentinel), out
}

// probeFlags keep probes of loose settings away from the default socket and state dir
// of a developer's daemon, should one ever get that far.
func probeFlags(dir string) []string {
	return []string{"--socket", filepath.Join(dir, "p.sock"), "--state-dir", filepath.Join(dir, "state")}
}

// unit is a systemd unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func (u unit) get(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) { // continuation
			i++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(lines[i])
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a Key=value line in a section: %q", path, i+1, line)
			}
			key, value = strings.TrimSpace(key), strings.TrimSpace(value)
			u[section][key] = append(u[section][key], value)
		}
	}
	return u
}

// splitCommand splits a systemd command line into words: whitespace separates, single
// and double quotes group, backslash escapes.
func splitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	runes := []rune(s)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case r == '\\' && i+1 < len(runes):
			i++
			cur.WriteRune(runes[i])
			inWord = true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// execStart is the unit's command line: the binary and its flags in order.
type execStart struct {
	binary string
	args   []string            // everything after the binary
	flags  map[string][]string // --name -> values ("" for a flag without one)
}

func parseExecStart(t *testing.T, u unit) execStart {
	t.Helper()
	if n := len(u["Service"]["ExecStart"]); n != 1 {
		t.Fatalf("%s: want one ExecStart=, have %d", unitPath, n)
	}
	line, _ := u.get("Service", "ExecStart")
	words, err := splitCommand(line)
	if err != nil || len(words) == 0 {
		t.Fatalf("%s: ExecStart=%s: %v", unitPath, line, err)
	}
	e := execStart{binary: strings.TrimLeft(words[0], "-@:+!"), args: words[1:], flags: map[string][]string{}}
	for i := 0; i < len(e.args); i++ {
		w := e.args[i]
		if !strings.HasPrefix(w, "--") {
			t.Fatalf("%s: ExecStart: %q is neither a --flag nor the value of one (in %q)", unitPath, w, line)
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		if !hasValue && i+1 < len(e.args) && !strings.HasPrefix(e.args[i+1], "-") {
			i++
			value = e.args[i]
		}
		e.flags[name] = append(e.flags[name], value)
	}
	return e
}

// unitWithBinary writes a copy of the unit into dir with ExecStart running bin, plus
// extra lines, and returns its path.
func unitWithBinary(t *testing.T, dir, bin, extra string) string {
	t.Helper()
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	e := parseExecStart(t, parseUnit(t, unitPath))
	text := string(data)
	if !strings.Contains(text, "ExecStart="+e.binary+" ") {
		t.Fatalf("%s: cannot find %q to rewrite", unitPath, "ExecStart="+e.binary)
	}
	text = strings.Replace(text, "ExecStart="+e.binary+" ", "ExecStart="+bin+" ", 1) + extra
	path := filepath.Join(dir, "totemd.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// systemdAnalyzeVerify runs systemd-analyze verify on a unit file and returns the lines
// of its output about that unit (other units' noise is dropped) and its exit status.
func systemdAnalyzeVerify(t *testing.T, analyze, path string) (about []string, code int, out string) {
	t.Helper()
	run := func(args ...string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, analyze, args...)
		cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=", "SYSTEMD_LOG_LOCATION=0")
		o, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(o)
		} else if err != nil {
			t.Fatalf("%s: %v", analyze, err)
		}
		return 0, string(o)
	}
	code, out = run("verify", "--man=no", path)
	if strings.Contains(out, "man") && (strings.Contains(out, "unrecognized option") || strings.Contains(out, "Unknown option")) {
		code, out = run("verify", path) // an old systemd-analyze without --man
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, path) || strings.Contains(line, "totemd.service") {
			about = append(about, line)
		}
	}
	return about, code, out
}

// TestUnitVerify runs systemd-analyze verify on the unit (with ExecStart pointing at a
// totemd built from this tree, as verify checks the binary): every warning about it is
// a failure.
func TestUnitVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit cannot be verified here")
	}
	bin := needTotemd(t)

	// First a unit verify must complain about, to know verify works here at all.
	canary := unitWithBinary(t, t.TempDir(), bin, "\n[Service]\nTotemPackagingCanary=1\n")
	about, _, out := systemdAnalyzeVerify(t, analyze, canary)
	if !strings.Contains(strings.Join(about, "\n"), "TotemPackagingCanary") {
		t.Skipf("systemd-analyze verify does not report an unknown key in a unit here, so it cannot check ours; its output:\n%s", out)
	}

	path := unitWithBinary(t, t.TempDir(), bin, "")
	about, code, out := systemdAnalyzeVerify(t, analyze, path)
	if len(about) > 0 {
		t.Errorf("systemd-analyze verify %s (ExecStart rewritten to %s) complains about the unit:\n%s", unitPath, bin, strings.Join(about, "\n"))
	}
	switch {
	case len(about) > 0:
	case code != 0:
		t.Logf("systemd-analyze verify exited with status %d, saying nothing about our unit (noise about other units); output:\n%s", code, out)
	default:
		t.Logf("systemd-analyze verify: exit status 0, no warnings about the unit")
	}
}

// TestUnitSecurity has systemd-analyze rate the unit's sandbox offline: the exposure
// must stay at most 2.0 (of 10; the unit rates 1.3 with systemd 252).
func TestUnitSecurity(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	path := unitWithBinary(t, t.TempDir(), needTotemd(t), "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_COLORS=0")
	o, err := cmd.CombinedOutput()
	out := string(o)
	if err != nil && (strings.Contains(out, "unrecognized option") || strings.Contains(out, "Unknown option")) {
		t.Skipf("this systemd-analyze cannot rate a unit offline (systemd 250 or later can):\n%s", out)
	}
	overall := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Overall exposure level") {
			overall = strings.TrimSpace(line)
		}
	}
	if overall == "" {
		t.Skipf("systemd-analyze security printed no overall exposure; output:\n%s", out)
	}
	if err != nil {
		t.Errorf("systemd-analyze security --threshold=20: %v: the unit's sandbox was weakened:\n%s", err, out)
	}
	t.Log(overall)
}

// TestUnitDirectives checks what the unit promises: the daemon's user and directories,
// restart, and the hardening, and that nothing in it stops the daemon from working.
func TestUnitDirectives(t *testing.T) {
	u := parseUnit(t, unitPath)
	want := map[string]string{
		"Type": "simple", // totemd does not speak sd_notify
		"User": "totem", "Group": "totem",
		"Restart": "on-failure", "RestartPreventExitStatus": "2",
		"StateDirectory": "totem", "RuntimeDirectory": "totem", "RuntimeDirectoryPreserve": "restart",
		"NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
		"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
		"ProtectControlGroups": "yes", "RestrictNamespaces": "yes", "RestrictSUIDSGID": "yes",
		"LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
	}
	for key, value := range want {
		if got, ok := u.get("Service", key); !ok || got != value {
			t.Errorf("%s: [Service] %s=%s, want %s=%s", unitPath, key, got, key, value)
		}
	}
	// Exactly the address families totemd uses: UDP over IPv4/IPv6, its Unix socket, and
	// netlink for the interface lookups of multicast.
	families, _ := u.get("Service", "RestrictAddressFamilies")
	if got := strings.Fields(families); !sameSet(got, []string{"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}) {
		t.Errorf("%s: RestrictAddressFamilies=%s, want AF_UNIX AF_INET AF_INET6 AF_NETLINK", unitPath, families)
	}
	forbidden := map[string]string{
		"DynamicUser":    "the key file must be readable by a fixed user and the state must persist",
		"PrivateNetwork": "the ring needs the host's network",
		"PrivateUsers":   "clients' uids (SO_PEERCRED) would read as nobody, breaking --allow-uid",
		"IPAddressDeny":  "the ring's peers and multicast groups are the operator's choice",
	}
	for key, why := range forbidden {
		if v, ok := u.get("Service", key); ok && v != "no" && v != "" {
			t.Errorf("%s: %s=%s breaks totemd: %s", unitPath, key, v, why)
		}
	}
	if v, _ := u.get("Install", "WantedBy"); v != "multi-user.target" {
		t.Errorf("%s: [Install] WantedBy=%s, want multi-user.target", unitPath, v)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestUnitExecStart checks the unit's command line against the daemon: every flag is
// one totemd --help lists, the socket and state dir are the unit's own directories
// (never the defaults under /tmp), and totemd accepts the command line with the
// example config.
func TestUnitExecStart(t *testing.T) {
	h := totemdHelp(t)
	u := parseUnit(t, unitPath)
	e := parseExecStart(t, u)
	if !filepath.IsAbs(e.binary) || filepath.Base(e.binary) != "totemd" {
		t.Errorf("%s: ExecStart runs %q, want an absolute path to totemd", unitPath, e.binary)
	}
	for name := range e.flags {
		if !h.flags[name] {
			t.Errorf("%s: ExecStart passes --%s, which totemd --help does not list", unitPath, name)
		}
	}
	one := func(name string) string {
		vs := e.flags[name]
		if len(vs) != 1 || vs[0] == "" {
			t.Errorf("%s: ExecStart must pass --%s once with a value, has %q", unitPath, name, vs)
			return ""
		}
		return vs[0]
	}
	if cfg := one("config"); cfg != "/etc/totem/totem.toml" {
		t.Errorf("%s: ExecStart reads --config %s, want /etc/totem/totem.toml (where the README and make install-systemd put it)", unitPath, cfg)
	}
	stateDir, _ := u.get("Service", "StateDirectory")
	if got, want := one("state-dir"), "/var/lib/"+stateDir; got != want {
		t.Errorf("%s: --state-dir %s, but StateDirectory=%s is %s", unitPath, got, stateDir, want)
	}
	runtimeDir, _ := u.get("Service", "RuntimeDirectory")
	if got, want := filepath.Dir(one("socket")), "/run/"+runtimeDir; got != want {
		t.Errorf("%s: --socket is in %s, but RuntimeDirectory=%s is %s", unitPath, got, runtimeDir, want)
	}
	if t.Failed() {
		return
	}

	// The command line as the service runs it, reading the example instead of
	// /etc/totem/totem.toml. On node 1 the example's entry for it is found by its
	// address; no host here has the example's addresses, so the test says which it is.
	flags := []string{"--node-id", "1"}
	for i := 0; i < len(e.args); i++ {
		flags = append(flags, e.args[i])
		if e.args[i] == "--config" && i+1 < len(e.args) {
			flags = append(flags, examplePath)
			i++
		}
	}
	if ok, msg := checkConfig(t, h, examplePath, flags...); !ok {
		t.Errorf("totemd %s (the unit's ExecStart with the example config) is refused:\n%s", strings.Join(flags, " "), msg)
	}
}

// setting is one top-level line of the example cluster file: "key = value", or
// "#key = value" for one shown commented out.
type setting struct {
	line       int
	key, value string
	commented  bool
}

var commentedRe = regexp.MustCompile(`^#([a-z][a-z0-9-]*)\s*=\s*(\S.*)$`)

func parseExample(t *testing.T) (settings []setting, lines []string) {
	t.Helper()
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	for i, raw := range lines {
		text := strings.TrimSpace(raw)
		if strings.HasPrefix(text, "[") {
			break // the [[node]] tables: the top-level keys are above them
		}
		if m := commentedRe.FindStringSubmatch(text); m != nil {
			settings = append(settings, setting{line: i + 1, key: m[1], value: strings.TrimSpace(m[2]), commented: true})
			continue
		}
		if j := strings.IndexByte(text, '#'); j >= 0 {
			text = strings.TrimSpace(text[:j])
		}
		if text == "" {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok {
			t.Fatalf("%s:%d: not a \"key = value\" line: %q", examplePath, i+1, raw)
		}
		settings = append(settings, setting{line: i + 1, key: strings.TrimSpace(key), value: strings.TrimSpace(value)})
	}
	return settings, lines
}

// TestExampleConfig checks the example config file against the daemon: every key is a
// totemd flag and has a comment saying what it means; totemd accepts the file as it
// is, and each setting shown commented out on its own; and every key totemd's config
// files take is in the example.
func TestExampleConfig(t *testing.T) {
	h := totemdHelp(t)
	settings, lines := parseExample(t)
	documented := map[string]bool{}
	active := 0
	for _, s := range settings {
		documented[s.key] = true
		if !s.commented {
			active++
		}
		if !h.flags[s.key] && s.key != "transport" { // transport: the file's word for what --mcast implies
			t.Errorf("%s:%d: key %q is not a totemd flag (totemd --help)", examplePath, s.line, s.key)
		}
		if !explained(lines, s.line-1) {
			t.Errorf("%s:%d: %q has no comment above it saying what it means", examplePath, s.line, s.key)
		}
	}
	if active == 0 || active == len(settings) {
		t.Fatalf("%s: %d settings, %d of them active: want some of each", examplePath, len(settings), active)
	}

	dir := t.TempDir()
	// As node 1 would read it (found there by its address, here by its id).
	if ok, msg := checkConfig(t, h, examplePath, append(probeFlags(dir), "--node-id", "1")...); !ok {
		t.Errorf("totemd refuses %s as it is:\n%s", examplePath, msg)
	}
	// Each commented setting alone; --unauthenticated, so that an address beyond
	// loopback is looked at without a key.
	loose := append(probeFlags(dir), "--unauthenticated")
	for _, s := range settings {
		if !s.commented {
			continue
		}
		path := filepath.Join(dir, "one.toml")
		line := s.key + " = " + s.value
		if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if ok, msg := checkConfig(t, h, path, loose...); !ok {
			t.Errorf("%s:%d: uncommented, %q is refused by totemd:\n%s", examplePath, s.line, line, msg)
		}
	}

	// Which flags a config file takes, asked of totemd: a key it does not take is
	// refused as unknown before anything else is looked at.
	accepted := func(key string) (bool, string) {
		path := filepath.Join(dir, "probe.toml")
		if err := os.WriteFile(path, []byte(key+" = \"x\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, msg := checkConfig(t, h, path, probeFlags(dir)...)
		return !strings.Contains(msg, "unknown key"), msg
	}
	if ok, msg := accepted("no-such-key-at-all"); ok {
		t.Fatalf("totemd did not call the config key no-such-key-at-all unknown, so the probe for keys does not work:\n%s", msg)
	}
	for _, name := range slices.Sorted(maps.Keys(h.flags)) {
		if name == "help" || name == "config" || name == "version" || documented[name] {
			continue
		}
		if ok, msg := accepted(name); ok {
			t.Errorf("totemd takes the config key %q (asked with %q, it said: %s), but %s does not show it",
				name, name+` = "x"`, strings.TrimSpace(msg), examplePath)
		}
	}
}

// explained reports whether the setting at lines[i] sits under a comment: going up past
// other settings of its group, a prose comment line ("# ...") comes before a blank one.
func explained(lines []string, i int) bool {
	for j := i - 1; j >= 0; j-- {
		text := strings.TrimSpace(lines[j])
		switch {
		case text == "":
			return false
		case strings.HasPrefix(text, "# ") || text == "#":
			return true
		}
	}
	return false
}

// TestSysusers checks that the sysusers.d file makes the unit's user and group, by
// running systemd-sysusers on an empty root where it can.
func TestSysusers(t *testing.T) {
	u := parseUnit(t, unitPath)
	user, _ := u.get("Service", "User")
	group, _ := u.get("Service", "Group")
	data, err := os.ReadFile(sysusersPath)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "u" && f[1] == user {
			found = true
		}
	}
	if !found {
		t.Fatalf("%s: no \"u %s ...\" line for the unit's User=%s", sysusersPath, user, user)
	}
	sysusers, err := exec.LookPath("systemd-sysusers")
	if err != nil {
		t.Skip("systemd-sysusers is not installed: only the file's text was checked")
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(sysusersPath)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sysusers, "--root="+root, abs).CombinedOutput()
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("systemd-sysusers --root needs root here: %v\n%s", err, out)
		}
		t.Fatalf("systemd-sysusers %s: %v\n%s", sysusersPath, err, out)
	}
	for file, name := range map[string]string{"passwd": user, "group": group} {
		data, err := os.ReadFile(filepath.Join(root, "etc", file))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:`).Match(data) {
			t.Errorf("systemd-sysusers %s made no %s entry %q:\n%s", sysusersPath, file, name, data)
		}
	}
}

// tomlBlockRe finds the TOML code blocks of a Markdown file.
var tomlBlockRe = regexp.MustCompile("(?s)```toml\n(.*?)```")

// TestDocumentedClusterFiles checks every cluster file the README and the operations
// guide show: totemd accepts each, as node 1 of it, so that what an operator copies
// works.
func TestDocumentedClusterFiles(t *testing.T) {
	h := totemdHelp(t)
	dir := t.TempDir()
	for _, doc := range []string{"../README.md", "../docs/OPERATIONS.md"} {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		blocks := tomlBlockRe.FindAllSubmatch(data, -1)
		if len(blocks) == 0 {
			t.Errorf("%s shows no cluster file (a ```toml block)", doc)
		}
		for i, b := range blocks {
			path := filepath.Join(dir, fmt.Sprintf("%s-%d.toml", filepath.Base(doc), i))
			if err := os.WriteFile(path, b[1], 0o644); err != nil {
				t.Fatal(err)
			}
			if ok, msg := checkConfig(t, h, path, append(probeFlags(dir), "--node-id", "1")...); !ok {
				t.Errorf("%s: cluster file %d is refused:\n%s\n%s", doc, i+1, b[1], msg)
			}
		}
	}
}
