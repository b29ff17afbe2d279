package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/graftrt/graft/examples/counter"
	"github.com/graftrt/graft/upgrade"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The example at a small size: three upgrades under load, nothing lost,
// every process on v2 at the end. The run is driven by message counts, not
// by the clock: each upgrade starts once 300 messages were sent and the
// load stops 300 after it returned.
func TestRun(t *testing.T) {
	const actors = 50
	var out bytes.Buffer
	res, err := run(context.Background(), &out, options{
		Actors: actors, Senders: 2, Rate: 20_000, Before: 300, After: 300, Show: 3,
		Log: zaptest.NewLogger(t),
	})
	t.Log("\n" + out.String())
	require.NoError(t, err)
	assert.Empty(t, res.problems())

	require.Len(t, res.Steps, 3)
	for i, want := range []upgrade.Outcome{upgrade.Committed, upgrade.Committed, upgrade.Converged} {
		s := res.Steps[i]
		assert.Equal(t, want, s.Outcome, s.Title)
		assert.NoError(t, s.Err, s.Title)
		assert.Equal(t, actors, s.Moved, s.Title)
		assert.Zero(t, s.Failed, s.Title)
	}
	assert.GreaterOrEqual(t, res.Sent, int64(3*600))
	assert.Equal(t, res.Sent, res.Handled)
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.OutOfOrder)
	assert.Zero(t, res.DeadLetters)
	assert.Equal(t, map[string]int{counter.V2.Name(): actors}, res.Versions)

	// The report is readable: outcome, per-process lines, tallies, events.
	text := out.String()
	for _, want := range []string{
		"outcome     committed (mode atomic)",
		"outcome     converged (mode lazy)",
		"v1 -> v2  paused ",
		"... and 47 more",
		"processes   50: 50 v2 -> v1",
		"events      plan_accepted 1, plan_prepared 1, process_suspended 50, process_migrated 50, upgrade_committed 1, process_resumed 50",
		"events      plan_accepted 1, plan_prepared 1, upgrade_committed 1, upgrade_awaiting 1, upgrade_converged 1",
		"0 lost (dead letters 0, out of order 0)",
		"versions    50 on v2",
		"OK: 3 upgrades under load",
	} {
		assert.Contains(t, text, want)
	}
	assert.Equal(t, 3, strings.Count(text, "\n== "))
}

func TestOptionsAreValidated(t *testing.T) {
	for _, o := range []options{
		{Actors: 0, Senders: 1, Rate: 1},
		{Actors: 1, Senders: 0, Rate: 1},
		{Actors: 1, Senders: 1, Rate: 0},
		{Actors: 1, Senders: 1, Rate: 1, Before: -1},
		{Actors: 1, Senders: 1, Rate: 1, Show: -1},
	} {
		_, err := run(context.Background(), &bytes.Buffer{}, o)
		assert.Error(t, err, "%+v", o)
	}
}

func TestEventKind(t *testing.T) {
	assert.Equal(t, "upgrade_committed", eventKind(upgrade.UpgradeCommitted{}))
	assert.Equal(t, "plan_accepted", eventKind(upgrade.PlanAccepted{}))
}
