package ipc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/proto"
)

// decodeRequest decodes a frame body; what cannot be a request gets its error reply.
func decodeRequest(body []byte) item {
	req := new(proto.Request)
	if err := proto.ParseRequest(body, req); err != nil {
		return item{reply: errorFrame(err.ID, proto.CodeBadRequest, err.Msg)}
	}
	return item{req: req}
}

// runItem runs one item other than a multicast and hands its reply to the writer; false
// if the writer has gone. A join or leave is marked pending first, so that its view
// waits for its reply.
func (c *conn) runItem(ctx context.Context, it item) bool {
	if it.reply != nil {
		return c.send(it.reply)
	}
	req := it.req
	k := causeNone
	switch req.Type {
	case proto.TypeJoin:
		k = causeJoin
	case proto.TypeLeave:
		k = causeLeave
	}
	if k == causeNone || checkGroupName(req.ID, req.Group) != nil {
		return c.send(c.handle(ctx, req))
	}
	c.pending(k, req.Group, 1)
	var err error
	if k == causeJoin {
		err = c.sess.Join(ctx, req.Group)
	} else {
		err = c.sess.Leave(ctx, req.Group)
	}
	return c.sendReply(reply(req.ID, err), k)
}

// handle runs one request that causes no event and returns its reply.
func (c *conn) handle(ctx context.Context, req *proto.Request) *proto.ServerFrame {
	switch req.Type {
	case proto.TypeJoin, proto.TypeLeave, proto.TypeMembers:
		if f := checkGroupName(req.ID, req.Group); f != nil {
			return f
		}
	}
	switch req.Type {
	case proto.TypeStatus:
		return statusFrame(req.ID, c.s.n.Status())
	case proto.TypeGroups:
		return groupsFrame(req.ID, c.s.n.Status())
	case proto.TypeMembers:
		return membersFrame(req.ID, req.Group, c.s.n.Status())
	case proto.TypeHello:
		return errorFrame(req.ID, proto.CodeBadRequest, "hello is only the first request")
	case "":
		return errorFrame(req.ID, proto.CodeBadRequest, "missing request type")
	}
	return errorFrame(req.ID, proto.CodeUnknownRequest, fmt.Sprintf("unknown request type %q", req.Type))
}

// multicastBatch runs consecutive multicast requests as one batch, handing each reply
// to the writer as soon as it is decided; false if the writer has gone.
func (c *conn) multicastBatch(ctx context.Context, batch []item) bool {
	msgs := make([]totem.Message, 0, len(batch))
	reqs := make([]*proto.Request, 0, len(batch))
	flush := func() bool { // the valid multicasts gathered so far
		ok := true
		if len(msgs) > 0 {
			c.pending(causeMulticast, "", len(msgs))
			c.sess.MulticastBatch(ctx, msgs, func(i int, err error) bool {
				ok = c.sendReply(reply(reqs[i].ID, err), causeMulticast)
				return ok
			})
		}
		msgs, reqs = msgs[:0], reqs[:0]
		return ok
	}
	for _, it := range batch {
		bad := checkGroupName(it.req.ID, it.req.Group)
		safe, err := parseLevel(it.req.Level)
		if bad == nil && err != nil {
			bad = errorFrame(it.req.ID, proto.CodeBadLevel, err.Error())
		}
		if bad != nil { // answered in its place in the order of replies
			if !flush() || !c.send(bad) {
				return false
			}
			continue
		}
		msgs = append(msgs, totem.Message{Group: it.req.Group, Data: it.req.Data, Safe: safe})
		reqs = append(reqs, it.req)
	}
	return flush()
}

// parseLevel maps a service level to the node's safe flag; absent means agreed.
func parseLevel(level string) (safe bool, err error) {
	switch level {
	case "", proto.LevelAgreed:
		return false, nil
	case proto.LevelSafe:
		return true, nil
	case proto.LevelReliable, proto.LevelFIFO, proto.LevelCausal:
		return false, fmt.Errorf("service level %q is reserved and not offered yet", level)
	}
	return false, fmt.Errorf("unknown service level %q", level)
}

func reply(id uint32, err error) *proto.ServerFrame {
	if err == nil {
		return &proto.ServerFrame{Type: proto.TypeOK, ID: id}
	}
	return errorFrame(id, codeOf(err), err.Error())
}

// codeOf maps the node's errors to protocol error codes.
func codeOf(err error) string {
	switch {
	case errors.Is(err, totem.ErrNotJoined):
		return proto.CodeNotJoined
	case errors.Is(err, totem.ErrAlreadyJoined):
		return proto.CodeAlreadyJoined
	case errors.Is(err, totem.ErrTooLarge):
		return proto.CodeTooLarge
	case errors.Is(err, totem.ErrBadGroup):
		return proto.CodeBadGroup
	case errors.Is(err, totem.ErrSlowConsumer):
		return proto.CodeSlowConsumer
	case errors.Is(err, totem.ErrNodeStopped), errors.Is(err, totem.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return proto.CodeShuttingDown
	}
	return proto.CodeInternal
}

func groupsFrame(id uint32, st totem.Status) *proto.ServerFrame {
	f := &proto.ServerFrame{Type: proto.TypeGroups, ID: id, Groups: make([]proto.Group, 0, len(st.Groups))}
	for _, name := range slices.Sorted(maps.Keys(st.Groups)) {
		f.Groups = append(f.Groups, proto.Group{Name: name, Members: members(st.Groups[name])})
	}
	return f
}

// checkGroupName returns the bad_group error of a request naming a group that cannot
// exist: empty, longer than totem.MaxGroupName bytes, or not valid UTF-8.
func checkGroupName(id uint32, group string) *proto.ServerFrame {
	switch {
	case group == "":
		return errorFrame(id, proto.CodeBadGroup, `field "group" is missing or empty`)
	case len(group) > totem.MaxGroupName:
		return errorFrame(id, proto.CodeBadGroup, fmt.Sprintf(`field "group": %d bytes, longer than %d`, len(group), totem.MaxGroupName))
	case !proto.ValidName(group):
		return errorFrame(id, proto.CodeBadGroup, `field "group": not valid UTF-8`)
	}
	return nil
}

func membersFrame(id uint32, group string, st totem.Status) *proto.ServerFrame {
	return &proto.ServerFrame{Type: proto.TypeMembers, ID: id, Group: group, Members: members(st.Groups[group])}
}

// eventFrame fills f with ev.
func eventFrame(f *proto.ServerFrame, ev totem.Event) {
	if v := ev.View; v != nil {
		*f = proto.ServerFrame{
			Type: proto.TypeView, Group: ev.Group, Members: members(v.Members),
			Joined: changes(v.Joined), Left: changes(v.Left),
		}
		return
	}
	level := proto.LevelAgreed
	if ev.Safe {
		level = proto.LevelSafe
	}
	*f = proto.ServerFrame{Type: proto.TypeMessage, Group: ev.Group, Sender: member(ev.Sender), Level: level, Data: ev.Data}
}

func member(m totem.Member) proto.Member {
	return proto.Member{Node: m.Node, Session: m.Session, PID: m.PID, Name: m.Name}
}

func members(ms []totem.Member) []proto.Member {
	out := make([]proto.Member, len(ms))
	for i, m := range ms {
		out[i] = member(m)
	}
	return out
}

func changes(cs []totem.Change) []proto.Change {
	out := make([]proto.Change, len(cs))
	for i, c := range cs {
		out[i] = proto.Change{Node: c.Member.Node, Session: c.Member.Session, PID: c.Member.PID, Name: c.Member.Name, Reason: c.Reason.String()}
	}
	return out
}
