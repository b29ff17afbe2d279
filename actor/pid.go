package actor

import (
	"encoding/binary"
	"errors"
	"strconv"
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
type Ref struct{ id uint64 }

// String returns the Ref as "#Ref<id>".
func (r Ref) String() string { return "#Ref<" + strconv.FormatUint(r.id, 10) + ">" }
