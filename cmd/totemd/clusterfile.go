package main

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"github.com/urfave/cli/v2"

	"github.com/totem-gcs/totem/multicast/wire"
)

// A cluster file is TOML, one file shared unchanged by every node:
//
//	cluster = "prod"
//	transport = "udpu"            # or "multicast", with mcast = "GROUP:PORT"
//	key-file = "/etc/totem/authkey"
//	token-timeout = "3s"
//
//	[[node]]
//	id = 1
//	address = "10.0.0.1:5405"
//	name = "alpha"                # optional, for people
//
// Its top-level keys are totemd's flag names, each with its flag's type (a duration is
// a string, "3s"; allow-uid and allow-gid are lists of integers); a flag on the command
// line wins over the file. The [[node]] tables are the cluster's members; a node finds
// its own entry by --node-id or, without one, by the entry whose address is one of this
// host's. An unknown key, a wrong type, a key given twice or a value the flag would
// refuse stops the daemon with the file, the line, the key, the value and what to do.

// clusterFile is a cluster file as read: its settings as the flags' text, so that the
// file and the command line go through one parser (load) and cannot drift apart.
type clusterFile struct {
	path   string
	values map[string][]string // top-level key -> its value (each element, for a list)
	lines  map[string]int      // top-level key -> its line
	nodes  []fileNode
}

// fileNode is one [[node]] entry, its address not yet resolved.
type fileNode struct {
	id      uint64
	address string
	name    string
	line    int // the line of its id
}

// valueKind is the TOML type a key takes.
type valueKind int

const (
	kindString valueKind = iota
	kindInt
	kindBool
	kindDuration // a string that time.ParseDuration reads
	kindIntList
)

func (k valueKind) String() string {
	return [...]string{"a string", "an integer", "true or false", `a duration string ("3s", "500ms")`, "a list of integers ([1000, 1001])"}[k]
}

// notInFile are the flags that are not settings of a cluster: the file itself, its
// node list's flag form, and test and debugging aids.
var notInFile = map[string]string{
	"config":      "",
	"peer":        "the file lists the cluster's nodes as [[node]] tables (id, address)",
	"cpu-profile": "it is a debugging aid, a flag only",
	"impair":      "it is a test option, a flag only",
}

// fileKeys maps each top-level key of a cluster file to its kind: every flag of totemd
// (but notInFile), with its flag's type, and "transport". It is made from the flags
// themselves, so a new flag is a new key without another list to keep.
var fileKeys = sync.OnceValue(func() map[string]valueKind {
	keys := map[string]valueKind{"transport": kindString}
	for _, f := range daemonFlags() {
		name := f.Names()[0]
		if _, skip := notInFile[name]; skip {
			continue
		}
		switch f.(type) {
		case *cli.StringFlag:
			keys[name] = kindString
		case *cli.IntFlag, *cli.UintFlag:
			keys[name] = kindInt
		case *cli.BoolFlag:
			keys[name] = kindBool
		case *cli.DurationFlag:
			keys[name] = kindDuration
		case *cli.UintSliceFlag:
			keys[name] = kindIntList
		default:
			panic(fmt.Sprintf("totemd: flag --%s has a type (%T) the cluster file does not know", name, f))
		}
	}
	return keys
})

// nodeKeys are the keys of a [[node]] table.
var nodeKeys = map[string]valueKind{"id": kindInt, "address": kindString, "name": kindString}

// readClusterFile reads and checks the form of the cluster file at path: TOML syntax,
// known keys, their types. Values are checked by load, as the flags' are.
func readClusterFile(path string) (*clusterFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseClusterFile(path, data)
}

func parseClusterFile(path string, data []byte) (*clusterFile, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, tomlError(path, err)
	}
	lines := keyLines(data)
	f := &clusterFile{path: path, values: map[string][]string{}, lines: map[string]int{}}
	at := func(key string) string { return fmt.Sprintf("config %s:%d", path, lines[key]) }
	for _, key := range slices.Sorted(maps.Keys(doc)) {
		value := doc[key]
		if key == "node" {
			if err := f.readNodes(value, lines, at); err != nil {
				return nil, err
			}
			continue
		}
		kind, known := fileKeys()[key]
		if !known {
			if why, ok := notInFile[key]; ok && why != "" {
				return nil, fmt.Errorf("%s: unknown key %q: %s", at(key), key, why)
			}
			return nil, fmt.Errorf("%s: unknown key %q (the keys are totemd's flag names, see totemd --help; and [[node]] tables)", at(key), key)
		}
		text, err := valueText(value, kind)
		if err != nil {
			return nil, fmt.Errorf("%s: %s = %s: %w", at(key), key, tomlText(value), err)
		}
		f.values[key], f.lines[key] = text, lines[key]
	}
	return f, nil
}

