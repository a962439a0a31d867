package groups

import (
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

// TestPayloadsCarryingSafeRecordsAreSafe: the ring's safe delivery is per payload, so a
// payload that carries any part of a record that asked for safe delivery must be
// submitted as safe, and one that carries only agreed records as agreed.
func TestPayloadsCarryingSafeRecordsAreSafe(t *testing.T) {
	m, err := New(Config{Self: 1, Budget: 200, MaxRecord: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	m.queue(make([]byte, 10), false)
	if _, g, _ := m.NextPayload(); g != wire.Agreed {
		t.Fatalf("agreed-only payload submitted as %v", g)
	}
	m.queue(make([]byte, 10), false)
	m.queue(make([]byte, 10), true)
	if _, g, _ := m.NextPayload(); g != wire.Safe {
		t.Fatalf("payload with a safe record submitted as %v", g)
	}
	m.queue(make([]byte, 1000), true) // fragmented over several payloads
	for {
		_, g, ok := m.NextPayload()
		if !ok {
			break
		}
		if g != wire.Safe {
			t.Fatalf("fragment of a safe record submitted as %v", g)
		}
	}
	m.queue(make([]byte, 10), false)
	if _, g, _ := m.NextPayload(); g != wire.Agreed {
		t.Fatalf("agreed payload after the safe record submitted as %v", g)
	}
}
