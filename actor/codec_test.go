package actor_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
)

type panicCodec struct{}

func (panicCodec) Name() string                       { return "panic" }
func (panicCodec) Encode(any) ([]byte, error)         { panic("encode exploded") }
func (panicCodec) Decode([]byte, any) error           { panic("decode exploded") }
func (panicCodec) DecodeStrict(d []byte, v any) error { panic("decode exploded") }

// The built-in codecs round-trip; JSON's strict decoding refuses unknown
// and missing fields; a codec's panic is an error.
func TestCodecs(t *testing.T) {
	for _, c := range []actor.Codec{actor.JSON, actor.Gob} {
		data, err := c.Encode(ledgerV2{Sum: 3, Entries: 1})
		require.NoError(t, err)
		var out ledgerV2
		require.NoError(t, actor.EncodedValue{Codec: c, Data: data}.DecodeStrict(&out), c.Name())
		assert.Equal(t, ledgerV2{Sum: 3, Entries: 1}, out)
	}
	var out ledgerV2
	require.Error(t, actor.EncodedValue{Codec: actor.JSON, Data: []byte(`{"Sum":1}`)}.DecodeStrict(&out))
	require.NoError(t, actor.EncodedValue{Codec: actor.JSON, Data: []byte(`{"Sum":1}`)}.Decode(&out))
	require.ErrorIs(t, actor.EncodedValue{}.Decode(&out), actor.ErrNoCodec)
	var pe *actor.PanicError
	require.ErrorAs(t, actor.EncodedValue{Codec: panicCodec{}}.Decode(&out), &pe)

	v := actor.Define("ledger", "v9", actor.Funcs[int]{Codec: panicCodec{}, Types: []any{add{}},
		Handle: func(ctx *actor.Context, s int, msg any) (int, error) { return s, nil }})
	_, err := actor.EncodeMessage(v, add{N: 1})
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "github.com/graftrt/graft/actor_test.add", actor.TypeName(reflect.TypeOf(add{})))
	assert.Equal(t, "*github.com/graftrt/graft/actor_test.add", actor.TypeName(reflect.TypeOf(&add{})))
}

type untypedCodec struct{}

func (untypedCodec) Init(*actor.Context, any) (any, error)          { return 0, nil }
func (untypedCodec) Handle(_ *actor.Context, s, _ any) (any, error) { return s, nil }
func (untypedCodec) Codec() actor.Codec                             { return actor.Gob }
func (untypedCodec) Types() []any                                   { return []any{add{}} }

// An untyped behaviour declares its codec through HasCodec.
func TestHasCodec(t *testing.T) {
	v := actor.NewVersion("u", "v1", untypedCodec{})
	assert.Equal(t, actor.Gob, v.Codec())
	assert.Contains(t, v.Types(), actor.TypeName(reflect.TypeOf(add{})))
}
