package actor

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// PID identifies a process. It is a small comparable value: use it with ==
// and as a map key. The zero PID names no process. PIDs are never reused
// within a System.
type PID struct {
	node uint32 // 0 is the local node
	id   uint64
}

// IsZero reports whether p is the zero PID.
func (p PID) IsZero() bool { return p.id == 0 }

// String returns the PID in Erlang's form, "<node.id.0>".
func (p PID) String() string {
	var b [48]byte
	s := append(b[:0], '<')
	s = strconv.AppendUint(s, uint64(p.node), 10)
	s = append(s, '.')
	s = strconv.AppendUint(s, p.id, 10)
	s = append(s, ".0>"...)
	return string(s)
}

const pidWireLen = 12

// MarshalBinary returns the PID's wire form (12 bytes, big endian).
func (p PID) MarshalBinary() ([]byte, error) {
	b := make([]byte, pidWireLen)
	binary.BigEndian.PutUint32(b, p.node)
	binary.BigEndian.PutUint64(b[4:], p.id)
	return b, nil
}

// UnmarshalBinary sets p from its wire form.
func (p *PID) UnmarshalBinary(b []byte) error {
	if len(b) != pidWireLen {
		return errors.New("actor: PID wire form must be 12 bytes")
	}
	p.node = binary.BigEndian.Uint32(b)
	p.id = binary.BigEndian.Uint64(b[4:])
	return nil
}

// Ref identifies a monitor (erlang:make_ref/0). The zero Ref is no monitor.
type Ref struct {
	node uint32 // the node whose process made it; 0 is this one
	id   uint64
}

// String returns the Ref as "#Ref<id>", or "#Ref<node.id>" for a Ref
// another node made.
func (r Ref) String() string {
	if r.node != 0 {
		return "#Ref<" + strconv.FormatUint(uint64(r.node), 10) + "." + strconv.FormatUint(r.id, 10) + ">"
	}
	return "#Ref<" + strconv.FormatUint(r.id, 10) + ">"
}

// ParsePID reads a PID in the form String writes, "<node.id.0>" (the angle
// brackets may be left out). It is how a PID typed by a person or sent
// as text (the admin API, JSON) comes back.
func ParsePID(s string) (PID, error) {
	t := s
	if len(t) >= 2 && t[0] == '<' && t[len(t)-1] == '>' {
		t = t[1 : len(t)-1]
	}
	parts := strings.Split(t, ".")
	if len(parts) != 3 || parts[2] != "0" {
		return PID{}, errors.New("actor: bad PID " + strconv.Quote(s) + `: want "<node.id.0>"`)
	}
	node, err1 := strconv.ParseUint(parts[0], 10, 32)
	id, err2 := strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil || id == 0 {
		return PID{}, errors.New("actor: bad PID " + strconv.Quote(s) + `: want "<node.id.0>"`)
	}
	return PID{node: uint32(node), id: id}, nil
}

// MarshalText writes the PID as String does; JSON carries PIDs this way.
// The zero PID is the empty string.
func (p PID) MarshalText() ([]byte, error) {
	if p.IsZero() {
		return []byte{}, nil
	}
	return []byte(p.String()), nil
}

// UnmarshalText reads a PID written by MarshalText.
func (p *PID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*p = PID{}
		return nil
	}
	q, err := ParsePID(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}
