package codec

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"google.golang.org/protobuf/proto"
)

// Codec encodes values to bytes and back.
type Codec interface {
	// Name identifies the codec on the wire ("json", "gob", "protobuf").
	Name() string
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, a pointer.
	Unmarshal(data []byte, v any) error
}

// The codecs. Use ByName to find one from the name on the wire.
var (
	JSON     Codec = jsonCodec{}
	Gob      Codec = gobCodec{}
	Protobuf Codec = protoCodec{}
)

// ErrUnknown reports a codec name that is none of the codecs.
var ErrUnknown = errors.New("codec: unknown codec")

// ByName returns the codec called name.
func ByName(name string) (Codec, error) {
	switch name {
	case "json":
		return JSON, nil
	case "gob":
		return Gob, nil
	case "protobuf":
		return Protobuf, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknown, name)
}

// Raw is a value encoded with the codec it names: the form in which a
// plugin version's state lives in the host, and in which a plugin's replies
// reach callers. Its Decode makes it an actor.Encoded, so a compiled-in
// version that takes over such a state decodes it into its own type.
type Raw struct {
	Codec string
	Data  []byte
}

// Decode decodes the value into v, a pointer, with the codec that wrote it.
// Fields of the value that v lacks are dropped, and fields of v the value
// lacks keep their zero value: use DecodeStrict unless the shapes are
// known to differ on purpose.
func (r Raw) Decode(v any) error {
	c, err := ByName(r.Codec)
	if err != nil {
		return err
	}
	return c.Unmarshal(r.Data, v)
}

// ErrShape reports a value whose fields are not the fields of the type it
// is decoded into (DecodeStrict).
var ErrShape = errors.New("codec: the value does not have the shape of the type")

// DecodeStrict is Decode that refuses a value of another shape: JSON
// with a field v lacks, or lacking a field of v (one without omitempty);
// protobuf with fields v's message does not declare. (Gob decodes by
// field name and cannot tell a missing field from a zero one: only
// Decode's checks apply.) It makes Raw an actor.StrictDecoder, so a typed
// version refuses a state it does not know instead of losing its data.
func (r Raw) DecodeStrict(v any) error {
	c, err := ByName(r.Codec)
	if err != nil {
		return err
	}
	switch c {
	case JSON:
		return strictJSON(r.Data, v)
	case Protobuf:
		if err := c.Unmarshal(r.Data, v); err != nil {
			return err
		}
		return strictProto(v)
	}
	return c.Unmarshal(r.Data, v)
}

// Encode encodes v with c into a Raw.
func Encode(c Codec, v any) (Raw, error) {
	data, err := c.Marshal(v)
	if err != nil {
		return Raw{}, err
	}
	return Raw{Codec: c.Name(), Data: data}, nil
}

// Decode decodes r into a new T.
func Decode[T any](r Raw) (T, error) {
	var v T
	err := r.Decode(&v)
	return v, err
}

// DecodeStrict decodes r into a new T with Raw.DecodeStrict.
func DecodeStrict[T any](r Raw) (T, error) {
	var v T
	err := r.DecodeStrict(&v)
	return v, err
}

// String describes the value without its bytes.
func (r Raw) String() string { return fmt.Sprintf("%s(%d bytes)", r.Codec, len(r.Data)) }

type jsonCodec struct{}

func (jsonCodec) Name() string                       { return "json" }
func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

type gobCodec struct{}

func (gobCodec) Name() string { return "gob" }

func (gobCodec) Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(v)
	return b.Bytes(), err
}

func (gobCodec) Unmarshal(data []byte, v any) error {
	return gob.NewDecoder(bytes.NewReader(data)).Decode(v)
}

type protoCodec struct{}

// ErrNotProto reports a value the protobuf codec cannot handle.
var ErrNotProto = errors.New("codec: protobuf needs a proto.Message")

func (protoCodec) Name() string { return "protobuf" }

func (protoCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%w, not %T", ErrNotProto, v)
	}
	return proto.Marshal(m)
}

// Unmarshal decodes into v, which must be a proto.Message or a pointer to
// one (a **T for a state of type *T): then a new message is allocated.
func (protoCodec) Unmarshal(data []byte, v any) error {
	if m, ok := v.(proto.Message); ok {
		return proto.Unmarshal(data, m)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Pointer {
		n := reflect.New(rv.Elem().Type().Elem())
		if m, ok := n.Interface().(proto.Message); ok {
			if err := proto.Unmarshal(data, m); err != nil {
				return err
			}
			rv.Elem().Set(n)
			return nil
		}
	}
	return fmt.Errorf("%w, not %T", ErrNotProto, v)
}
