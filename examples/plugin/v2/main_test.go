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

func TestMigrationFromV1AndBack(t *testing.T) {
	m := Module()
	old := visits.StateV1{Pages: map[string]int{"/": 2, "/docs": 1}, Last: map[int]uint64{1: 3}, OutOfOrder: 1}
	raw, err := codec.Encode(codec.JSON, old)
	require.NoError(t, err)
	s, err := m.CodeChange("v1", raw, codec.Raw{})
	require.NoError(t, err)
	assert.Equal(t, State{Pages: old.Pages, Total: 3, Next: map[int]uint64{1: 4}, OutOfOrder: 1}, s)

	s, err = m.Handle(nil, s, visits.Msg{Page: "/", Sender: 1, Seq: 4})
	require.NoError(t, err)
	s, err = m.Handle(nil, s, visits.Msg{Page: "/", Sender: 2, Seq: 2})
	require.NoError(t, err)
	assert.Equal(t, int64(5), s.Total)
	assert.Equal(t, int64(2), s.OutOfOrder, "sender 2 started at 2, not 1")

	back, err := m.Downgrade("v1", s, codec.Raw{})
	require.NoError(t, err)
	assert.Equal(t, visits.StateV1{Pages: map[string]int{"/": 4, "/docs": 1}, Last: map[int]uint64{1: 4, 2: 2}, OutOfOrder: 2}, back)
}
