//go:build linux

package netlab_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/totem-gcs/totem/demo/localring"
	"github.com/totem-gcs/totem/demo/netlab"
	"github.com/totem-gcs/totem/multicast"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem/client"
)

// The attacks: a process in a namespace of its own on the ring's LAN (the test binary
// again, started with attackEnv) sends what an outsider can: garbage, tokens and joins
// forged without the key, datagrams it recorded earlier. The ring carries load
// throughout and must neither change nor deliver anything twice or out of order.

const (
	attackEnv = "TOTEM_NETLAB_ATTACK" // the mode: garbage, forged, record, replay
	// attackTargets lists "IP:PORT" unicast targets, comma-separated; attackFile is
	// where record writes and replay reads; attackCluster the cluster name to forge for.
	attackTargets = "TOTEM_NETLAB_TARGETS"
	attackFile    = "TOTEM_NETLAB_FILE"
	attackCluster = "TOTEM_NETLAB_CLUSTER"
	// attackFor bounds each attack; attackRate paces it (datagrams per second).
	attackFor  = 2 * time.Second
	attackRate = 2000
	ringPort   = 5405
)

// attack runs one attack mode and returns the process's exit code.
func attack(mode string) int {
	if err := runAttack(mode); err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		return 1
	}
	return 0
}

func runAttack(mode string) error {
	var targets []*net.UDPAddr
	for _, t := range strings.Split(os.Getenv(attackTargets), ",") {
		ap, err := netip.ParseAddrPort(t)
		if err != nil {
			return err
		}
		targets = append(targets, net.UDPAddrFromAddrPort(ap))
	}
	targets = append(targets, &net.UDPAddr{IP: netlab.MulticastGroup.AsSlice(), Port: ringPort})
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return err
	}
	defer conn.Close()
	pc := ipv4.NewPacketConn(conn)
	lan0, err := net.InterfaceByName(netlab.Iface)
	if err != nil {
		return err
	}
	pc.SetMulticastInterface(lan0)
	pc.SetMulticastTTL(1)
	var datagrams func(i int) []byte
	switch mode {
	case "garbage":
		rnd := rand.New(rand.NewPCG(1, 2))
		datagrams = func(int) []byte {
			b := make([]byte, rnd.IntN(1500))
			for i := range b {
				b[i] = byte(rnd.Uint32())
			}
			return b
		}
	case "forged":
		forged, err := forgedDatagrams(os.Getenv(attackCluster))
		if err != nil {
			return err
		}
		datagrams = func(i int) []byte { return forged[i%len(forged)] }
	case "record":
		return record(lan0, os.Getenv(attackFile))
	case "replay":
		recorded, err := readRecorded(os.Getenv(attackFile))
		if err != nil {
			return err
		}
		if len(recorded) == 0 {
			return fmt.Errorf("nothing recorded to replay")
		}
		datagrams = func(i int) []byte { return recorded[i%len(recorded)] }
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	end := time.Now().Add(attackFor)
	tick := time.NewTicker(time.Second / attackRate)
	defer tick.Stop()
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		conn.WriteToUDP(datagrams(i), targets[i%len(targets)]) // a refused send is no matter
	}
	return nil
}

// forgedDatagrams are tokens and joins for the ring's cluster, one from an unknown
// node and some impersonating members, each sealed with a key the ring does not have
// and again with the checksum of a keyless ring.
func forgedDatagrams(cluster string) ([][]byte, error) {
	hash := wire.ClusterHash(cluster)
	packets := []struct {
		from wire.NodeID
		p    wire.Packet
	}{
		{99, &wire.Join{ProcSet: []wire.NodeID{1, 2, 3, 99}, RingSeq: 1 << 40}},
		{1, &wire.Join{ProcSet: []wire.NodeID{1}, FailSet: []wire.NodeID{2, 3}, RingSeq: 1 << 40}},
		{2, &wire.Token{Ring: wire.RingID{Rep: 1, Seq: 1 << 40}, TokenSeq: 1 << 40, Seq: 1 << 20, Aru: 1 << 20}},
		{3, &wire.Join{Leave: true, ProcSet: []wire.NodeID{1, 2, 3}}},
	}
	other, err := multicast.NewSealer(multicast.GenerateKey())
	if err != nil {
		return nil, err
	}
	keyless, _ := multicast.NewSealer(nil)
	var out [][]byte
	for _, f := range packets {
		b, err := wire.Append(nil, hash, f.from, f.p)
		if err != nil {
			return nil, err
		}
		out = append(out, other.Seal(nil, b), keyless.Seal(nil, b))
	}
	return out, nil
}

