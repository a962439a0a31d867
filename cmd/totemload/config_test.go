package main

import (
	"io"
	"strings"
	"testing"

	"github.com/totem-gcs/totem/totem/client"
)

func noEnv(string) string { return "" }

func TestConfigDefaults(t *testing.T) {
	cfg, err := parseConfig([]string{"-m", "tput", "-i", "2", "-n", "3"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{level: client.Agreed, idx: 2, nodes: 3, senders: 3, count: 100000, size: 1024, rate: 1000, sendSecs: 15, hardSecs: 40,
		joinSecs: 30, group: "bench", label: "totemd", runID: 1, socket: client.DefaultSocket()}
	if cfg != want {
		t.Errorf("defaults\n got %+v\nwant %+v", cfg, want)
	}
	if cfg.mode() != "tput" || !cfg.isSender() || cfg.latCap() != 0 {
		t.Errorf("mode %s sender %v latCap %d", cfg.mode(), cfg.isSender(), cfg.latCap())
	}
}

func TestConfigFlags(t *testing.T) {
	env := func(k string) string {
		if k == "TOTEM_SOCKET" {
			return "/env/totemd.sock"
		}
		return ""
	}
	cfg, err := parseConfig(strings.Fields("-L totemd -m lat -r 333.5 -d 2 -i 3 -n 5 -k 2 -s 100 -T 22 -w 3.5 -g grp -R 0x2a -l /tmp/x -v"), env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{level: client.Agreed, lat: true, idx: 3, nodes: 5, senders: 2, count: 667, size: 100, rate: 333.5, sendSecs: 2, hardSecs: 22,
		joinSecs: 3.5, group: "grp", label: "totemd", logPath: "/tmp/x", runID: 42, verbose: true, socket: "/env/totemd.sock"}
	if cfg != want {
		t.Errorf("flags\n got %+v\nwant %+v", cfg, want)
	}
	if cfg.mode() != "lat" || cfg.isSender() || cfg.latCap() != 667*2 {
		t.Errorf("mode %s sender %v latCap %d", cfg.mode(), cfg.isSender(), cfg.latCap())
	}
	for _, tt := range []struct {
		args  string
		count uint64
	}{
		{"-m tput -i 1 -n 1 -c 0", 0},
		{"-m tput -i 1 -n 1 -c -1", 100000}, // negative: the default, as cpgload
		{"-m lat -i 1 -n 1 -c 5", 5},
		{"-m lat -i 1 -n 1 -r 200 -d 1", 200},
		{"-m lat -i 1 -n 1", 15000},
	} {
		cfg, err := parseConfig(strings.Fields(tt.args), noEnv, io.Discard)
		if err != nil || cfg.count != tt.count {
			t.Errorf("%s: count %d, %v; want %d", tt.args, cfg.count, err, tt.count)
		}
	}
	cfg, err = parseConfig(strings.Fields("-m tput -i 1 -n 1 -socket /s -k 0"), env, io.Discard)
	if err != nil || cfg.socket != "/s" || cfg.senders != 1 {
		t.Errorf("-socket /s -k 0: %+v, %v", cfg, err)
	}
	cfg, err = parseConfig(strings.Fields("-m lat -i 1 -n 64 -k 64 -s 1048576 -T 600 -w -1 -c 50000000"), env, io.Discard)
	if err != nil || cfg.latCap() != maxLatSamples {
		t.Errorf("the limits themselves: %+v, %v", cfg, err)
	}
}

func TestConfigInvalid(t *testing.T) {
	for _, args := range []string{
		"",
		"-i 1 -n 1",
		"-m bogus -i 1 -n 1",
		"-m tput -n 1",
		"-m tput -i 1",
		"-m tput -i 0 -n 1",
		"-m tput -i 2 -n 1",
		"-m tput -i 1 -n 2 -k 3",
		"-m tput -i 1 -n 65 -k 65",
		"-m tput -i 1 -n 1 -s 31",
		"-m tput -i 1 -n 1 -s 1048577",
		"-m tput -i 1 -n 1 -s abc",
		"-m lat -i 1 -n 1 -r 0",
		"-m lat -i 1 -n 1 -r -5",
		"-m lat -i 1 -n 1 -r NaN",
		"-m tput -i 1 -n 1 -d 0",
		"-m tput -i 1 -n 1 -T 0",
		"-m tput -i 1 -n 1 -T 601",
		"-m tput -i 1 -n 1 -w NaN",
		"-m tput -i 1 -n 1 -c 50000001",
		"-m lat -i 1 -n 1 -r 1e6 -d 51",
		"-m tput -i 1 -n 1 -g " + strings.Repeat("g", 128),
		"-m tput -i 1 -n 1 -R -1",
		"-m tput -i 1 -n 1 -R 4294967296",
		"-m tput -i 1 -n 1 -x",
		"-m tput -i 1 -n 1 extra",
		"-h",
	} {
		var stderr strings.Builder
		if _, err := parseConfig(strings.Fields(args), noEnv, &stderr); err != errUsage {
			t.Errorf("%q: %v, want a usage error", args, err)
		} else if !strings.Contains(stderr.String(), "usage: totemload -m tput|lat") {
			t.Errorf("%q: no usage on stderr: %q", args, stderr.String())
		}
	}
	// An empty -g (which Fields cannot express).
	if _, err := parseConfig([]string{"-m", "tput", "-i", "1", "-n", "1", "-g", ""}, noEnv, io.Discard); err != errUsage {
		t.Errorf("-g '': %v", err)
	}
}

func TestConfigLevel(t *testing.T) {
	base := []string{"-m", "tput", "-i", "1", "-n", "1"}
	env := func(level string) func(string) string {
		return func(k string) string {
			if k == "TOTEMLOAD_LEVEL" {
				return level
			}
			return ""
		}
	}
	if cfg, err := parseConfig(base, env("safe"), io.Discard); err != nil || cfg.level != client.Safe {
		t.Errorf("TOTEMLOAD_LEVEL=safe: %v, %v", cfg.level, err)
	}
	if cfg, err := parseConfig(append(base, "-level", "agreed"), env("safe"), io.Discard); err != nil || cfg.level != client.Agreed {
		t.Errorf("-level agreed over the environment: %v, %v", cfg.level, err)
	}
	if _, err := parseConfig(append(base, "-level", "fifo"), env(""), io.Discard); err == nil {
		t.Error("-level fifo accepted")
	}
}
