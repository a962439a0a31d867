package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/totem-gcs/totem/cmd/internal/buildinfo"
	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/multicast"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/ipc"
	"github.com/totem-gcs/totem/totem/proto"
)

func newApp() *cli.App {
	return &cli.App{
		Name:  "totemd",
		Usage: "the totem daemon: a Totem ring member serving process groups over a Unix socket",
		Description: "With no flags, totemd runs a one-node ring on 127.0.0.1 and prints where its socket is.\n" +
			"With --peer flags and no --mcast it uses unicast only (udpu); with --mcast, IP multicast.",
		Flags:        daemonFlags(),
		Action:       run,
		Version:      buildinfo.Version(),
		OnUsageError: usageError,
		// main reports errors and picks the exit status (cliutil.ExitCode); the app itself
		// never exits the process, so tests can run it.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{{
			Name:         "keygen",
			Usage:        "write a new random pre-shared key",
			ArgsUsage:    "PATH",
			Action:       keygen,
			OnUsageError: usageError,
		}, {
			Name:         "check-config",
			Usage:        "check a config file (and any flags given before the command) without starting",
			ArgsUsage:    "FILE",
			Action:       checkConfig,
			OnUsageError: usageError,
		}, {
			Name:   "version",
			Usage:  "print the version: module version, commit and Go version",
			Action: func(c *cli.Context) error { return printVersion(c) },
		}},
	}
}

// daemonFlags are totemd's flags; the cluster file's keys are made from them too
// (fileKeys).
func daemonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.UintFlag{Name: "node-id", Value: 1, Usage: "this node's id (1..4294967295, unique in the cluster)"},
		&cli.StringFlag{Name: "cluster", Value: "totem", Usage: "cluster name (clusters sharing a network ignore each other)"},
		&cli.StringFlag{Name: "listen", Value: "127.0.0.1:5405", Usage: "this node's unicast address `HOST:PORT`"},
		&cli.StringFlag{Name: "mcast", Usage: "ring multicast address `GROUP:PORT`"},
		&cli.StringFlag{Name: "interface", Usage: "interface for multicast (default: the one owning --listen)"},
		&cli.StringSliceFlag{Name: "peer", Usage: "a member `ID@HOST:PORT` (repeatable)"},
		&cli.StringFlag{Name: "socket", Usage: "Unix socket `PATH` for clients (default: a per-user runtime location)"},
		&cli.StringFlag{Name: "state-dir", Usage: "`DIR` keeping the ring sequence number across restarts"},
		&cli.StringFlag{Name: "key-file", Usage: "pre-shared key `PATH` (32 bytes, mode 0600, see 'totemd keygen'): datagrams are encrypted and authenticated with it"},
		&cli.BoolFlag{Name: "unauthenticated", Usage: "allow running without --key-file on a non-loopback address, where anyone who reaches the ports can forge tokens and messages"},
		&cli.DurationFlag{Name: "token-timeout", Value: 3 * time.Second, Usage: "token loss timeout of a ring of up to two nodes; the other timers follow from it"},
		&cli.DurationFlag{Name: "token-coefficient", Value: 650 * time.Millisecond, Usage: "added to --token-timeout for each node beyond two (--peer, or the cluster file's nodes), as Corosync does (0: none)"},
		&cli.StringFlag{Name: "config", Usage: "cluster `FILE` (TOML) shared by every node: the flags' names as keys, and the nodes as [[node]] tables (id, address); flags win"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text (key=value) or json (one object per line)"},
		&cli.IntFlag{Name: "max-message-size", Value: 1 << 20, Usage: "largest application message in `BYTES`"},
		&cli.BoolFlag{Name: "gso", Value: true, Usage: "hand a large datagram's frames to the kernel as one send (UDP segmentation offload, Linux)"},
		&cli.BoolFlag{Name: "multicast-loop", Usage: "loop our multicasts back to this host, for other nodes on it (default: only when --listen is a loopback address)"},
		&cli.IntFlag{Name: "mtu", Value: multicast.DefaultMTU, Usage: "the network's MTU in `BYTES` (576..65535): the largest frame sent, IP and UDP headers included"},
		&cli.IntFlag{Name: "datagram-size", Value: DefaultDatagramSize, Usage: "largest ring datagram in `BYTES` (0: one frame; up to 65507); larger ones carry more messages per token visit and are cut into --mtu frames by totemd itself"},
		&cli.IntFlag{Name: "event-queue", Value: 65536, Usage: "events queued per client before it is cut off as a slow consumer"},
		&cli.DurationFlag{Name: "hello-timeout", Value: 5 * time.Second, Usage: "how long a new client may take to send its hello before it is disconnected with a timeout error"},
		&cli.IntFlag{Name: "event-queue-bytes", Value: 64 << 20, Usage: "payload `BYTES` queued per client before it is cut off as a slow consumer"},
		&cli.UintSliceFlag{Name: "allow-uid", Usage: "allow clients with this `UID` only (repeatable; root always allowed)"},
		&cli.UintSliceFlag{Name: "allow-gid", Usage: "allow clients with this primary `GID` only (repeatable)"},
		&cli.StringFlag{Name: "impair", Hidden: true, Usage: "TESTING ONLY: delay, jitter, lose, duplicate and reorder received datagrams (`delay=2ms,jitter=1ms,loss=0.01,dup=0.01,reorder=0.02,seed=N`)"},
		&cli.StringFlag{Name: "cpu-profile", Usage: "write a CPU profile (go tool pprof) to `FILE` until the daemon stops"},
		&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus metrics on `HOST:PORT` (off by default)"},
	}
}

