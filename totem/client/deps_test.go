package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// A client program links the socket protocol and nothing of the daemon: not the ring,
// membership, the group layer, the UDP transport and its cryptography, nor the server.
func TestClientDependsOnTheProtocolOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/totem-gcs/totem/totem/client").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/totem-gcs/totem/totem/client":        true,
		"github.com/totem-gcs/totem/totem/proto":         true,
		"github.com/totem-gcs/totem/multicast/wire":      true, // node ids and ring ids
		"github.com/totem-gcs/totem/multicast/wire/msgp": true, // the msgpack reader
	}
	for _, dep := range strings.Fields(string(out)) {
		ours := strings.HasPrefix(dep, "github.com/totem-gcs/totem/")
		if ours && !allowed[dep] || strings.HasPrefix(dep, "golang.org/x/crypto") {
			t.Errorf("totem/client depends on %s", dep)
		}
	}
}
