package main

import (
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// The room's messages on the wire. Each is one kind byte followed by its body: the text
// itself for a chat line, a msgpack array for the history protocol's messages.
type kind uint8

const (
	kindText    kind = iota + 1 // a chat line: the body is the text, UTF-8
	kindWant                    // "I need the history": sent by a member that is not synced, after each view
	kindHistory                 // the answer to a want: the history as of the want's cut
	kindClaim                   // "no one answered: I start without history"
)

// maxHistoryLines bounds the lines a history message may carry (and --history).
const maxHistoryLines = 10000

// member names a member on the wire: (node, session) is unique in a group.
type wireMember struct {
	_msgpack struct{} `msgpack:",as_array"`
	Node     uint32
	Session  uint32
}

func wireOf(k key) wireMember { return wireMember{Node: uint32(k.Node), Session: k.Session} }

func (w wireMember) key() key { return key{Node: nodeID(w.Node), Session: w.Session} }

// wantMsg asks for the history. Nonce numbers the sender's wants (from 1); Max is how
// many lines it keeps (its --history).
type wantMsg struct {
	_msgpack struct{} `msgpack:",as_array"`
	Nonce    uint64
	Max      uint32
}

// historyMsg answers To's want Nonce: Lines are the sender's screen up to the want's cut
// (the last of them, at most the want's Max), Eligible the members the sender knows to
// be synced chat members, so that the new member learns who may answer after it.
type historyMsg struct {
	_msgpack struct{} `msgpack:",as_array"`
	To       wireMember
	Nonce    uint64
	Lines    []string
	Eligible []wireMember
}

// claimMsg: the sender waited in vain for an answer to its wants and starts without
// history.
type claimMsg struct {
	_msgpack struct{} `msgpack:",as_array"`
	Nonce    uint64
}

// message is a decoded room message: Kind and the field of that kind.
type message struct {
	Kind    kind
	Text    string
	Want    wantMsg
	History historyMsg
	Claim   claimMsg
}

var errMalformed = errors.New("malformed")

func encodeText(text string) []byte {
	return append([]byte{byte(kindText)}, text...)
}

func encodeBody(k kind, body any) []byte {
	b, err := msgpack.Marshal(body)
	if err != nil { // only our own fixed types are encoded: cannot happen
		panic(fmt.Sprintf("chat: encoding %T: %v", body, err))
	}
	return append([]byte{byte(k)}, b...)
}

func encodeWant(w wantMsg) []byte       { return encodeBody(kindWant, &w) }
func encodeHistory(h historyMsg) []byte { return encodeBody(kindHistory, &h) }
func encodeClaim(c claimMsg) []byte     { return encodeBody(kindClaim, &c) }

// decode decodes a room message; anything else is an error wrapping errMalformed. It
// never panics, whatever data holds.
func decode(data []byte) (message, error) {
	if len(data) == 0 {
		return message{}, fmt.Errorf("%w: empty", errMalformed)
	}
	m := message{Kind: kind(data[0])}
	body := data[1:]
	var err error
	switch m.Kind {
	case kindText:
		m.Text = string(body)
		return m, nil
	case kindWant:
		err = msgpack.Unmarshal(body, &m.Want)
		if err == nil && m.Want.Nonce == 0 {
			err = errors.New("want without a nonce")
		}
	case kindHistory:
		err = msgpack.Unmarshal(body, &m.History)
		switch {
		case err != nil:
		case m.History.Nonce == 0:
			err = errors.New("history without a nonce")
		case len(m.History.Lines) > maxHistoryLines:
			err = fmt.Errorf("history of %d lines", len(m.History.Lines))
		}
	case kindClaim:
		err = msgpack.Unmarshal(body, &m.Claim)
		if err == nil && m.Claim.Nonce == 0 {
			err = errors.New("claim without a nonce")
		}
	default:
		return message{}, fmt.Errorf("%w: unknown kind %d", errMalformed, data[0])
	}
	if err != nil {
		return message{}, fmt.Errorf("%w: kind %d: %v", errMalformed, data[0], err)
	}
	return m, nil
}
