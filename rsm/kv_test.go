package rsm_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"sync"
)

// kv is the tests' state machine: a map of strings. Commands are "put K V", "add K N"
// (integer add, returns the new value), "get K"; Query answers "get K". It locks so
// that tests may look at it from other goroutines.
type kv struct {
	mu sync.Mutex
	m  map[string]string
}

func newKV() *kv { return &kv{m: make(map[string]string)} }

func (s *kv) Apply(cmd []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, key, arg := split(string(cmd))
	switch op {
	case "put":
		s.m[key] = arg
		return []byte("ok")
	case "add":
		n, _ := strconv.Atoi(s.m[key])
		d, _ := strconv.Atoi(arg)
		s.m[key] = strconv.Itoa(n + d)
		return []byte(s.m[key])
	case "get":
		return []byte(s.m[key])
	}
	return []byte("bad command")
}

func (s *kv) Query(q []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, key, _ := split(string(q))
	return []byte(s.m[key])
}

func (s *kv) Snapshot(w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.NewEncoder(w).Encode(s.m)
}

func (s *kv) Restore(r io.Reader) error {
	m := make(map[string]string)
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = m
	return nil
}

// get reads the local state directly, without any ordering: a stale read by design.
func (s *kv) get(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key]
}

func (s *kv) copy() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m)
}

func split(cmd string) (op, key, arg string) {
	op, rest, _ := strings.Cut(cmd, " ")
	key, arg, _ = strings.Cut(rest, " ")
	return op, key, arg
}

func put(k, v string) []byte     { return []byte(fmt.Sprintf("put %s %s", k, v)) }
func add(k string, n int) []byte { return []byte(fmt.Sprintf("add %s %d", k, n)) }
func get(k string) []byte        { return []byte("get " + k) }
