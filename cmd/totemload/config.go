package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/totem-gcs/totem/totem/client"
)

// Limits, as cpgload's.
const (
	maxSenders  = 64
	maxSize     = 1024 * 1024
	maxCount    = 50_000_000
	maxHardSecs = 600
	// maxGroupLen is the longest group name: cpgload's limit (below
	// CPG_MAX_NAME_LENGTH, 128), which totemd's 255 bytes include.
	maxGroupLen = 127
	// maxLatSamples bounds the latency samples kept.
	maxLatSamples = 20_000_000
)

// Defaults, as cpgload's.
const (
	defSize      = 1024
	defRate      = 1000
	defSendSecs  = 15
	defHardSecs  = 40
	defJoinSecs  = 30
	defGroup     = "bench"
	defLabel     = "totemd"
	defRunID     = 1
	defTputCount = 100000
)

// config is the command line.
type config struct {
	lat      bool
	idx      int // this node's index, 1..nodes
	nodes    int
	senders  int
	count    uint64 // data messages per sender
	size     uint32 // whole message, header included
	rate     float64
	sendSecs float64
	hardSecs float64
	joinSecs float64
	group    string
	label    string
	logPath  string
	runID    uint32
	verbose  bool
	socket   string
	level    client.Level // -level, or TOTEMLOAD_LEVEL (the harness's contract has no flag for it)
}

func (c *config) isSender() bool { return c.idx <= c.senders }

func (c *config) mode() string {
	if c.lat {
		return "lat"
	}
	return "tput"
}

// latCap is how many latency samples are kept.
func (c *config) latCap() int {
	if !c.lat {
		return 0
	}
	return int(min(c.count*uint64(c.senders), maxLatSamples))
}

// errUsage reports a command line that does not parse or validate; the usage has been
// printed.
var errUsage = errors.New("usage")

const usageText = `usage: totemload -m tput|lat -i IDX -n NODES [-k SENDERS] [-s SIZE] [-c COUNT]
                 [-r RATE] [-d SEND_S] [-T TOTAL_S] [-w JOIN_S] [-g GROUP]
                 [-R RUNID] [-L LABEL] [-l DELIVERY_LOG] [-v] [-socket PATH]
  -i IDX     this node's index 1..NODES; nodes with IDX <= SENDERS send
  -k         number of sending nodes (default: NODES)
  -s         message size in bytes, >= %d (default %d)
  -c         data messages per sender (tput default %d; lat default rate*SEND_S)
  -r         lat mode: messages/s per sender (default %d)
  -d         stop sending after this many seconds (default %d)
  -T         hard bound on the whole run after the group formed (default %d)
  -w         bound on waiting for NODES members (default %d)
  -g         group name (default %q)
  -R         run id; messages with another run id are ignored (default %d)
  -L         label printed as sys= (default %q)
  -l         write the delivery sequence to this file, one line per message
  -v         report membership changes on stderr
  -socket    the daemon's socket (default: $TOTEM_SOCKET, else %s)
`

