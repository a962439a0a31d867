package multicast_test

import (
	"errors"
	"fmt"

	"github.com/totem-gcs/totem/multicast"
)

// Every node of a cluster makes its Sealer from the same pre-shared key (a key file
// written once with "totemd keygen" and read with LoadKeyFile; here a fresh one). A
// datagram one node sealed opens on any other; a changed byte, or another key, does
// not, and every failure wraps ErrOpen.
func ExampleNewSealer() {
	key := multicast.GenerateKey()
	sender, err := multicast.NewSealer(key)
	if err != nil {
		fmt.Println(err)
		return
	}
	receiver, err := multicast.NewSealer(key) // another node, same key
	if err != nil {
		fmt.Println(err)
		return
	}

	plaintext := []byte("a datagram: the wire header and the body of one packet")
	sealed := sender.Seal(nil, plaintext)
	fmt.Println("overhead:", len(sealed)-len(plaintext), "bytes, as Overhead says:", sender.Overhead())

	opened, err := receiver.Open(nil, sealed)
	fmt.Printf("opened: %q, err %v\n", opened, err)

	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	_, err = receiver.Open(nil, tampered)
	fmt.Println("tampered:", err)

	stranger, _ := multicast.NewSealer(multicast.GenerateKey())
	_, err = stranger.Open(nil, sealed)
	fmt.Println("other key:", err, "| counts as ErrOpen:", errors.Is(err, multicast.ErrOpen))

	// Without a key, datagrams carry only a checksum; a keyed node refuses them.
	plain, _ := multicast.NewSealer(nil)
	_, err = receiver.Open(nil, plain.Seal(nil, plaintext))
	fmt.Println("checksum only:", err)
	// Output:
	// overhead: 45 bytes, as Overhead says: 45
	// opened: "a datagram: the wire header and the body of one packet", err <nil>
	// tampered: multicast: cannot open datagram: authentication failed
	// other key: multicast: cannot open datagram: sealed with another key | counts as ErrOpen: true
	// checksum only: multicast: cannot open datagram: unexpected sealing scheme: 0x01, want aead
}
