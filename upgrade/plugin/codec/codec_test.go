package codec_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade/plugin/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type stateV2 struct {
	Count int
	Names []string
}

// stateV3 adds a field: JSON and gob both decode an older value into it.
type stateV3 struct {
	Count int
	Names []string
	Total int64
}

func TestRoundTripAcrossShapes(t *testing.T) {
	for _, c := range []codec.Codec{codec.JSON, codec.Gob} {
		t.Run(c.Name(), func(t *testing.T) {
			raw, err := codec.Encode(c, stateV2{Count: 3, Names: []string{"a"}})
			require.NoError(t, err)
			assert.Equal(t, c.Name(), raw.Codec)
			got, err := codec.Decode[stateV3](raw)
			require.NoError(t, err)
			assert.Equal(t, stateV3{Count: 3, Names: []string{"a"}}, got)

			found, err := codec.ByName(c.Name())
			require.NoError(t, err)
			assert.Equal(t, c, found)
		})
	}
}

func TestProtobuf(t *testing.T) {
	raw, err := codec.Encode(codec.Protobuf, wrapperspb.Int64(42))
	require.NoError(t, err)
	// Into a message, and into a pointer to a nil message (a state of
	// type *T decodes into a **T).
	var into wrapperspb.Int64Value
	require.NoError(t, raw.Decode(&into))
	assert.Equal(t, int64(42), into.GetValue())
	got, err := codec.Decode[*wrapperspb.Int64Value](raw)
	require.NoError(t, err)
	assert.Equal(t, int64(42), got.GetValue())

	_, err = codec.Encode(codec.Protobuf, stateV2{})
	assert.ErrorIs(t, err, codec.ErrNotProto)
	var plain int
	assert.ErrorIs(t, raw.Decode(&plain), codec.ErrNotProto)
	_, err = codec.Decode[*structpb.Struct](codec.Raw{Codec: "protobuf", Data: []byte{0xff, 0xff}})
	assert.Error(t, err, "garbage bytes")
}

func TestUnknownAndGarbage(t *testing.T) {
	_, err := codec.ByName("xml")
	assert.ErrorIs(t, err, codec.ErrUnknown)
	assert.ErrorIs(t, codec.Raw{Codec: "xml"}.Decode(new(int)), codec.ErrUnknown)
	for _, name := range []string{"json", "gob"} {
		_, err := codec.Decode[stateV2](codec.Raw{Codec: name, Data: []byte("\x00garbage")})
		assert.Error(t, err, name)
	}
	assert.Equal(t, "json(2 bytes)", codec.Raw{Codec: "json", Data: []byte("{}")}.String())
}

// Bytes that cross from a plugin (or to one) are untrusted: decoding them
// with any codec, into any shape, returns an error or a value, never
// panics; and what a codec encodes, it decodes back.
func FuzzDecode(f *testing.F) {
	f.Add("json", []byte(`{"Count": 3, "Names": ["a"]}`))
	f.Add("gob", mustEncode(f, codec.Gob, stateV2{Count: 1}))
	f.Add("protobuf", mustEncode(f, codec.Protobuf, wrapperspb.Int64(7)))
	f.Add("json", []byte("\x00garbage"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		raw := codec.Raw{Codec: name, Data: data}
		if s, err := codec.Decode[stateV3](raw); err == nil && name != "protobuf" {
			back, err := codec.Encode(mustCodec(t, name), s)
			if err != nil {
				t.Fatalf("decoded %+v, cannot encode it back: %v", s, err)
			}
			again, err := codec.Decode[stateV3](back)
			if err != nil {
				t.Fatalf("round trip of %+v: %v", s, err)
			}
			assert.Equal(t, len(s.Names), len(again.Names))
			assert.Equal(t, s.Count, again.Count)
		}
		_, _ = codec.Decode[map[string]any](raw)
		_, _ = codec.Decode[*wrapperspb.Int64Value](raw)
		_, _ = codec.Decode[[]int](raw)
	})
}

