package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/graftrt/graft/actor"
)

// testTimeout bounds a whole demo run in the tests that use real time. It
// is a deadline for a hang, not a wait: the runs end on message counts.
const testTimeout = time.Minute

// The demo driven by counts: swaps every SwapEvery messages sent while the
// senders run flat out, and ends when each has sent PerSender. Nothing is
// lost or reordered, and every counter ends on the version of the last swap.
func TestDemoSwapsUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		swaps int
		want  int    // swaps made
		final string // version every counter ends on
	}{
		{name: "odd swaps end on v2", swaps: 5, want: 5, final: "v2"},
		{name: "until the load ends", swaps: 0, want: 8, final: "v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := demoOptions{
				Actors: 4, Senders: 3, PerSender: 4000,
				SwapEvery: 1500, Swaps: tc.swaps,
				Log: testLogger(t),
			}
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			var out bytes.Buffer
			res, err := runDemo(ctx, &out, o)
			require.NoError(t, err)
			t.Log("\n" + out.String())

			assert.Equal(t, tc.want, res.Swaps)
			assert.EqualValues(t, 3*4000, res.Sent)
			assert.Equal(t, res.Sent, res.Handled)
			assert.Zero(t, res.Lost)
			assert.Zero(t, res.OutOfOrder)
			assert.Zero(t, res.DeadLetters)
			assert.Zero(t, res.MigrationFailures)
			// Every counter migrates at least into the final version, and
			// at most once per swap.
			assert.GreaterOrEqual(t, res.Migrations, int64(o.Actors))
			assert.LessOrEqual(t, res.Migrations, int64(o.Actors*tc.want))
			assert.Equal(t, tc.final, res.Want)
			require.Len(t, res.Final, o.Actors)
			for pid, v := range res.Final {
				assert.Equal(t, tc.final, v, "version of %v", pid)
			}
			assert.Empty(t, res.problems())

			report := out.String()
			assert.Contains(t, report, "0 lost")
			assert.Contains(t, report, "OK: every message handled once")
			for n := 1; n <= tc.want; n++ {
				assert.Contains(t, report, fmt.Sprintf("swap %d (", n))
			}
		})
	}
}

// Cancelling the context (what SIGINT and SIGTERM do) stops an endless
// load cleanly, and the summary still accounts for every message.
func TestDemoStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	// Interrupt as soon as the third swap is reported.
	out := &syncBuffer{on: "swap 3 (", do: cancel}
	o := demoOptions{Actors: 3, Senders: 2, SwapEvery: 1000, Log: testLogger(t)}
	res, err := runDemo(ctx, out, o)
	require.NoError(t, err)
	report := out.String()
	t.Log("\n" + report)

	assert.Equal(t, 3, res.Swaps, "no swap after the interrupt")
	assert.Contains(t, report, "stopped (interrupted)")
	assert.Positive(t, res.Sent)
	assert.Equal(t, res.Sent, res.Handled)
	assert.Empty(t, res.problems())
	for _, v := range res.Final {
		assert.Equal(t, "v2", v)
	}
}

// The command as a user runs it, on the wall clock. The test runs in a
// synctest bubble, where the clock is fake: the run's tickers and its
// duration pass as soon as everything else is blocked, so the test takes
// no real time and the number of swaps is exact.
func TestRunCommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// logs is written by processes still exiting when Shutdown returns
		// (see the report of this change), so it needs a lock of its own.
		var out bytes.Buffer
		var logs syncBuffer
		cmd := newRootCmd(&out, &logs)
		cmd.SetArgs([]string{"run", "--actors", "3", "--senders", "2", "--rate", "500",
			"--swap-interval", "1s", "--duration", "4500ms", "--log-level", "debug"})
		require.NoError(t, cmd.ExecuteContext(t.Context()))
		report := out.String()
		t.Log("\n" + report)

		assert.Contains(t, report, "3 processes; 2 senders, 500 msg/s each; swapping every 1s; running for 4.5s")
		assert.Contains(t, report, "swap 1 (+1.00s): counter v1 -> v2 (upgrade); 3/3 processes on v2")
		assert.Contains(t, report, "swap 4 (+4.00s): counter v2 -> v1 (downgrade); 3/3 processes on v1")
		assert.NotContains(t, report, "swap 5")
		assert.Contains(t, report, "stopped (duration reached) after 4.50s")
		assert.Contains(t, report, "sent           4500 (2 senders, 1000 msg/s)")
		assert.Contains(t, report, "handled        4500")
		assert.Contains(t, report, "0 lost")
		assert.Contains(t, logs.String(), "version loaded")
		assert.Contains(t, logs.String(), "code_change", "debug logs reach stderr")
	})
}

func TestRunCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--actors", "0"},
		{"run", "--senders", "-1"},
		{"run", "--rate", "-5"},
		{"run", "--swap-interval", "0s"},
		{"run", "--log-level", "loud"},
		{"run", "extra"},
	} {
		var out, logs bytes.Buffer
		cmd := newRootCmd(&out, &logs)
		cmd.SetArgs(args)
		assert.Error(t, cmd.ExecuteContext(t.Context()), "%v", args)
		assert.NotContains(t, out.String(), "swap", "%v: nothing ran", args)
	}
}

func TestProblems(t *testing.T) {
	pid := actor.PID{}
	assert.Empty(t, demoResult{Sent: 10, Handled: 10, Want: "v1", Final: map[actor.PID]string{pid: "v1"}}.problems())
	assert.Equal(t, "2 lost, 1 out of order", demoResult{Lost: 2, OutOfOrder: 1}.problems())
	assert.Equal(t, "3 duplicated, 1 dead letters", demoResult{Lost: -3, DeadLetters: 1}.problems())
	assert.Equal(t, "1 processes not on v2", demoResult{Want: "v2", Final: map[actor.PID]string{pid: "v1"}}.problems())
}

// testLogger logs to t at Info. Not Debug: actor.System.Shutdown can
// return while a process is still finishing its exit, and at Debug that
// process logs its (quiet) exit reason, possibly after the test has ended,
// which the race detector reports (see the report of this change).
func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
}

// syncBuffer is a buffer safe for concurrent use. If do is set, it is
// called once, when a write contains on.
type syncBuffer struct {
	on   string
	do   func()
	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.do != nil && strings.Contains(string(p), w.on) {
		w.once.Do(w.do)
	}
	return w.buf.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
