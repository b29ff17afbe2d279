package cluster

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"ergo.services/ergo/gen"
	"ergo.services/ergo/lib"
	"ergo.services/ergo/net/edf"
)

// Codec encodes the values of one message type for the wire and decodes
// them on the other node. Register one with Node.RegisterCodec when EDF
// (the default, see Node.Register) does not fit a type. Encode and Decode
// are user code to the node: a panic in them is an error.
type Codec interface {
	Encode(v any) ([]byte, error)
	Decode(b []byte) (any, error)
}

// codecs is a node's registry of message types: by Go type at the
// sender, by name at the receiver. Types are known by name on the wire,
// so two nodes agree on a type by registering it under the same name
// (Register uses the package path and the type name).
type codecs struct {
	mu     sync.RWMutex
	byType map[reflect.Type]codecEntry // guarded by mu
	byName map[string]codecEntry       // guarded by mu
}

type codecEntry struct {
	name string
	typ  reflect.Type
	c    Codec
	// decl is what this node declares of the type as a message shape
	// (shapes.senderDecl), sent with every message of it.
	decl string
}

// builtin are the types every node knows without registration: EDF
// encodes them natively.
var builtin = []any{"", false, int(0), int64(0), int32(0), uint64(0), uint32(0), float64(0), []byte(nil)}

func newCodecs() *codecs {
	cs := &codecs{byType: make(map[reflect.Type]codecEntry), byName: make(map[string]codecEntry)}
	for _, v := range builtin {
		t := reflect.TypeOf(v)
		e := codecEntry{name: t.String(), typ: t, c: edfCodec{t: t}}
		cs.byType[t], cs.byName[e.name] = e, e
	}
	return cs
}

func typeName(t reflect.Type) string { return t.PkgPath() + "." + t.Name() }

// register adds v's type with the EDF codec.
func (cs *codecs) register(v any) error {
	if v == nil {
		return fmt.Errorf("%w: nil sample", ErrBadType)
	}
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		return fmt.Errorf("%w: %v: a pointer cannot cross nodes (send the value)", ErrBadType, t)
	}
	if t.Name() == "" || t.PkgPath() == "" {
		return fmt.Errorf("%w: %v: only named types can be registered by sample (use RegisterCodec)", ErrBadType, t)
	}
	if err := safeEDFRegister(v); err != nil {
		return fmt.Errorf("%w: %v: %v", ErrBadType, t, err)
	}
	return cs.add(codecEntry{name: typeName(t), typ: t, c: newEDFCodec(t)})
}

func safeEDFRegister(v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("EDF: %v", r)
		}
	}()
	// EDF's registry is Ergo's, for the whole program: a type another node
	// in this program registered already is fine.
	if err := edf.RegisterTypeOf(v); err != nil && !errors.Is(err, gen.ErrTaken) {
		return err
	}
	return nil
}

func (cs *codecs) add(e codecEntry) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if old, ok := cs.byName[e.name]; ok && old.typ != e.typ {
		return fmt.Errorf("%w: name %q is registered for %v", ErrBadType, e.name, old.typ)
	}
	if old, ok := cs.byType[e.typ]; ok && old.name != e.name {
		return fmt.Errorf("%w: %v is registered as %q", ErrBadType, e.typ, old.name)
	}
	if old, ok := cs.byType[e.typ]; ok {
		e.decl = old.decl
	}
	cs.byType[e.typ], cs.byName[e.name] = e, e
	return nil
}

// nameOf returns the name t is registered under.
func (cs *codecs) nameOf(t reflect.Type) (string, bool) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	e, ok := cs.byType[t]
	return e.name, ok
}

// setDecl records what this node declares of the registered type t as a
// message shape.
func (cs *codecs) setDecl(t reflect.Type, decl string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if e, ok := cs.byType[t]; ok {
		e.decl = decl
		cs.byType[t], cs.byName[e.name] = e, e
	}
}

