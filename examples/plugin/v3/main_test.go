package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/examples/plugin/visits"
	"github.com/graftrt/graft/upgrade/plugin/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// v3 has no CodeChange: v2's state decodes into v3's as it is, and the
// first visit fills Top in.
func TestV2StateDecodesAndTopFollows(t *testing.T) {
	m := Module()
	assert.Nil(t, m.CodeChange)
	raw, err := codec.Encode(codec.JSON, map[string]any{"Pages": map[string]int{"/docs": 5, "/": 1}, "Total": 6})
	require.NoError(t, err)
	s, err := codec.Decode[State](raw)
	require.NoError(t, err)
	s, err = m.Handle(nil, s, visits.Msg{Page: "/docs", Sender: 1, Seq: 1})
	require.NoError(t, err)
	assert.Equal(t, "/docs", s.Top)
	assert.Equal(t, int64(7), s.Total)
	for range 6 {
		s, err = m.Handle(nil, s, visits.Msg{Page: "/", Sender: 1})
		require.NoError(t, err)
	}
	assert.Equal(t, "/", s.Top, "overtaken")
}