func (f *clusterFile) readNodes(value any, lines map[string]int, at func(string) string) error {
	list, ok := value.([]any)
	if !ok {
		return fmt.Errorf("%s: node must be tables: [[node]] with id and address", at("node"))
	}
	for i, item := range list {
		table, ok := item.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: node %d is not a table: [[node]] with id and address", at("node"), i+1)
		}
		prefix := "node." + strconv.Itoa(i) + "."
		where := func(key string) string {
			if _, ok := lines[prefix+key]; ok {
				return at(prefix + key)
			}
			return at("node") // an inline table: the line of node
		}
		n := fileNode{line: lines[prefix+"id"]}
		if n.line == 0 {
			n.line = lines["node"]
		}
		for _, key := range slices.Sorted(maps.Keys(table)) {
			kind, known := nodeKeys[key]
			if !known {
				return fmt.Errorf("%s: unknown key %q in a [[node]] table (its keys are id, address and name)", where(key), key)
			}
			text, err := valueText(table[key], kind)
			if err != nil {
				return fmt.Errorf("%s: %s = %s: %w", where(key), key, tomlText(table[key]), err)
			}
			switch key {
			case "id":
				if n.id, err = strconv.ParseUint(text[0], 10, 32); err != nil || n.id == 0 {
					return fmt.Errorf("%s: id = %s: a node id must be 1..4294967295", where(key), text[0])
				}
			case "address":
				n.address = text[0]
			case "name":
				n.name = text[0]
			}
		}
		if n.id == 0 || n.address == "" {
			return fmt.Errorf("config %s:%d: a [[node]] table needs an id and an address (HOST:PORT)", f.path, n.line)
		}
		f.nodes = append(f.nodes, n)
	}
	return nil
}

// valueText is a TOML value of kind as the text its flag would take.
func valueText(v any, kind valueKind) ([]string, error) {
	switch kind {
	case kindString, kindDuration:
		if s, ok := v.(string); ok {
			return []string{s}, nil
		}
	case kindInt:
		if n, ok := v.(int64); ok {
			return []string{strconv.FormatInt(n, 10)}, nil
		}
	case kindBool:
		if b, ok := v.(bool); ok {
			return []string{strconv.FormatBool(b)}, nil
		}
	case kindIntList:
		if list, ok := v.([]any); ok {
			out := make([]string, 0, len(list))
			for _, item := range list {
				n, ok := item.(int64)
				if !ok || n < 0 || n > 1<<32-1 {
					return nil, fmt.Errorf("want %s, each 0..4294967295", kind)
				}
				out = append(out, strconv.FormatInt(n, 10))
			}
			return out, nil
		}
	}
	if kind == kindDuration {
		if _, ok := v.(int64); ok {
			return nil, fmt.Errorf("want %s: a duration needs a unit", kind)
		}
	}
	return nil, fmt.Errorf("want %s", kind)
}

// tomlText writes a decoded value as it would appear in the file.
func tomlText(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case []any:
		parts := make([]string, len(v))
		for i, item := range v {
			parts[i] = tomlText(item)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		return "{...}"
	}
	return fmt.Sprint(v)
}

// tomlError is a syntax error of the TOML parser as "config FILE:LINE: what".
func tomlError(path string, err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if key := strings.Join(de.Key(), "."); key != "" && !strings.Contains(msg, key) {
			msg = key + ": " + msg
		}
		return fmt.Errorf("config %s:%d: %s (the file is TOML: key = value, strings in quotes)", path, row, msg)
	}
	return fmt.Errorf("config %s: %w", path, err)
}

// keyLines says on which line each key of a TOML document is: "mtu" for a top-level
// key, "node.0.id" for the id of the first [[node]] table. The document has parsed
// already; a key the parser cannot place is simply absent.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	prefix := ""
	arrays := map[string]int{} // [[path]] -> tables seen
	path := func(e *unstable.Node) (string, int) {
		var parts []string
		line := 0
		for it := e.Key(); it.Next(); {
			if line == 0 {
				line = p.Shape(it.Node().Raw).Start.Line
			}
			parts = append(parts, string(it.Node().Data))
		}
		return strings.Join(parts, "."), line
	}
	// record notes the line of key and of each key it is within (a.b.c: a, a.b), where
	// they are first seen.
	record := func(key string, line int) {
		for i := range len(key) + 1 {
			if i == len(key) || key[i] == '.' {
				if _, seen := lines[key[:i]]; !seen {
					lines[key[:i]] = line
				}
			}
		}
	}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.KeyValue:
			key, line := path(e)
			record(prefix+key, line)
		case unstable.Table:
			key, line := path(e)
			record(key, line)
			prefix = key + "."
		case unstable.ArrayTable:
			key, line := path(e)
			record(key, line)
			prefix = key + "." + strconv.Itoa(arrays[key]) + "."
			arrays[key]++
		}
	}
	return lines
}