// encode returns v's codec name and bytes; an unregistered type is
// ErrUnregistered.
func (cs *codecs) encode(v any) (string, []byte, error) {
	name, b, _, err := cs.encodeMessage(v)
	return name, b, err
}

// encodeMessage is encode, and also returns what this node declares of
// v's type as a message shape (see shapes.senderDecl).
func (cs *codecs) encodeMessage(v any) (name string, b []byte, decl string, err error) {
	if v == nil {
		return "", nil, "", nil
	}
	cs.mu.RLock()
	e, ok := cs.byType[reflect.TypeOf(v)]
	cs.mu.RUnlock()
	if !ok {
		return "", nil, "", fmt.Errorf("%w: %T (register it with Node.Register or RegisterMessages on every node)", ErrUnregistered, v)
	}
	b, err = safeEncode(e.c, v)
	if err != nil {
		return "", nil, "", fmt.Errorf("cluster: encode %T: %w", v, err)
	}
	return e.name, b, e.decl, nil
}

// decode turns what encode wrote back into a value.
func (cs *codecs) decode(name string, b []byte) (any, error) {
	if name == "" {
		return nil, nil
	}
	cs.mu.RLock()
	e, ok := cs.byName[name]
	cs.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s is not registered on this node", ErrUnregistered, name)
	}
	v, err := safeDecode(e.c, b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDecode, name, err)
	}
	if v == nil || reflect.TypeOf(v) != e.typ {
		return nil, fmt.Errorf("%w: %s: codec returned %T", ErrDecode, name, v)
	}
	return v, nil
}

func safeEncode(c Codec, v any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("codec panicked: %v", r)
		}
	}()
	return c.Encode(v)
}

func safeDecode(c Codec, b []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("codec panicked: %v", r)
		}
	}()
	return c.Decode(b)
}

// edfCodec encodes with Ergo's EDF: native types, and structs registered
// with it (exported fields of native or registered types; no pointers).
//
// EDF writes a registered type's name ("#" package path "/" name) before
// its value; the frame carrying the bytes names the codec already, so the
// name would cross twice and be read back into a string for every
// message. For a registered type the codec has EDF write, and read back,
// a number instead: the same on every node (the frame says which codec,
// and the codec which type), in a cache of one type kept by the codec.
type edfCodec struct {
	t        reflect.Type
	enc, dec edf.Options
}

// edfTypeID stands for the codec's type in its bytes, after EDF's tag for
// a registered type (EDF takes ids above 4095 as cached ones).
const (
	edfRegTag = 131
	edfTypeID = 0x1000
)

func newEDFCodec(t reflect.Type) edfCodec {
	c := edfCodec{t: t}
	if t.Name() != "" && t.PkgPath() != "" {
		c.enc = edf.Options{RegCache: new(sync.Map), Cache: new(sync.Map)}
		c.enc.RegCache.Store(t, []byte{edfRegTag, edfTypeID >> 8, edfTypeID & 0xff})
		c.dec = edf.Options{RegCache: new(sync.Map)}
		// EDF names a registered type so (edf.RegisterTypeOf).
		c.dec.RegCache.Store(uint16(edfTypeID), "#"+t.PkgPath()+"/"+t.Name())
	}
	return c
}

func (c edfCodec) Encode(v any) ([]byte, error) {
	buf := lib.TakeBuffer()
	defer lib.ReleaseBuffer(buf)
	if err := edf.Encode(v, buf, c.enc); err != nil {
		return nil, err
	}
	return append([]byte(nil), buf.B...), nil
}

func (c edfCodec) Decode(b []byte) (any, error) {
	v, _, err := edf.Decode(b, c.dec)
	if err != nil {
		return nil, err
	}
	// EDF gives a nil []byte back as nil; the type was agreed on.
	if v == nil && c.t.Kind() == reflect.Slice {
		return reflect.Zero(c.t).Interface(), nil
	}
	return v, nil
}