// record keeps every datagram sent to the ring's multicast group for attackFor.
func record(lan0 *net.Interface, path string) error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{Port: ringPort})
	if err != nil {
		return err
	}
	defer conn.Close()
	pc := ipv4.NewPacketConn(conn)
	if err := pc.JoinGroup(lan0, &net.UDPAddr{IP: netlab.MulticastGroup.AsSlice()}); err != nil {
		return err
	}
	var file []byte
	buf := make([]byte, 1<<16)
	end := time.Now().Add(attackFor)
	for n := 0; n < 5000; n++ {
		conn.SetReadDeadline(end)
		k, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			break // the deadline
		}
		file = fmt.Appendf(file, "%x\n", buf[:k])
	}
	return os.WriteFile(path, file, 0o600)
}

func readRecorded(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, line := range strings.Fields(string(b)) {
		var d []byte
		if _, err := fmt.Sscanf(line, "%x", &d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// keyedCluster is a multicast ring of three authenticated nodes, and a fourth
// namespace on its LAN for the attacker.
func keyedCluster(t *testing.T) (*cluster, string) {
	t.Helper()
	keyDir := t.TempDir()
	key := filepath.Join(keyDir, "authkey")
	if err := os.WriteFile(key, multicast.GenerateKey(), 0o600); err != nil {
		t.Fatal(err)
	}
	return newClusterOn(t, 4, 3, true, "--key-file", key), keyDir
}

// runAttacker runs the attacker in node 4's namespace and waits for it.
func (c *cluster) runAttacker(mode, file string) {
	c.t.Helper()
	self, err := os.Executable()
	if err != nil {
		c.t.Fatal(err)
	}
	var targets []string
	for _, n := range c.ring.Nodes {
		targets = append(targets, n.Addr)
	}
	cmd := c.lan.Command(4, self, "-test.run=^$")
	cmd.Env = append(os.Environ(), attackEnv+"="+mode, attackTargets+"="+strings.Join(targets, ","),
		attackFile+"="+file, attackCluster+"="+c.ring.Cluster())
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("attacker %s: %v: %s", mode, err, out)
	}
}

// statuses asks every node for its status; each must report that it authenticates.
func (c *cluster) statuses() []client.Status {
	c.t.Helper()
	var out []client.Status
	for _, n := range c.ring.Nodes {
		ctx, cancel := context.WithTimeout(c.t.Context(), 10*time.Second)
		cl, err := client.Dial(ctx, n.Socket)
		if err != nil {
			cancel()
			c.t.Fatal(err)
		}
		st, err := cl.Status(ctx)
		cl.Close()
		cancel()
		if err != nil {
			c.t.Fatal(err)
		}
		if st.Security != "authenticated" {
			c.t.Errorf("node %d reports security %q, want authenticated", n.ID, st.Security)
		}
		out = append(out, st)
	}
	return out
}

func (c *cluster) ringID() string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 30*time.Second)
	defer cancel()
	id, err := c.ring.WaitRing(ctx, c.ring.Nodes...)
	if err != nil {
		c.t.Fatal(err)
	}
	return id
}

