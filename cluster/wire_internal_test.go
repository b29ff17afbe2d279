package cluster

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
)

func TestErrorsCrossNodes(t *testing.T) {
	roundTrip := func(err error) error {
		k, text := encodeErr(err)
		return decodeErr("b@h", k, text)
	}
	assert.NoError(t, roundTrip(nil))
	for _, e := range knownErrs[1:] {
		assert.Equal(t, e, roundTrip(e), "%v comes back as itself", e)
	}
	wrapped := fmt.Errorf("actor: send to <0.5.0>: %w", actor.NoProc)
	got := roundTrip(wrapped)
	assert.ErrorIs(t, got, actor.NoProc)
	assert.EqualError(t, got, wrapped.Error())
	var re *RemoteError
	require.ErrorAs(t, got, &re)
	assert.Equal(t, "b@h", re.Node)

	sr := roundTrip(actor.ShutdownReason{Detail: 42})
	assert.Equal(t, actor.ShutdownReason{Detail: "42"}, sr)
	assert.ErrorIs(t, sr, actor.Shutdown)

	other := roundTrip(errors.New("disk full"))
	require.ErrorAs(t, other, &re)
	assert.Equal(t, "disk full", re.Text)
	assert.NoError(t, errors.Unwrap(other))
	assert.EqualError(t, decodeErr("b@h", 200, ""), "unknown error")
}

type sample struct{ A int64 }

type wrongCodec struct{}

func (wrongCodec) Encode(any) ([]byte, error) { return []byte{1}, nil }
func (wrongCodec) Decode([]byte) (any, error) { return "not a sample", nil }

func TestCodecs(t *testing.T) {
	cs := newCodecs()
	// Built-in types need no registration.
	for _, v := range []any{"s", true, int(1), int64(2), int32(3), uint64(4), uint32(5), 1.5, []byte("b")} {
		name, data, err := cs.encode(v)
		require.NoError(t, err, "%T", v)
		back, err := cs.decode(name, data)
		require.NoError(t, err, "%T", v)
		assert.Equal(t, v, back)
	}
	_, _, err := cs.encode(sample{1})
	require.ErrorIs(t, err, ErrUnregistered)
	require.NoError(t, cs.register(sample{}))
	name, data, err := cs.encode(sample{7})
	require.NoError(t, err)
	assert.Equal(t, "github.com/graftrt/graft/cluster.sample", name)
	back, err := cs.decode(name, data)
	require.NoError(t, err)
	assert.Equal(t, sample{7}, back)
	_, err = cs.decode(name, []byte{0xff, 0x00})
	require.ErrorIs(t, err, ErrDecode)
	_, err = cs.decode("nobody.knows", data)
	require.ErrorIs(t, err, ErrUnregistered)

	type other struct{ B int64 }
	require.NoError(t, cs.add(codecEntry{name: "other", typ: reflectType(other{}), c: wrongCodec{}}))
	_, err = cs.decode("other", []byte{1})
	require.ErrorIs(t, err, ErrDecode, "a codec returning another type is refused")
}