// checkTransport checks the file's transport against the multicast address in force.
func (f *clusterFile) checkTransport(multicast bool) error {
	t := f.values["transport"]
	if len(t) == 0 {
		return nil
	}
	at := fmt.Sprintf("config %s:%d: transport %q", f.path, f.lines["transport"], t[0])
	switch {
	case t[0] == "multicast" && !multicast:
		return fmt.Errorf("%s: a multicast ring needs its group: mcast = \"GROUP:PORT\" (239.192.0.1:5405, say)", at)
	case t[0] == "udpu" && multicast:
		return fmt.Errorf("%s: but mcast is set; a udpu ring sends to each node's address: remove mcast, or say transport = \"multicast\"", at)
	case t[0] != "udpu" && t[0] != "multicast":
		return fmt.Errorf("%s: want \"udpu\" (unicast to each node) or \"multicast\"", at)
	}
	return nil
}

// resolveNodes resolves the node list's addresses, each node and each address once.
func (f *clusterFile) resolveNodes() (map[wire.NodeID]netip.AddrPort, error) {
	nodes := map[wire.NodeID]netip.AddrPort{}
	lineOf := map[wire.NodeID]int{}
	byAddr := map[netip.AddrPort]wire.NodeID{}
	for _, n := range f.nodes {
		at := fmt.Sprintf("config %s:%d: node %d", f.path, n.line, n.id)
		id := wire.NodeID(n.id)
		addr, err := resolveAddrPort(n.address)
		if err != nil {
			return nil, fmt.Errorf("%s: address %w", at, err)
		}
		if _, dup := nodes[id]; dup {
			return nil, fmt.Errorf("%s: node %d is listed again (first on line %d); each node once, with a unique id", at, id, lineOf[id])
		}
		if other, dup := byAddr[addr]; dup {
			return nil, fmt.Errorf("%s: address %s is node %d's already (line %d); each node has its own HOST:PORT", at, addr, other, lineOf[other])
		}
		nodes[id], lineOf[id], byAddr[addr] = addr, n.line, id
	}
	return nodes, nil
}

// names are the node list's names, by id.
func (f *clusterFile) names() map[wire.NodeID]string {
	names := map[wire.NodeID]string{}
	for _, n := range f.nodes {
		if n.name != "" {
			names[wire.NodeID(n.id)] = n.name
		}
	}
	return names
}

// pickSelf finds this node's entry in the node list: the one id names when given, else
// the one entry whose address is an address of this host (local lists them). picked
// says how, for check-config and the start log.
func (f *clusterFile) pickSelf(nodes map[wire.NodeID]netip.AddrPort, id wire.NodeID, given bool, local func() ([]netip.Addr, error)) (wire.NodeID, string, error) {
	ids := slices.Sorted(maps.Keys(nodes))
	if given {
		if _, ok := nodes[id]; !ok {
			return 0, "", fmt.Errorf("config %s: node-id %d is not in its node list (%v); add a [[node]] table for it or give one of those ids", f.path, id, ids)
		}
		return id, "by its node id", nil
	}
	addrs, err := local()
	if err != nil {
		return 0, "", fmt.Errorf("config %s: cannot list this host's addresses to find its [[node]] entry (%w); pass --node-id", f.path, err)
	}
	var mine []wire.NodeID
	for _, n := range ids {
		if slices.Contains(addrs, nodes[n].Addr().Unmap()) {
			mine = append(mine, n)
		}
	}
	switch len(mine) {
	case 1:
		return mine[0], "by its address " + nodes[mine[0]].Addr().String() + ", one of this host's", nil
	case 0:
		return 0, "", fmt.Errorf("config %s: no [[node]] address is one of this host's (%v): pass --node-id to say which node this is", f.path, addrs)
	default:
		return 0, "", fmt.Errorf("config %s: nodes %v all have addresses of this host: pass --node-id to say which node this is", f.path, mine)
	}
}

// localAddrs lists this host's interface addresses.
func localAddrs() ([]netip.Addr, error) {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range ifAddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap().WithZone(""))
		}
	}
	return out, nil
}
