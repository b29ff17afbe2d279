package actor_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
)

func TestSnapshotReadsQueuesWithoutAskingTheProcess(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil, actor.WithName("busy"))
	require.NoError(t, err)
	other, err := sys.Spawn("worker", nil)
	require.NoError(t, err)

	release := hold(t, sys, pid) // busy in a handler: it could not answer Info
	for i := range 3 {
		require.NoError(t, sys.Send(pid, i))
	}
	stats := map[actor.PID]actor.ProcessStat{}
	for _, st := range sys.Snapshot() {
		stats[st.PID] = st
	}
	require.Contains(t, stats, pid)
	require.Contains(t, stats, other)
	assert.Equal(t, actor.ProcessStat{PID: pid, Name: "busy", Module: "worker", Version: "v1",
		Queued: 3, Taken: 1}, stats[pid])
	assert.Equal(t, 0, stats[other].Queued)

	release()
	_, err = call(t, sys, pid, getCount{}) // answered after the three
	require.NoError(t, err)
	// A system message is taken through the mailbox's lock, which
	// publishes what the process drained without it.
	_, err = sys.Info(t.Context(), pid)
	require.NoError(t, err)
	st, ok := sys.Stat(pid)
	require.True(t, ok)
	assert.Equal(t, 0, st.Queued)
	assert.Equal(t, uint64(5), st.Taken)

	before := sys.Taken()
	assert.GreaterOrEqual(t, before, uint64(5))
	require.NoError(t, sys.Stop(t.Context(), other))
	_, ok = sys.Stat(other)
	assert.False(t, ok)
	assert.GreaterOrEqual(t, sys.Taken(), before, "an exited process's messages still count")
}

func TestPIDText(t *testing.T) {
	sys := newSys(t)
	pid, err := sys.Spawn("worker", nil)
	require.NoError(t, err)
	got, err := actor.ParsePID(pid.String())
	require.NoError(t, err)
	assert.Equal(t, pid, got)
	got, err = actor.ParsePID(pid.String()[1 : len(pid.String())-1])
	require.NoError(t, err)
	assert.Equal(t, pid, got)

	b, err := json.Marshal(map[string]actor.PID{"p": pid, "z": {}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"p":"`+pid.String()+`","z":""}`, string(b))
	var back map[string]actor.PID
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, pid, back["p"])
	assert.True(t, back["z"].IsZero())

	for _, bad := range []string{"", "<>", "<0.1>", "<0.1.1>", "<a.1.0>", "<0.0.0>", "<0.-1.0>", "0.1.0.0", "<99999999999.1.0>"} {
		_, err := actor.ParsePID(bad)
		assert.Error(t, err, bad)
	}
}
