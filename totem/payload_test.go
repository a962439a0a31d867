package totem

import (
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem/pack"
)

// TestPayloadsCarryingSafeRecordsAreSafe: the ring's safe delivery is per payload, so a
// payload that carries any part of a record that asked for safe delivery must be
// submitted as safe, and one that carries only agreed records as agreed.
func TestPayloadsCarryingSafeRecordsAreSafe(t *testing.T) {
	p, err := pack.NewPacker(200, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{packer: p}
	n.queue(make([]byte, 10), false)
	if _, g, _ := n.nextPayload(); g != wire.Agreed {
		t.Fatalf("agreed-only payload submitted as %v", g)
	}
	n.queue(make([]byte, 10), false)
	n.queue(make([]byte, 10), true)
	if _, g, _ := n.nextPayload(); g != wire.Safe {
		t.Fatalf("payload with a safe record submitted as %v", g)
	}
	n.queue(make([]byte, 1000), true) // fragmented over several payloads
	for {
		_, g, ok := n.nextPayload()
		if !ok {
			break
		}
		if g != wire.Safe {
			t.Fatalf("fragment of a safe record submitted as %v", g)
		}
	}
	n.queue(make([]byte, 10), false)
	if _, g, _ := n.nextPayload(); g != wire.Agreed {
		t.Fatalf("agreed payload after the safe record submitted as %v", g)
	}
}