// parseConfig parses and validates the command line as cpgload does. On an error it
// has printed the reason and the usage to stderr.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var (
		cfg      config
		mode     string
		size     int64
		countOpt int64
		runID    string
	)
	defSocket := getenv("TOTEM_SOCKET")
	if defSocket == "" {
		defSocket = client.DefaultSocket()
	}
	fs := flag.NewFlagSet("totemload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, usageText, hdrLen, defSize, defTputCount, defRate, defSendSecs, defHardSecs,
			defJoinSecs, defGroup, defRunID, defLabel, client.DefaultSocket())
	}
	fs.StringVar(&mode, "m", "", "tput or lat")
	fs.IntVar(&cfg.idx, "i", 0, "this node's index")
	fs.IntVar(&cfg.nodes, "n", 0, "number of nodes")
	fs.IntVar(&cfg.senders, "k", 0, "number of senders")
	fs.Int64Var(&size, "s", defSize, "message size")
	fs.Int64Var(&countOpt, "c", -1, "data messages per sender")
	fs.Float64Var(&cfg.rate, "r", defRate, "lat: messages/s per sender")
	fs.Float64Var(&cfg.sendSecs, "d", defSendSecs, "sending window, seconds")
	fs.Float64Var(&cfg.hardSecs, "T", defHardSecs, "hard bound, seconds")
	fs.Float64Var(&cfg.joinSecs, "w", defJoinSecs, "join bound, seconds")
	fs.StringVar(&cfg.group, "g", defGroup, "group")
	fs.StringVar(&runID, "R", strconv.Itoa(defRunID), "run id")
	fs.StringVar(&cfg.label, "L", defLabel, "label")
	fs.StringVar(&cfg.logPath, "l", "", "delivery log")
	fs.BoolVar(&cfg.verbose, "v", false, "verbose")
	fs.StringVar(&cfg.socket, "socket", defSocket, "the daemon's socket")
	level := getenv("TOTEMLOAD_LEVEL")
	if level == "" {
		level = string(client.Agreed)
	}
	fs.StringVar(&level, "level", level, "service level: agreed or safe")
	if err := fs.Parse(args); err != nil {
		return cfg, errUsage // the flag package has printed the error and the usage
	}
	bad := func(format string, a ...any) (config, error) {
		fmt.Fprintf(stderr, "totemload: "+format+"\n", a...)
		fs.Usage()
		return cfg, errUsage
	}
	if fs.NArg() > 0 {
		return bad("unexpected arguments %q", fs.Args())
	}
	switch mode {
	case "lat":
		cfg.lat = true
	case "tput":
	default:
		return bad("-m must be tput or lat")
	}
	if cfg.senders == 0 {
		cfg.senders = cfg.nodes
	}
	switch {
	case cfg.nodes < 1:
		return bad("-n must be at least 1")
	case cfg.idx < 1 || cfg.idx > cfg.nodes:
		return bad("-i must be 1..NODES")
	case cfg.senders < 1 || cfg.senders > cfg.nodes || cfg.senders > maxSenders:
		return bad("-k must be 1..NODES and at most %d", maxSenders)
	case size < hdrLen || size > maxSize:
		return bad("-s must be %d..%d", hdrLen, maxSize)
	case !(cfg.rate > 0) || math.IsInf(cfg.rate, 0):
		return bad("-r must be positive")
	case !(cfg.sendSecs > 0):
		return bad("-d must be positive")
	case !(cfg.hardSecs > 0) || cfg.hardSecs > maxHardSecs:
		return bad("-T must be in (0, %d]", maxHardSecs)
	case math.IsNaN(cfg.joinSecs):
		return bad("-w must be a number")
	case cfg.group == "" || len(cfg.group) > maxGroupLen:
		return bad("-g must be 1..%d bytes", maxGroupLen)
	}
	switch client.Level(level) {
	case client.Agreed, client.Safe:
		cfg.level = client.Level(level)
	default:
		return bad("-level must be agreed or safe")
	}
	cfg.size = uint32(size)
	r, err := strconv.ParseUint(runID, 0, 32)
	if err != nil {
		return bad("-R must be an unsigned 32-bit number")
	}
	cfg.runID = uint32(r)
	switch {
	case countOpt >= 0:
		cfg.count = uint64(countOpt)
	case cfg.lat:
		c := cfg.rate * cfg.sendSecs
		if c > maxCount {
			return bad("-c must be at most %d", maxCount)
		}
		cfg.count = uint64(c)
	default:
		cfg.count = defTputCount
	}
	if cfg.count > maxCount {
		return bad("-c must be at most %d", maxCount)
	}
	return cfg, nil
}

// nanos converts seconds to nanoseconds, saturating far beyond any bound used here.
func nanos(secs float64) uint64 {
	const limit = 1 << 62
	switch ns := secs * 1e9; {
	case !(ns > 0):
		return 0
	case ns >= limit:
		return limit
	default:
		return uint64(ns)
	}
}
