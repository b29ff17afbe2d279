package upgrade_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/upgrade"
)

func TestSummaryAndTable(t *testing.T) {
	sys := actortest.NewSystem(t)
	m := chain("m", 2)
	require.NoError(t, sys.Load(m[0]))
	pids := spawn(t, sys, "m", 3)
	rep, err := upgrade.Execute(context.Background(), sys.System, plan(upgrade.Atomic, m[1]), upgrade.Processes(sys.System, pids...))
	require.NoError(t, err)

	s := rep.Summary()
	assert.Equal(t, "committed", s.Outcome)
	assert.Equal(t, "atomic", s.Mode)
	assert.False(t, s.Lost())
	assert.Equal(t, []upgrade.ModuleSummary{{Module: "m", From: "v1", To: "v2", Direction: "up"}}, s.Modules)
	assert.Equal(t, map[string]int{"migrated": 3}, s.Counts)
	require.Len(t, s.Procs, 3)
	assert.Equal(t, pids[0], s.Procs[0].PID)

	// The data survives JSON (the admin API's form).
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var back upgrade.Summary
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, s, back)

	var out strings.Builder
	require.NoError(t, back.WriteTable(&out, 2))
	table := out.String()
	assert.Contains(t, table, "outcome:   committed")
	assert.Contains(t, table, "module:    m v1 → v2 (up)")
	assert.Contains(t, table, "processes: 3 migrated=3")
	assert.Contains(t, table, "migrated=3")
	assert.Contains(t, table, pids[0].String())
	assert.NotContains(t, table, pids[2].String(), "only maxProcs lines")
	assert.Contains(t, table, "… 1 more")
}

func TestSummaryOfARefusalSaysWhy(t *testing.T) {
	sys := actortest.NewSystem(t)
	m := chain("m", 2)
	require.NoError(t, sys.Load(m[0]))
	pids := spawn(t, sys, "m", 1)
	rep, err := upgrade.Execute(context.Background(), sys.System, plan(upgrade.Atomic, m[0]), upgrade.Processes(sys.System, pids...))
	require.Error(t, err)
	require.NotNil(t, rep)
	s := rep.Summary()
	assert.Equal(t, "refused", s.Outcome)
	assert.True(t, s.Lost())
	assert.NotEmpty(t, s.Reason)
	var out strings.Builder
	require.NoError(t, s.WriteTable(&out, 0))
	assert.Contains(t, out.String(), "reason:")
}

type recordingLoader struct{ got []upgrade.Ref }

var errFromFiles = errors.New("from files")

func (f *recordingLoader) Load(_ context.Context, _ *actor.System, ref upgrade.Ref) (*actor.Version, error) {
	f.got = append(f.got, ref)
	return nil, errFromFiles
}

func TestCompositeLoaderPicksByPath(t *testing.T) {
	sys := actortest.NewSystem(t)
	m := chain("m", 2)
	require.NoError(t, sys.Load(m[0]))
	files := &recordingLoader{}
	c := upgrade.Composite{Native: upgrade.NewNative(m[1]), Files: files}

	v, err := c.Load(context.Background(), sys.System, upgrade.Ref{Module: "m", Version: "v2"})
	require.NoError(t, err)
	assert.Same(t, m[1], v)
	_, err = c.Load(context.Background(), sys.System, upgrade.Ref{Module: "m", Version: "v3", Path: "/x", Checksum: "ab"})
	assert.ErrorIs(t, err, errFromFiles)
	assert.Equal(t, []upgrade.Ref{{Module: "m", Version: "v3", Path: "/x", Checksum: "ab"}}, files.got)

	_, err = upgrade.Composite{Native: c.Native}.Load(context.Background(), sys.System, upgrade.Ref{Module: "m", Version: "v3", Path: "/x"})
	assert.ErrorIs(t, err, upgrade.ErrUnknownVersion, "no file loader")
	_, err = upgrade.Composite{}.Load(context.Background(), sys.System, upgrade.Ref{Module: "m", Version: "v2"})
	assert.ErrorIs(t, err, upgrade.ErrUnknownVersion, "no native catalogue")
	_, err = c.Load(context.Background(), sys.System, upgrade.Ref{Module: "m"})
	assert.ErrorIs(t, err, upgrade.ErrInvalidRef)
}