func printVersion(c *cli.Context) error {
	if c.NArg() > 0 {
		return cliutil.Usagef("version takes no arguments, got %q", c.Args().First())
	}
	fmt.Fprintln(c.App.Writer, "totemd", c.App.Version)
	return nil
}

func joinUint(ids []uint32) string {
	if len(ids) == 0 {
		return "any"
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(parts, ", ")
}

// usageError is urfave/cli's flag parsing error as a short message and exit status 2,
// instead of the whole help. A duration without a unit gets the hint it needs.
func usageError(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if m := badFlagValue.FindStringSubmatch(msg); m != nil && isDurationFlag(m[1]) {
		msg += " (a duration needs a unit: 3s, 500ms)"
	}
	return cliutil.Usagef("%s (see totemd --help)", msg)
}

// badFlagValue matches the flag package's refusal of a flag's value.
var badFlagValue = regexp.MustCompile(`invalid value ".*" for flag -{1,2}([a-z0-9-]+)`)

func isDurationFlag(name string) bool {
	for _, f := range daemonFlags() {
		if _, ok := f.(*cli.DurationFlag); ok && f.Names()[0] == name {
			return true
		}
	}
	return false
}

// checkConfig validates a config file as "totemd --config FILE" would, with the flags
// given before the command on top, and prints the settings that result; it opens
// nothing.
func checkConfig(c *cli.Context) error {
	if c.NArg() != 1 {
		return cliutil.Usagef("usage: totemd [flags] check-config FILE")
	}
	path := c.Args().First()
	if _, err := os.Stat(path); err != nil {
		return cliutil.Usagef("config: %v", err)
	}
	if err := c.Set("config", path); err != nil {
		return err
	}
	s, err := load(c)
	if err != nil {
		return cliutil.Usagef("%v", err)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "%s: ok\n", path)
	fmt.Fprintf(w, "node %d of cluster %q on %s, %s\n", s.nodeID, s.cluster, s.listen, s.transportName())
	if s.picked != "" {
		fmt.Fprintf(w, "this is node %d %s\n", s.nodeID, s.picked)
	}
	if len(s.peers) > 0 {
		ids := slices.Sorted(maps.Keys(s.peers))
		for _, id := range ids {
			line := fmt.Sprintf("  peer %d at %s", id, s.peers[id])
			if name := s.names[id]; name != "" {
				line += " (" + name + ")"
			}
			if id == s.nodeID {
				line += ", this node"
			}
			fmt.Fprintln(w, line)
		}
	}
	key := "none (datagrams are only checksummed)"
	if s.keyFile != "" {
		key = s.keyFile
	}
	fmt.Fprintf(w, "key %s; token timeout %v (effective)\nsocket %s; state in %s\n", key, s.tokenTimeout, s.socket, s.stateDir)
	if len(s.allowUIDs)+len(s.allowGIDs) > 0 {
		fmt.Fprintf(w, "clients: uid %s; gid %s (and root)\n", joinUint(s.allowUIDs), joinUint(s.allowGIDs))
	}
	fmt.Fprintf(w, "clients send their hello within %v; each may have %d events or %d bytes queued\n", s.helloTimeout, s.eventQueue, s.eventQueueBytes)
	return nil
}

// startCPUProfile profiles the whole process into path; stop ends and flushes it.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func keygen(c *cli.Context) error {
	path := c.Args().First()
	if path == "" {
		return cliutil.Usagef("usage: totemd keygen PATH")
	}
	// Missing directories are created for the owner only; existing ones are left as
	// they are (an operator's /etc/totem keeps its mode).
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(multicast.GenerateKey()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "wrote a %d-byte key to %s (mode 0600); copy it to every node\n", multicast.KeySize, path)
	return nil
}