func TestOutsidersWithoutTheKey(t *testing.T) {
	for _, mode := range []string{"garbage", "forged"} {
		t.Run(mode, func(t *testing.T) {
			c, _ := keyedCluster(t)
			c.steady(500 * time.Millisecond)
			before, ring := c.statuses(), c.ringID()
			mark := c.load.mark()
			c.runAttacker(mode, "")
			c.load.quiesce(t, mark) // nothing lost while under attack
			after := c.statuses()
			if id := c.ringID(); id != ring {
				t.Errorf("the ring changed under attack: %s -> %s", ring, id)
			}
			for i, n := range c.ring.Nodes {
				if after[i].AuthFailures <= before[i].AuthFailures {
					t.Errorf("node %d counted no authentication failures (%d -> %d)", n.ID, before[i].AuthFailures, after[i].AuthFailures)
				}
				if !strings.Contains(n.Log(), "failed authentication") || !strings.Contains(n.Log(), c.lan.Addr(4).String()) {
					t.Errorf("node %d did not log the failures with the attacker's address %s", n.ID, c.lan.Addr(4))
				}
			}
			t.Logf("authentication failures counted: %v -> %v", authFailures(before), authFailures(after))
			c.finish()
		})
	}
}

func TestReplayedDatagrams(t *testing.T) {
	c, dir := keyedCluster(t)
	file := filepath.Join(dir, "recorded")
	c.runAttacker("record", file) // 2 s of the ring's multicast, under load
	c.steady(500 * time.Millisecond)
	// Once into the same ring, once after a member restarted (a new ring). The replay
	// is validly sealed; each node drops it as a replay and counts it, and the ring
	// stays as it is (before replay protection the members learned the attacker's
	// address for each other and the ring re-formed).
	ring, before := c.ringID(), c.statuses()
	c.runAttacker("replay", file)
	if id := c.ringID(); id != ring {
		t.Errorf("the ring re-formed when its own datagrams were replayed: %s -> %s", ring, id)
	}
	after := c.statuses()
	for i, n := range c.ring.Nodes {
		if after[i].Replayed <= before[i].Replayed {
			t.Errorf("node %d counted no replayed datagrams (%d -> %d)", n.ID, before[i].Replayed, after[i].Replayed)
		}
		if !strings.Contains(n.Log(), "replayed datagrams") || !strings.Contains(n.Log(), c.lan.Addr(4).String()) {
			t.Errorf("node %d did not log the replay with the attacker's address %s", n.ID, c.lan.Addr(4))
		}
	}
	t.Logf("replayed datagrams dropped per node: %v", replayed(after))
	n3 := c.ring.Node(3)
	must(t, c.ring.Kill(n3))
	c.waitRing(c.nodes(1, 2)...)
	must(t, c.ring.StartNode(n3))
	c.waitRing(c.ring.Nodes...)
	c.load.reconnect(t, n3)
	mark := c.load.mark()
	c.runAttacker("replay", file)
	c.load.quiesce(t, mark)
	c.steady(500 * time.Millisecond)
	c.finish() // a replay delivered again would be a duplicate
}

func authFailures(sts []client.Status) (out []uint64) {
	for _, st := range sts {
		out = append(out, st.AuthFailures)
	}
	return out
}

func replayed(sts []client.Status) (out []uint64) {
	for _, st := range sts {
		out = append(out, st.Replayed)
	}
	return out
}

