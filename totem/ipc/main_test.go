package ipc_test

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/totem-gcs/totem/totem/proto"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(credChildEnv); path != "" { // a client as another user
		os.Exit(helloAsChild(path))
	}
	goleak.VerifyTestMain(m)
}

// credChildEnv names the socket a child process dials as the other user; see TestMain.
const credChildEnv = "TOTEM_IPC_CRED_CHILD"

// helloAsChild is what the test binary does when started as the other user: say hello
// on the socket and print the answer's type and code.
func helloAsChild(path string) int {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		fmt.Println("dial", err)
		return 1
	}
	defer c.Close()
	b, _ := proto.AppendFrame(nil, &proto.Request{Type: proto.TypeHello, ID: 1, Version: proto.Version, Name: "other"})
	// A server that refuses this user may answer and close before the hello is written:
	// the write then fails, and the answer is still there to read.
	c.Write(b)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	body, err := proto.NewFrameReader(c, 1<<20).Next()
	if err != nil {
		fmt.Println("read", err)
		return 1
	}
	var f proto.ServerFrame
	if err := proto.Decode(body, &f); err != nil {
		fmt.Println("decode", err)
		return 1
	}
	fmt.Println(f.Type, f.Code)
	return 0
}