// load merges the cluster file (if any) under the flags.
func load(c *cli.Context) (*settings, error) {
	cf := &clusterFile{values: map[string][]string{}, lines: map[string]int{}}
	if path := c.String("config"); path != "" {
		var err error
		if cf, err = readClusterFile(path); err != nil {
			return nil, err
		}
	}
	file, lines := cf.values, cf.lines
	get := func(name string) string {
		if c.IsSet(name) || len(file[name]) == 0 {
			return fmt.Sprint(c.Value(name))
		}
		return file[name][len(file[name])-1]
	}
	// inFile names the config file, the line and the value in a refusal of settings it
	// gave.
	inFile := func(err error, names ...string) error {
		for _, name := range names {
			if !c.IsSet(name) && len(file[name]) > 0 {
				v := file[name][len(file[name])-1]
				return fmt.Errorf("config %s:%d: %s %q: %w", cf.path, lines[name], name, v, err)
			}
		}
		return err
	}
	s := &settings{cluster: get("cluster"), iface: get("interface"), socket: get("socket"),
		stateDir: get("state-dir"), keyFile: get("key-file"), logLevel: get("log-level"), logFormat: get("log-format"),
		metrics: get("metrics"), peers: map[wire.NodeID]netip.AddrPort{}}
	id, err := strconv.ParseUint(get("node-id"), 0, 64)
	if err != nil || id == 0 || id > 1<<32-1 {
		return nil, inFile(fmt.Errorf("--node-id must be 1..4294967295"), "node-id")
	}
	s.nodeID = wire.NodeID(id)
	if m := get("mcast"); m != "" {
		if s.mcast, err = netip.ParseAddrPort(m); err != nil {
			return nil, inFile(fmt.Errorf("--mcast: %w", err), "mcast")
		}
	}
	if err := cf.checkTransport(s.mcast.IsValid()); err != nil {
		return nil, err
	}
	if len(cf.nodes) > 0 && !c.IsSet("peer") {
		// The file's node list: this node is the entry --node-id names, or the one at
		// an address of this host; its address is where it listens.
		nodes, err := cf.resolveNodes()
		if err != nil {
			return nil, err
		}
		given := c.IsSet("node-id") || len(file["node-id"]) > 0
		if s.nodeID, s.picked, err = cf.pickSelf(nodes, s.nodeID, given, localAddrs); err != nil {
			return nil, err
		}
		s.peers = nodes
		s.names = cf.names()
		if c.IsSet("listen") || len(file["listen"]) > 0 {
			if s.listen, err = resolveAddrPort(get("listen")); err != nil {
				return nil, inFile(fmt.Errorf("--listen: %w", err), "listen")
			}
			if s.listen != nodes[s.nodeID] {
				return nil, inFile(fmt.Errorf("--listen is %s, but %s lists node %d at %s", s.listen, cf.path, s.nodeID, nodes[s.nodeID]), "listen")
			}
		}
		s.listen = nodes[s.nodeID]
	} else {
		if s.listen, err = resolveAddrPort(get("listen")); err != nil {
			return nil, inFile(fmt.Errorf("--listen: %w", err), "listen")
		}
		if err := s.setPeers(c.StringSlice("peer")); err != nil {
			return nil, inFile(err, "node-id", "listen", "mcast")
		}
	}
	if s.tokenTimeout, err = time.ParseDuration(get("token-timeout")); err != nil || s.tokenTimeout < 30*time.Millisecond {
		return nil, inFile(fmt.Errorf("--token-timeout must be a duration of at least 30ms"), "token-timeout")
	}
	coefficient, err := time.ParseDuration(get("token-coefficient"))
	if err != nil || coefficient < 0 {
		return nil, inFile(fmt.Errorf("--token-coefficient must be a duration of at least 0s"), "token-coefficient")
	}
	s.tokenTimeout = scaledTokenTimeout(s.tokenTimeout, coefficient, len(s.peers))
	if s.maxMessage, err = atoi(get("max-message-size")); err != nil || s.maxMessage < 1 || s.maxMessage > 64<<20 {
		return nil, inFile(fmt.Errorf("--max-message-size must be 1..67108864"), "max-message-size")
	}
	if s.mtu, err = atoi(get("mtu")); err != nil || s.mtu < 576 || s.mtu > 65535 {
		return nil, inFile(fmt.Errorf("--mtu must be 576..65535"), "mtu")
	}
	s.mcastLoop = s.listen.Addr().IsLoopback() || s.listen.Addr().IsUnspecified()
	if v := get("multicast-loop"); c.IsSet("multicast-loop") || len(file["multicast-loop"]) > 0 {
		if s.mcastLoop, err = strconv.ParseBool(v); err != nil {
			return nil, inFile(fmt.Errorf("--multicast-loop must be true or false"), "multicast-loop")
		}
	}
	if s.gso, err = strconv.ParseBool(get("gso")); err != nil {
		return nil, inFile(fmt.Errorf("--gso must be true or false"), "gso")
	}
	if s.datagram, err = atoi(get("datagram-size")); err != nil || s.datagram < 0 || s.datagram > 65507 {
		return nil, inFile(fmt.Errorf("--datagram-size must be 0..65507"), "datagram-size")
	}
	if s.eventQueue, err = atoi(get("event-queue")); err != nil || s.eventQueue < 16 {
		return nil, inFile(fmt.Errorf("--event-queue must be at least 16"), "event-queue")
	}
	if s.eventQueueBytes, err = atoi(get("event-queue-bytes")); err != nil || s.eventQueueBytes < 1<<16 {
		return nil, inFile(fmt.Errorf("--event-queue-bytes must be at least 65536"), "event-queue-bytes")
	}
	if s.helloTimeout, err = time.ParseDuration(get("hello-timeout")); err != nil || s.helloTimeout < 10*time.Millisecond {
		return nil, inFile(fmt.Errorf("--hello-timeout must be a duration of at least 10ms"), "hello-timeout")
	}
	if s.unauthenticated, err = strconv.ParseBool(get("unauthenticated")); err != nil {
		return nil, inFile(fmt.Errorf("--unauthenticated must be true or false"), "unauthenticated")
	}
	for _, list := range []struct {
		name string
		to   *[]uint32
	}{{"allow-uid", &s.allowUIDs}, {"allow-gid", &s.allowGIDs}} {
		if c.IsSet(list.name) {
			for _, v := range c.UintSlice(list.name) {
				if v > 1<<32-1 {
					return nil, fmt.Errorf("--%s %d is out of range", list.name, v)
				}
				*list.to = append(*list.to, uint32(v))
			}
			continue
		}
		for _, text := range file[list.name] {
			v, err := strconv.ParseUint(text, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("config %s:%d: %s %q: want a numeric id", cf.path, lines[list.name], list.name, text)
			}
			*list.to = append(*list.to, uint32(v))
		}
	}
	if err := checkMetricsAddr(s.metrics); err != nil {
		return nil, inFile(err, "metrics")
	}
	if err := s.checkAuthentication(); err != nil {
		return nil, inFile(err, "listen", "key-file", "unauthenticated")
	}
	if _, err := logger(s.logLevel, s.logFormat, os.Stderr); err != nil {
		return nil, inFile(err, "log-level", "log-format")
	}
	if s.socket == "" {
		s.socket = proto.DefaultSocket()
	}
	if s.stateDir == "" {
		s.stateDir = filepath.Join(filepath.Dir(s.socket), fmt.Sprintf("state-%d", s.nodeID))
	}
	return s, nil
}

