package actor_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

func waitAll(t *testing.T, ops ...*actor.Op) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	errs := make([]error, len(ops))
	for i, op := range ops {
		errs[i] = op.Wait(ctx)
	}
	return errs
}

// The primitives of a transactional upgrade: suspend and prepare every
// process, then either commit (after making the version current) and
// resume, or abort and resume with the original state.
func TestChangeCodeCommitAndAbort(t *testing.T) {
	sys := actortest.NewSystem(t)
	v1 := counterVersion("v1", nil)
	bad := errors.New("refuses 2")
	v2 := counterVersion("v2", func(_ string, old, _ any) (int, error) {
		if old.(int) == 2 {
			return 0, bad
		}
		return old.(int) * 10, nil
	})
	require.NoError(t, sys.Load(v1))
	var pids []actor.PID
	for i := range 3 {
		pid, err := sys.Spawn("ctr", nil)
		require.NoError(t, err)
		for range i + 1 {
			_, err := call(t, sys, pid, "x") // states 1, 2, 3
			require.NoError(t, err)
		}
		pids = append(pids, pid)
	}
	op := sys.ChangeCode(pids[0], v2, nil)
	assert.ErrorIs(t, op.Wait(context.Background()), actor.ErrNotStaged, "v2 must be staged first")
	require.NoError(t, sys.Stage(v2))
	_, ok := sys.Current("ctr")
	require.True(t, ok)

	var ops []*actor.Op
	for _, pid := range pids {
		ops = append(ops, sys.ChangeCode(pid, v2, nil))
	}
	errs := waitAll(t, ops...)
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], bad)
	assert.NoError(t, errs[2])
	assert.Equal(t, "v1", ops[0].From())

	// Suspended: messages wait.
	require.NoError(t, sys.Send(pids[0], "queued"))
	info, err := sys.Info(context.Background(), pids[0])
	require.NoError(t, err)
	assert.True(t, info.Suspended)
	assert.Equal(t, 1, info.Queued)

	// One failed: roll back everyone.
	var aborts []*actor.Op
	for _, pid := range pids {
		aborts = append(aborts, sys.Abort(pid, true))
	}
	for _, err := range waitAll(t, aborts...) {
		require.NoError(t, err)
	}
	for i, pid := range pids {
		r, err := call(t, sys, pid, "x")
		require.NoError(t, err)
		want := []string{"v1:3", "v1:3", "v1:4"}[i] // pids[0] also handled "queued"
		assert.Equal(t, want, r, "original state and version")
	}

	// Now a good version: commit.
	v3 := counterVersion("v3", func(_ string, old, _ any) (int, error) { return old.(int) * 10, nil })
	require.NoError(t, sys.Stage(v3))
	ops = ops[:0]
	for _, pid := range pids {
		ops = append(ops, sys.ChangeCode(pid, v3, nil))
	}
	for _, err := range waitAll(t, ops...) {
		require.NoError(t, err)
	}
	require.NoError(t, sys.Load(v3)) // the point of no return
	var commits []*actor.Op
	for _, pid := range pids {
		commits = append(commits, sys.Commit(pid, true))
	}
	for _, err := range waitAll(t, commits...) {
		require.NoError(t, err)
	}
	for i, pid := range pids {
		r, err := call(t, sys, pid, "x")
		require.NoError(t, err)
		assert.Equal(t, []string{"v3:31", "v3:31", "v3:41"}[i], r, "migrated exactly once, on commit")
	}
	assert.EqualValues(t, 3, sys.Activations("ctr", "v3"))
	assert.ErrorIs(t, sys.Commit(pids[0], false).Wait(context.Background()), actor.ErrNoPending)
}

func TestDryRunChangesNothing(t *testing.T) {
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(counterVersion("v1", nil)))
	pid, err := sys.Spawn("ctr", nil)
	require.NoError(t, err)
	v2 := counterVersion("v2", func(_ string, old, _ any) (int, error) { return old.(int) + 100, nil })
	require.NoError(t, sys.Stage(v2))
	require.NoError(t, sys.DryRun(pid, v2, nil).Wait(context.Background()))
	info, err := sys.Info(context.Background(), pid)
	require.NoError(t, err)
	assert.False(t, info.Suspended)
	r, err := call(t, sys, pid, "x")
	require.NoError(t, err)
	assert.Equal(t, "v1:1", r)
	assert.True(t, isExit(sys.DryRun(actor.PID{}, v2, nil).Wait(context.Background()), actor.NoProc))
}
