package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// packet is what one node's bridge sends another's as one Ergo message
// (EDF-encoded, over Ergo's connection, after Ergo's handshake): the
// frames of one session, each a wire message, in the order sent. What
// every message of a session shares (its number, and the incarnations of
// the two nodes) crosses once per packet.
//
// Sending every wire message as an Ergo message of its own cost more at
// both ends than the message itself: Ergo's reader copies and queues each
// packet it reads and the bridge's mailbox takes each one, and EDF wrote
// the wire struct's fifteen fields and its codec's type name in full every
// time. A packet carries as many frames as waited in the peer's outbox
// (see outbox), in a compact encoding of the fields a frame uses.
type packet struct {
	Session         uint64
	FromIncarnation uint64
	ToIncarnation   uint64
	Frames          []byte
}

// A frame is a wire message: its kind, a mask of the fields that follow
// (the others are zero), and those fields in the order of the mask's bits.
// Numbers are varints, strings and bytes a length and the bytes. A codec's
// type name crosses once per packet: the first frame of a packet to carry
// a type names it (number 0, then the name) and numbers it (1, 2, ... in
// the order named); later frames of the packet give its number. A packet
// is decoded alone, so nothing outlives it: a lost or refused packet
// leaves the next one readable, and a new connection starts afresh.
const (
	fFrom = 1 << iota
	fTo
	fRef
	fName
	fType
	fData
	fErrKind
	fErrText
	fExit
	fLink
	fTimeout
)

// maxTypes bounds the type names one packet numbers; later frames of a
// packet that uses more name their types in full.
const maxTypes = 64

// frameWriter appends frames to a packet's bytes.
type frameWriter struct {
	b     []byte
	types []string // the type names numbered in b, number i+1 at i
}

func (fw *frameWriter) reset(b []byte) {
	fw.b = b[:0]
	fw.types = fw.types[:0]
}

// add appends w.
func (fw *frameWriter) add(w *wire) {
	var mask uint64
	set := func(bit uint64, on bool) {
		if on {
			mask |= bit
		}
	}
	set(fFrom, w.From != 0)
	set(fTo, w.To != 0)
	set(fRef, w.Ref != 0)
	set(fName, w.Name != "")
	set(fType, w.Type != "")
	set(fData, w.Data != nil)
	set(fErrKind, w.ErrKind != 0)
	set(fErrText, w.ErrText != "")
	set(fExit, w.Exit)
	set(fLink, w.Link)
	set(fTimeout, w.Timeout != 0)
	b := append(fw.b, w.Kind)
	b = binary.AppendUvarint(b, mask)
	if mask&fFrom != 0 {
		b = binary.AppendUvarint(b, w.From)
	}
	if mask&fTo != 0 {
		b = binary.AppendUvarint(b, w.To)
	}
	if mask&fRef != 0 {
		b = binary.AppendUvarint(b, w.Ref)
	}
	if mask&fName != 0 {
		b = appendString(b, w.Name)
	}
	if mask&fType != 0 {
		b = fw.appendType(b, w.Type)
	}
	if mask&fData != 0 {
		b = binary.AppendUvarint(b, uint64(len(w.Data)))
		b = append(b, w.Data...)
	}
	if mask&fErrKind != 0 {
		b = append(b, w.ErrKind)
	}
	if mask&fErrText != 0 {
		b = appendString(b, w.ErrText)
	}
	if mask&fTimeout != 0 {
		b = binary.AppendVarint(b, w.Timeout)
	}
	fw.b = b
}

func (fw *frameWriter) appendType(b []byte, name string) []byte {
	for i, t := range fw.types {
		if t == name {
			return binary.AppendUvarint(b, uint64(i+1))
		}
	}
	if len(fw.types) < maxTypes {
		fw.types = append(fw.types, name)
	}
	b = append(b, 0)
	return appendString(b, name)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errBadFrame = errors.New("cluster: malformed frame")

// frameReader reads a packet's frames back.
type frameReader struct {
	b     []byte
	types []string
	err   error
}

// next reads the next frame into w (its fields not in the frame are
// zero), and reports whether there was one; at the end of the packet, or
// at a malformed frame (err), it reports false. Data aliases the packet.
func (fr *frameReader) next(w *wire) bool {
	if len(fr.b) == 0 || fr.err != nil {
		return false
	}
	*w = wire{Kind: fr.b[0]}
	fr.b = fr.b[1:]
	mask := fr.uvarint()
	if mask&fFrom != 0 {
		w.From = fr.uvarint()
	}
	if mask&fTo != 0 {
		w.To = fr.uvarint()
	}
	if mask&fRef != 0 {
		w.Ref = fr.uvarint()
	}
	if mask&fName != 0 {
		w.Name = string(fr.bytes())
	}
	if mask&fType != 0 {
		w.Type = fr.typeName()
	}
	if mask&fData != 0 {
		w.Data = fr.bytes()
	}
	if mask&fErrKind != 0 {
		if len(fr.b) == 0 {
			fr.fail("error kind")
		} else {
			w.ErrKind, fr.b = fr.b[0], fr.b[1:]
		}
	}
	if mask&fErrText != 0 {
		w.ErrText = string(fr.bytes())
	}
	w.Exit, w.Link = mask&fExit != 0, mask&fLink != 0
	if mask&fTimeout != 0 {
		v, n := binary.Varint(fr.b)
		if n <= 0 {
			fr.fail("timeout")
		} else {
			w.Timeout, fr.b = v, fr.b[n:]
		}
	}
	if mask >= fTimeout<<1 {
		fr.fail(fmt.Sprintf("unknown fields %#x", mask))
	}
	return fr.err == nil
}

func (fr *frameReader) fail(what string) {
	if fr.err == nil {
		fr.err = fmt.Errorf("%w: %s", errBadFrame, what)
	}
}

func (fr *frameReader) uvarint() uint64 {
	v, n := binary.Uvarint(fr.b)
	if n <= 0 {
		fr.fail("varint")
		return 0
	}
	fr.b = fr.b[n:]
	return v
}

func (fr *frameReader) bytes() []byte {
	l := fr.uvarint()
	if fr.err != nil {
		return nil
	}
	if l > uint64(len(fr.b)) {
		fr.fail("length")
		return nil
	}
	v := fr.b[:l:l]
	fr.b = fr.b[l:]
	return v
}

func (fr *frameReader) typeName() string {
	i := fr.uvarint()
	if fr.err != nil {
		return ""
	}
	if i == 0 {
		name := string(fr.bytes())
		if fr.err == nil && len(fr.types) < maxTypes {
			fr.types = append(fr.types, name)
		}
		return name
	}
	if i > uint64(len(fr.types)) {
		fr.fail(fmt.Sprintf("type number %d of %d", i, len(fr.types)))
		return ""
	}
	return fr.types[i-1]
}