// atoi parses an int setting as its flag does: all of it (a file's "max-message-size 1MB"
// is refused, not read as 1), base prefixes allowed.
func atoi(s string) (int, error) {
	n, err := strconv.ParseInt(s, 0, strconv.IntSize)
	return int(n), err
}

// logger is the daemon's log on w: at level, as text (key=value) or JSON lines.
func logger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func run(c *cli.Context) error {
	if c.NArg() > 0 {
		return cliutil.Usagef("unexpected argument %q: the commands are keygen, check-config and version", c.Args().First())
	}
	s, err := load(c)
	if err != nil {
		return cliutil.Usagef("%v", err)
	}
	log, err := logger(s.logLevel, s.logFormat, os.Stderr)
	if err != nil {
		return cliutil.Usagef("%v", err)
	}
	if path := c.String("cpu-profile"); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			return cliutil.Usagef("%v", err)
		}
		defer stop()
	}
	if s.keyFile == "" && !s.listen.Addr().IsLoopback() {
		log.Warn("UNAUTHENTICATED: no --key-file on a non-loopback address; anyone who can reach this node's ports can forge tokens, joins and messages",
			"listen", s.listen, "fix", "totemd keygen PATH, the same key on every node, --key-file PATH")
	}
	log.Info("totemd", "version", c.App.Version)
	if s.picked != "" {
		log.Info("cluster file", "file", c.String("config"), "node", s.nodeID, "found", s.picked, "nodes", len(s.peers))
	}
	var im multicast.Impairment
	if spec := c.String("impair"); spec != "" {
		if im, err = multicast.ParseImpairment(spec); err != nil {
			return cliutil.Usagef("--impair: %v", err)
		}
	}
	udp, err := transport(s, log)
	if err != nil {
		return err
	}
	var tr multicast.Transport = udp
	if c.String("impair") != "" {
		tr = multicast.Impair(udp, im)
		log.Warn("IMPAIRED: received datagrams are delayed, lost, duplicated and reordered on purpose (--impair, a test option)", "impairment", im.String())
	}
	defer tr.Close()

	cfg := totem.DefaultConfig(s.nodeID)
	cfg.ClusterName, cfg.StateDir, cfg.Logger = s.cluster, s.stateDir, log
	cfg.Authenticated = s.keyFile != ""
	cfg.Nodes = s.peers // for status: which configured nodes are in the ring
	cfg.Membership.SetTokenTimeout(s.tokenTimeout)
	log.Info("timers", "token", cfg.Membership.Ring.TokenTimeout, "token_retransmit", cfg.Membership.Ring.TokenRetransmit,
		"consensus", cfg.Membership.Consensus, "join", cfg.Membership.Join, "merge", cfg.Membership.Merge)
	cfg.MaxMessageSize, cfg.EventQueue, cfg.EventQueueBytes = s.maxMessage, s.eventQueue, s.eventQueueBytes
	node, err := totem.New(cfg, tr)
	if err != nil {
		return err
	}
	if s.metrics != "" {
		mctx, stopMetrics := context.WithCancel(c.Context)
		defer stopMetrics()
		addr, err := serveMetrics(mctx, s.metrics, node, log)
		if err != nil {
			return err
		}
		log.Info("serving metrics", "addr", addr.String(), "path", "/metrics")
	}
	if err := os.MkdirAll(filepath.Dir(s.socket), 0o750); err != nil {
		return err
	}
	ln, err := ipc.Listen(s.socket, 0o660)
	if err != nil {
		return err
	}
	mode := "udpu"
	if s.mcast.IsValid() {
		mode = "multicast " + s.mcast.String()
	}
	fmt.Fprintf(c.App.Writer, "totemd: node %d of cluster %q on %s (%s); clients connect to %s\n",
		s.nodeID, s.cluster, udp.LocalAddr(), mode, s.socket)

	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	served := make(chan error, 1)
	opts := ipc.ServerOptions{Logger: log, MaxMessageSize: node.MaxMessageSize()}
	opts.AllowUIDs, opts.AllowGIDs = s.allowUIDs, s.allowGIDs
	opts.HelloTimeout = s.helloTimeout
	go func() { served <- ipc.Serve(ctx, ln, node, opts) }()
	runErr := node.Run(ctx)
	cancel()
	serveErr := <-served
	if errors.Is(serveErr, context.Canceled) {
		serveErr = nil
	}
	return errors.Join(runErr, serveErr)
}

// transport opens the UDP transport the settings describe.
func transport(s *settings, log *slog.Logger) (*multicast.UDP, error) {
	var key []byte
	if s.keyFile != "" {
		var err error
		if key, err = multicast.LoadKeyFile(s.keyFile); err != nil {
			return nil, err
		}
	}
	sealer, err := multicast.NewSealer(key)
	if err != nil {
		return nil, err
	}
	var peers map[wire.NodeID]netip.AddrPort // a multicast ring learns addresses from traffic
	if !s.mcast.IsValid() {
		// udpu: the member list must include us.
		peers = maps.Clone(s.peers)
		if _, ok := peers[s.nodeID]; !ok {
			peers[s.nodeID] = s.listen
		}
	}
	return multicast.NewUDP(multicast.UDPConfig{
		NodeID:     s.nodeID,
		Cluster:    wire.ClusterHash(s.cluster),
		Listen:     s.listen,
		Mcast:      s.mcast,
		Interface:  s.iface,
		TTL:        1,
		Peers:      peers,
		Sealer:     sealer,
		MTU:        s.mtu,
		Datagram:   s.datagram,
		NoLoopback: !s.mcastLoop,
		NoGSO:      !s.gso,
		Logger:     log,
	})
}
