package supervisor

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// naiveAllowed keeps every restart ever made and counts those younger than
// period: the definition addRestart must agree with.
func naiveAllowed(all []time.Time, now time.Time, intensity int, period time.Duration) bool {
	n := 0
	for _, t := range all {
		if now.Sub(t) <= period {
			n++
		}
	}
	return n <= intensity
}

// TestAddRestartMatchesNaive drives addRestart and the naive count with the
// same random restart times, as a supervisor would (it stops at the first
// refusal), and compares every decision.
func TestAddRestartMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for trial := range 2000 {
		intensity := rng.IntN(6)
		period := time.Duration(1+rng.IntN(10)) * time.Second
		var history, all []time.Time
		now := start
		for step := range 50 {
			// Gaps from 0 (several restarts at one instant) to 3 periods.
			now = now.Add(time.Duration(rng.Int64N(int64(3 * period / 4))))
			all = append(all, now)
			var ok bool
			history, ok = addRestart(history, now, intensity, period)
			want := naiveAllowed(all, now, intensity, period)
			require.Equal(t, want, ok, "trial %d step %d: intensity %d period %v", trial, step, intensity, period)
			assert.LessOrEqual(t, len(history), intensity+1, "history is pruned as it grows")
			for _, h := range history {
				assert.LessOrEqual(t, now.Sub(h), period, "only restarts inside the period are kept")
			}
			if !ok {
				break // the supervisor gives up here
			}
		}
	}
}

func TestAddRestartBoundaries(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h, ok := addRestart(nil, t0, 1, 5*time.Second)
	require.True(t, ok, "one restart within intensity 1")
	_, ok = addRestart(h, t0.Add(4999*time.Millisecond), 1, 5*time.Second)
	assert.False(t, ok, "a second within the period exceeds intensity 1")
	h, _ = addRestart(nil, t0, 1, 5*time.Second)
	_, ok = addRestart(h, t0.Add(5*time.Second), 1, 5*time.Second)
	assert.False(t, ok, "a restart exactly one period old still counts, as in OTP")
	h, _ = addRestart(nil, t0, 1, 5*time.Second)
	_, ok = addRestart(h, t0.Add(5*time.Second+1), 1, 5*time.Second)
	assert.True(t, ok, "one just older does not")
	_, ok = addRestart(nil, t0, 0, 5*time.Second)
	assert.False(t, ok, "intensity 0: no restart allowed")
}