func mustEncode(f *testing.F, c codec.Codec, v any) []byte {
	b, err := c.Marshal(v)
	require.NoError(f, err)
	return b
}

func mustCodec(t *testing.T, name string) codec.Codec {
	c, err := codec.ByName(name)
	require.NoError(t, err)
	return c
}

func TestDecodeStrictRefusesOtherShapes(t *testing.T) {
	type v1 struct {
		Balance int
		Note    string `json:",omitempty"`
		Items   []struct{ ID, Qty int }
	}
	type v4 struct {
		Cents int64
		Owner string
	}
	good, err := codec.Encode(codec.JSON, v1{Balance: 5, Items: []struct{ ID, Qty int }{{1, 2}}})
	require.NoError(t, err)
	got, err := codec.DecodeStrict[v1](good)
	require.NoError(t, err)
	assert.Equal(t, 5, got.Balance)

	foreign, err := codec.Encode(codec.JSON, v4{Cents: 500, Owner: "ann"})
	require.NoError(t, err)
	_, err = codec.DecodeStrict[v1](foreign)
	assert.ErrorIs(t, err, codec.ErrShape, "unknown fields")
	lenient, err := codec.Decode[v1](foreign)
	require.NoError(t, err, "Decode stays lenient")
	assert.Zero(t, lenient.Balance)

	missing := codec.Raw{Codec: "json", Data: []byte(`{"Items": []}`)}
	_, err = codec.DecodeStrict[v1](missing)
	assert.ErrorIs(t, err, codec.ErrShape)
	assert.ErrorContains(t, err, ".Balance is missing")
	nested := codec.Raw{Codec: "json", Data: []byte(`{"Balance": 1, "Items": [{"ID": 1}]}`)}
	_, err = codec.DecodeStrict[v1](nested)
	assert.ErrorContains(t, err, ".Items[0].Qty is missing", "checked at every depth")
	omitted := codec.Raw{Codec: "json", Data: []byte(`{"Balance": 1, "Items": null}`)}
	_, err = codec.DecodeStrict[v1](omitted)
	assert.NoError(t, err, "an omitempty field may be absent")

	// Protobuf: fields the message does not declare are refused.
	msg, err := codec.Encode(codec.Protobuf, wrapperspb.String("hello"))
	require.NoError(t, err)
	_, err = codec.DecodeStrict[*wrapperspb.Int64Value](msg)
	assert.Error(t, err)
	ok, err := codec.DecodeStrict[*wrapperspb.StringValue](msg)
	require.NoError(t, err)
	assert.Equal(t, "hello", ok.GetValue())
}

// A Raw is an actor.StrictDecoder: a typed version given a plugin's state
// decodes it strictly, and refuses one of another shape instead of reading
// zeros (a Lenient version decodes it leniently, on purpose).
func TestATypedVersionDecodesARawStrictly(t *testing.T) {
	type balance struct{ Balance int }
	type cents struct {
		Cents int64
		Owner string
	}
	handle := func(_ *actor.Context, s balance, _ any) (balance, error) { return s, nil }
	v := actor.Define("acct", "v1", actor.Funcs[balance]{Handle: handle})
	var _ actor.StrictDecoder = codec.Raw{}

	own, err := codec.Encode(codec.JSON, balance{Balance: 7})
	require.NoError(t, err)
	got, err := actor.MigrateState(v, v, nil, own, nil)
	require.NoError(t, err)
	assert.Equal(t, balance{Balance: 7}, got)

	other, err := codec.Encode(codec.JSON, cents{Cents: 700, Owner: "ann"})
	require.NoError(t, err)
	_, err = actor.MigrateState(v, v, nil, other, nil)
	assert.ErrorIs(t, err, actor.ErrStateType)
	assert.ErrorContains(t, err, `does not have the shape of the type: json: unknown field "Cents"`)

	lenient := actor.Define("acct", "v1", actor.Funcs[balance]{Handle: handle, Lenient: true})
	got, err = actor.MigrateState(lenient, lenient, nil, other, nil)
	require.NoError(t, err, "Lenient: read anyway")
	assert.Equal(t, balance{}, got)
}
