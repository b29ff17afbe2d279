package cluster

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type edfInner struct{ A string }

type edfOuter struct {
	In   edfInner
	Many []edfInner
	N    int64
}

// A registered type's bytes carry a number for its name, not the name;
// two nodes (two registries) read each other's, nested registered types
// included, and bytes that name the type in full (an earlier build's)
// still decode.
func TestEDFCodecNumbersItsType(t *testing.T) {
	a, b := newCodecs(), newCodecs()
	for _, cs := range []*codecs{a, b} {
		require.NoError(t, cs.register(edfInner{}))
		require.NoError(t, cs.register(edfOuter{}))
	}
	v := edfOuter{In: edfInner{"x"}, Many: []edfInner{{"y"}, {"z"}}, N: 7}
	name, data, err := a.encode(v)
	require.NoError(t, err)
	assert.False(t, bytes.Contains(data, []byte("edfOuter")), "%q", data)
	back, err := b.decode(name, data)
	require.NoError(t, err)
	assert.Equal(t, v, back)

	full, err := edfCodec{t: reflectType(v)}.Encode(v)
	require.NoError(t, err)
	require.True(t, bytes.Contains(full, []byte("edfOuter")))
	back, err = b.decode(name, full)
	require.NoError(t, err)
	assert.Equal(t, v, back)
}
