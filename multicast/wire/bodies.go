package wire

import (
	"errors"
	"fmt"
)

// Each body is a msgpack array of its fields in declaration order. See doc.go.

func (m *Mcast) encodeBody(e *encoder) {
	e.arrayLen(6)
	e.ringID(m.Ring)
	e.uint(uint64(m.Seq))
	e.uint(uint64(m.Origin))
	e.uint(uint64(m.Guarantee))
	e.bytes(m.Payload)
	if m.Recovered == nil {
		e.nil()
		return
	}
	if m.Recovered.Recovered != nil {
		e.fail(fmt.Errorf("%w: recovered message nested twice", ErrTooLarge))
		return
	}
	m.Recovered.encodeBody(e)
}

func (m *Mcast) decodeBody(d *decoder) error { return m.decode(d, true) }

func (m *Mcast) decode(d *decoder, outer bool) error {
	extra, err := d.fields(6)
	if err != nil {
		return err
	}
	if m.Ring, err = d.ringID(); err != nil {
		return err
	}
	seq, err := d.u64()
	if err != nil {
		return err
	}
	m.Seq = Seq(seq)
	if m.Origin, err = d.nodeID(); err != nil {
		return err
	}
	g, err := d.uint(uint64(Safe))
	if err != nil {
		return err
	}
	m.Guarantee = Guarantee(g)
	if m.Payload, err = d.bytes(); err != nil {
		return err
	}
	isNil, err := d.isNil()
	if err != nil {
		return err
	}
	if !isNil {
		if !outer {
			return errors.New("recovered message nested twice")
		}
		m.Recovered = new(Mcast)
		if err := m.Recovered.decode(d, false); err != nil {
			return fmt.Errorf("recovered: %w", err)
		}
	}
	return d.skip(extra)
}

func (t *Token) encodeBody(e *encoder) {
	if len(t.RTR) > MaxRetransmits {
		e.fail(fmt.Errorf("%w: %d retransmit requests, max %d", ErrTooLarge, len(t.RTR), MaxRetransmits))
		return
	}
	e.arrayLen(9)
	e.ringID(t.Ring)
	e.uint(t.TokenSeq)
	e.uint(uint64(t.Seq))
	e.uint(uint64(t.Aru))
	e.uint(uint64(t.AruID))
	e.uint(uint64(t.Backlog))
	e.uint(uint64(t.FCC))
	e.bool(t.RetransFlag)
	e.arrayLen(len(t.RTR))
	for _, r := range t.RTR {
		e.arrayLen(2)
		e.ringID(r.Ring)
		e.uint(uint64(r.Seq))
	}
}

func (t *Token) decodeBody(d *decoder) error {
	extra, err := d.fields(9)
	if err != nil {
		return err
	}
	if t.Ring, err = d.ringID(); err != nil {
		return err
	}
	if t.TokenSeq, err = d.u64(); err != nil {
		return err
	}
	seq, err := d.u64()
	if err != nil {
		return err
	}
	aru, err := d.u64()
	if err != nil {
		return err
	}
	t.Seq, t.Aru = Seq(seq), Seq(aru)
	if t.AruID, err = d.nodeID(); err != nil {
		return err
	}
	if t.Backlog, err = d.u32(); err != nil {
		return err
	}
	if t.FCC, err = d.u32(); err != nil {
		return err
	}
	if t.RetransFlag, err = d.bool(); err != nil {
		return err
	}
	n, err := d.arrayLen(0, MaxRetransmits)
	if err != nil {
		return err
	}
	if n > 0 {
		t.RTR = make([]RetransmitRequest, n)
	}
	for i := range t.RTR {
		if _, err := d.arrayLen(2, 2); err != nil {
			return err
		}
		if t.RTR[i].Ring, err = d.ringID(); err != nil {
			return err
		}
		s, err := d.u64()
		if err != nil {
			return err
		}
		t.RTR[i].Seq = Seq(s)
	}
	return d.skip(extra)
}

