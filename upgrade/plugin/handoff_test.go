package plugin_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade/plugin"
	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/plugintest"
)

// A plugin version's process crosses to another host the way a handoff
// (package handoff) carries it: suspended, its state and queue exported in
// the plugin's codec, then spawned from them in a host that loaded the same
// plugin, with its own plugin process.
func TestPluginProcessCrossesToAnotherHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	types := plugin.WithTypes("tally", Msg{})

	oldHost := newSys(t)
	require.NoError(t, oldHost.Load(tallyV1))
	v2 := load(t, oldHost, plugin.NewLoader(types), "tally-v2", "tally", "v2")
	require.NoError(t, oldHost.Load(v2))
	pid, err := oldHost.Spawn("tally", nil)
	require.NoError(t, err)
	for seq := uint64(1); seq <= 5; seq++ {
		require.NoError(t, oldHost.Send(pid, Msg{Sender: 1, Seq: seq}))
	}
	require.Equal(t, int64(5), stats(t, oldHost, pid).Handled)
	require.NoError(t, oldHost.SuspendAll(ctx, []actor.PID{pid}))
	for seq := uint64(6); seq <= 8; seq++ {
		require.NoError(t, oldHost.Send(pid, Msg{Sender: 1, Seq: seq}))
	}
	require.NoError(t, oldHost.Send(pid, codec.Raw{Codec: "json", Data: []byte(`{"Sender":1,"Seq":9}`)}))
	ex, err := oldHost.Export(ctx, pid)
	require.NoError(t, err)
	assert.Equal(t, "json", ex.Codec, "the plugin's codec is the version's")
	assert.Len(t, ex.Queued, 4, "the queued messages crossed, a codec.Raw among them")
	oldPlugin := osPID(t, oldHost, "v2")

	newHost := newSys(t)
	require.NoError(t, newHost.Load(tallyV1))
	nv2 := load(t, newHost, plugin.NewLoader(types), "tally-v2", "tally", "v2")
	require.NoError(t, newHost.Load(nv2))
	require.NoError(t, newHost.CheckRestore("tally", "v2", ex.Codec))
	npid, err := newHost.Spawn("tally", nil, actor.WithRestore(&actor.Restore{
		Version: ex.Version, Codec: ex.Codec, State: ex.State, Queued: ex.Queued}))
	require.NoError(t, err)
	s := stats(t, newHost, npid)
	assert.Equal(t, "v2", s.Version)
	assert.Equal(t, int64(9), s.Handled, "the state and every queued message crossed, once")
	assert.Zero(t, s.OutOfOrder, "in order")
	newPlugin := osPID(t, newHost, "v2")
	assert.NotEqual(t, oldPlugin, newPlugin, "the new host runs a plugin process of its own")

	// The old host lets go of its process and its plugin process stops
	// with the old host.
	_, err = oldHost.Evict(ctx, pid)
	require.NoError(t, err)
	require.NoError(t, oldHost.Shutdown(ctx))
	assert.False(t, plugintest.Running(oldPlugin), "the old host's plugin process stopped with it")
	assert.True(t, plugintest.Running(newPlugin))
}

// A queued message of a type the host did not register for the module
// cannot cross: the export fails naming the type, and the process is
// untouched.
func TestPluginMessageOfAnUnregisteredTypeRefusesTheExport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The plugin reads it as a Msg: only the handoff needs its type.
	type Unregistered struct {
		Sender int
		Seq    uint64
	}
	sys := newSys(t)
	require.NoError(t, sys.Load(tallyV1))
	v2 := load(t, sys, plugin.NewLoader(plugin.WithTypes("tally", Msg{})), "tally-v2", "tally", "v2")
	require.NoError(t, sys.Load(v2))
	pid, err := sys.Spawn("tally", nil)
	require.NoError(t, err)
	require.NoError(t, sys.SuspendAll(ctx, []actor.PID{pid}))
	require.NoError(t, sys.Send(pid, Msg{Sender: 1, Seq: 1}))
	require.NoError(t, sys.Send(pid, Unregistered{Sender: 1, Seq: 2}))
	_, err = sys.Export(ctx, pid)
	require.ErrorIs(t, err, actor.ErrUnknownType)
	assert.ErrorContains(t, err, "Unregistered")
	require.NoError(t, sys.ResumeAll(ctx, []actor.PID{pid}))
	s := stats(t, sys, pid)
	assert.Equal(t, int64(2), s.Handled, "both messages were handled after the refusal, in order")
	assert.Zero(t, s.OutOfOrder)
}

// A plugin version declares its plugin's codec, and codec.Raw among its
// types without WithTypes.
func TestPluginVersionDeclaresItsCodec(t *testing.T) {
	sys := newSys(t)
	require.NoError(t, sys.Load(tallyV1))
	v2 := load(t, sys, plugin.NewLoader(), "tally-v2-gob", "tally", "v2")
	require.NotNil(t, v2.Codec())
	assert.Equal(t, "gob", v2.Codec().Name())
	assert.Contains(t, v2.Types(), "github.com/graftrt/graft/upgrade/plugin/codec.Raw")
}
