package actor

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/graftrt/graft/internal/strictjson"
)

// Codec turns a version's states, messages and spawn arguments into bytes
// and back, for where they leave the process that holds them: a handoff
// to a new build of the service (package handoff) sends every process's
// state and queued messages through the codec its version declares
// (Funcs.Codec, or a behaviour implementing HasCodec). Both builds must
// know the codec by its Name. Decode is lenient (fields the value has and
// the type lacks, or the reverse, are skipped or left zero); DecodeStrict
// refuses them, so that a typed version that is not Lenient never reads a
// shape it does not know with its data silently dropped.
type Codec interface {
	Name() string
	Encode(v any) ([]byte, error)
	Decode(data []byte, into any) error
	DecodeStrict(data []byte, into any) error
}

// HasCodec is implemented by untyped behaviours (NewVersion) that declare
// a codec and the types of the messages and spawn arguments that may
// cross with it (see Funcs.Codec and Funcs.Types).
type HasCodec interface {
	Codec() Codec
	Types() []any
}

// ErrNoCodec reports a version that declares no codec where one is
// needed: its states cannot leave the process.
var ErrNoCodec = errors.New("actor: version declares no codec")

// JSON is encoding/json as a Codec: readable, tolerant of added fields
// when decoding leniently, strict at every depth otherwise.
var JSON Codec = jsonCodec{}

// Gob is encoding/gob as a Codec: compact, Go only. Gob cannot tell a
// missing field from a zero one, so DecodeStrict refuses only fields the
// type lacks.
var Gob Codec = gobCodec{}

type jsonCodec struct{}

func (jsonCodec) Name() string                             { return "json" }
func (jsonCodec) Encode(v any) ([]byte, error)             { return json.Marshal(v) }
func (jsonCodec) Decode(data []byte, into any) error       { return json.Unmarshal(data, into) }
func (jsonCodec) DecodeStrict(data []byte, into any) error { return strictjson.Unmarshal(data, into) }

type gobCodec struct{}

func (gobCodec) Name() string { return "gob" }

func (gobCodec) Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (gobCodec) Decode(data []byte, into any) error {
	return gob.NewDecoder(bytes.NewReader(data)).Decode(into)
}

// DecodeStrict is Decode: gob already refuses a value whose fields have
// nothing in common with the type, and cannot see a missing field.
func (g gobCodec) DecodeStrict(data []byte, into any) error { return g.Decode(data, into) }

// EncodedValue is a value in a codec's bytes, as it arrives from another
// process: a typed version given one where it expects its own type
// decodes it (strictly, unless it is Lenient), as it does any Encoded
// state.
type EncodedValue struct {
	Codec Codec
	Data  []byte
}

// Decode decodes the value into into, leniently. A panic in the codec is
// returned as an error.
func (e EncodedValue) Decode(into any) error {
	return e.call(func() error { return e.Codec.Decode(e.Data, into) })
}

// DecodeStrict decodes the value into into, refusing a shape that does not
// match it exactly.
func (e EncodedValue) DecodeStrict(into any) error {
	return e.call(func() error { return e.Codec.DecodeStrict(e.Data, into) })
}

func (e EncodedValue) call(f func() error) (err error) {
	if e.Codec == nil {
		return ErrNoCodec
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("codec %s panicked: %w", e.Codec.Name(), newPanicError(r))
		}
	}()
	return SafeError(f())
}

// Codec returns the codec the version declares, nil if none.
func (v *Version) Codec() Codec { return v.codec }

// TypeName is the name a value's type crosses under with a Codec: the
// package path and the type's name ("example.com/bank.Deposit"), with a
// "*" before it for a pointer. Both builds of a service name their types
// the same way.
func TypeName(t reflect.Type) string {
	switch {
	case t == nil:
		return ""
	case t.Kind() == reflect.Pointer:
		return "*" + TypeName(t.Elem())
	case t.Name() != "" && t.PkgPath() != "":
		return t.PkgPath() + "." + t.Name()
	}
	return t.String()
}

// Types returns the types the version declares for values that cross with
// its codec (messages, spawn arguments), by TypeName. Basic types (bool,
// string, the integers and floats, []byte, []string) cross without being
// declared.
func (v *Version) Types() map[string]reflect.Type {
	out := make(map[string]reflect.Type, len(v.types))
	for _, t := range v.types {
		out[TypeName(t)] = t
	}
	return out
}

// builtin are the types every version's codec takes without listing
// them in Types: the basic types (a call's answer is often one).
var builtin = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for _, v := range []any{false, "", 0, int8(0), int16(0), int32(0), int64(0), uint(0), uint8(0),
		uint16(0), uint32(0), uint64(0), float32(0), float64(0), []byte(nil), []string(nil)} {
		t := reflect.TypeOf(v)
		m[TypeName(t)] = t
	}
	return m
}()

// typeNamed finds a type v takes by its TypeName: one it lists in Types,
// or a basic type.
func (v *Version) typeNamed(name string) (reflect.Type, bool) {
	for _, t := range v.types {
		if TypeName(t) == name {
			return t, true
		}
	}
	t, ok := builtin[name]
	return t, ok
}

// setCodec records a codec declaration.
func (v *Version) setCodec(c Codec, types []any) {
	v.codec = c
	for _, x := range types {
		if x != nil {
			v.types = append(v.types, reflect.TypeOf(x))
		}
	}
}

// hasCodec asks an untyped behaviour for its codec; a panic is an error
// Load reports.
func hasCodec(h HasCodec) (c Codec, types []any, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, types, err = nil, nil, fmt.Errorf("Codec or Types panicked: %v", r)
		}
	}()
	return h.Codec(), h.Types(), nil
}