func (j *Join) encodeBody(e *encoder) {
	e.arrayLen(4)
	e.nodeIDs(j.ProcSet)
	e.nodeIDs(j.FailSet)
	e.uint(j.RingSeq)
	e.bool(j.Leave)
}

func (j *Join) decodeBody(d *decoder) error {
	extra, err := d.fields(4)
	if err != nil {
		return err
	}
	if j.ProcSet, err = d.nodeIDs(); err != nil {
		return fmt.Errorf("proc set: %w", err)
	}
	if j.FailSet, err = d.nodeIDs(); err != nil {
		return fmt.Errorf("fail set: %w", err)
	}
	if j.RingSeq, err = d.u64(); err != nil {
		return err
	}
	if j.Leave, err = d.bool(); err != nil {
		return err
	}
	return d.skip(extra)
}

func (c *CommitToken) encodeBody(e *encoder) {
	if len(c.Members) > MaxMembers {
		e.fail(fmt.Errorf("%w: %d members, max %d", ErrTooLarge, len(c.Members), MaxMembers))
		return
	}
	e.arrayLen(4)
	e.ringID(c.Ring)
	e.uint(c.TokenSeq)
	e.uint(uint64(c.MembIndex))
	e.arrayLen(len(c.Members))
	for _, m := range c.Members {
		e.arrayLen(6)
		e.uint(uint64(m.Node))
		e.ringID(m.OldRing)
		e.uint(uint64(m.Aru))
		e.uint(uint64(m.HighDelivered))
		e.bool(m.Received)
		e.bool(m.Filled)
	}
}

func (c *CommitToken) decodeBody(d *decoder) error {
	extra, err := d.fields(4)
	if err != nil {
		return err
	}
	if c.Ring, err = d.ringID(); err != nil {
		return err
	}
	if c.TokenSeq, err = d.u64(); err != nil {
		return err
	}
	if c.MembIndex, err = d.u32(); err != nil {
		return err
	}
	n, err := d.arrayLen(1, MaxMembers)
	if err != nil {
		return fmt.Errorf("members: %w", err)
	}
	c.Members = make([]CommitMember, n)
	for i := range c.Members {
		m := &c.Members[i]
		if _, err := d.arrayLen(6, 6); err != nil {
			return err
		}
		if m.Node, err = d.nodeID(); err != nil {
			return err
		}
		if m.Node == 0 || (i > 0 && m.Node <= c.Members[i-1].Node) {
			return errors.New("members not strictly increasing non-zero node ids")
		}
		if m.OldRing, err = d.ringID(); err != nil {
			return err
		}
		aru, err := d.u64()
		if err != nil {
			return err
		}
		hd, err := d.u64()
		if err != nil {
			return err
		}
		m.Aru, m.HighDelivered = Seq(aru), Seq(hd)
		if m.Received, err = d.bool(); err != nil {
			return err
		}
		if m.Filled, err = d.bool(); err != nil {
			return err
		}
	}
	if int(c.MembIndex) >= n {
		return fmt.Errorf("member index %d beyond %d members", c.MembIndex, n)
	}
	return d.skip(extra)
}

func (m *MergeDetect) encodeBody(e *encoder) {
	e.arrayLen(1)
	e.ringID(m.Ring)
}

func (m *MergeDetect) decodeBody(d *decoder) error {
	extra, err := d.fields(1)
	if err != nil {
		return err
	}
	if m.Ring, err = d.ringID(); err != nil {
		return err
	}
	return d.skip(extra)
}

func (t *TokenHoldCancel) encodeBody(e *encoder) {
	e.arrayLen(1)
	e.ringID(t.Ring)
}

func (t *TokenHoldCancel) decodeBody(d *decoder) error {
	extra, err := d.fields(1)
	if err != nil {
		return err
	}
	if t.Ring, err = d.ringID(); err != nil {
		return err
	}
	return d.skip(extra)
}