// TestTwoDaemonsWithOneNodeID: a fourth daemon, with the key, is started by mistake
// with node 2's id. The nodes say so, naming both addresses, and count the datagrams
// they drop; once it is stopped, the ring of 1, 2 and 3 forms again.
func TestTwoDaemonsWithOneNodeID(t *testing.T) {
	c, dir := keyedCluster(t)
	c.steady(300 * time.Millisecond)
	c.runStray(dir, 2, filepath.Join(dir, "authkey"), func() { time.Sleep(3 * time.Second) })
	genuine, fake := c.lan.Addr(2).String(), c.lan.Addr(4).String()
	var counted uint64
	for i, st := range c.statuses() {
		n := c.ring.Nodes[i]
		counted += st.DuplicateID
		if n.ID == 2 {
			if !strings.Contains(n.Log(), "duplicate node id?") || !strings.Contains(n.Log(), fake) {
				t.Errorf("node 2 did not warn of datagrams with its id from %s", fake)
			}
			continue
		}
		log := n.Log()
		if !strings.Contains(log, "two nodes send with one node id") || !strings.Contains(log, genuine) || !strings.Contains(log, fake) {
			t.Errorf("node %d did not report node id 2 at both %s and %s", n.ID, genuine, fake)
		}
	}
	if counted == 0 {
		t.Error("no node counted datagrams dropped for a duplicate node id")
	}
	t.Logf("datagrams dropped as from a duplicate node id: %d", counted)
	c.waitRing(c.ring.Nodes...)
	c.load.stop()
	// Two daemons with one id void the ring's guarantees while both run; what the
	// checker finds then is reported, not failed on.
	if errs := check(c.load.logs()); len(errs) > 0 {
		t.Logf("while both ran: %d violations, the first: %v", len(errs), errs[0])
	}
}

// TestADaemonWithAnotherKey: node 4 is set up with a key of its own, as an operator
// who copied the wrong file would. It cannot join; both sides say why, naming the
// other's address, and count it; the ring of 1, 2 and 3 carries on unchanged.
func TestADaemonWithAnotherKey(t *testing.T) {
	c, dir := keyedCluster(t)
	c.steady(300 * time.Millisecond)
	otherKey := filepath.Join(dir, "otherkey")
	must(t, os.WriteFile(otherKey, multicast.GenerateKey(), 0o600))
	ring, before := c.ringID(), c.statuses()
	out := c.runStray(dir, 4, otherKey, func() { c.steady(2 * time.Second) })
	if id := c.ringID(); id != ring {
		t.Errorf("the ring changed: %s -> %s", ring, id)
	}
	after := c.statuses()
	for i, n := range c.ring.Nodes {
		if after[i].AuthFailures <= before[i].AuthFailures {
			t.Errorf("node %d counted no authentication failures", n.ID)
		}
		if log := n.Log(); !strings.Contains(log, "failed authentication") || !strings.Contains(log, c.lan.Addr(4).String()) {
			t.Errorf("node %d did not log failed authentication from %s", n.ID, c.lan.Addr(4))
		}
	}
	// It names the first member it heard (then sums up every 10 s).
	namesMember := func(log string) bool {
		return slices.ContainsFunc(c.ring.Nodes, func(n *localring.Node) bool { return strings.Contains(log, c.lan.Addr(n.ID).String()) })
	}
	if log := out; !strings.Contains(log, "failed authentication") || !namesMember(log) {
		t.Errorf("the daemon with the other key did not log the ring's datagrams as failing authentication:\n%s", log)
	}
	c.finish()
}

// runStray runs a daemon that is not one of the ring's, in node 4's namespace, with
// node id and key file as given, while during runs; it returns what the daemon printed.
func (c *cluster) runStray(dir string, id int, keyFile string, during func()) string {
	c.t.Helper()
	name := fmt.Sprintf("stray%d", id)
	cmd := c.lan.Command(4, filepath.Join(binDir, "totemd"),
		"--node-id", strconv.Itoa(id), "--listen", c.lan.Addr(4).String()+":5405",
		"--socket", filepath.Join(dir, name+".sock"), "--state-dir", filepath.Join(dir, name),
		"--token-timeout", tokenTimeout.String(), "--cluster", c.ring.Cluster(),
		"--mcast", netlab.MulticastGroup.String()+":5405", "--interface", netlab.Iface,
		"--key-file", keyFile)
	var out bytes.Buffer // read once Wait has copied everything
	cmd.Stdout, cmd.Stderr = &out, &out
	must(c.t, cmd.Start())
	during()
	must(c.t, cmd.Process.Kill())
	cmd.Wait()
	return out.String()
}
