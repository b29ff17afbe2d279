package supervisor_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
)

// ledger records what became of every message, by sequence number.
type ledger struct {
	mu       sync.Mutex
	handled  map[int]int // seq -> times handled (a crash counts: it was taken)
	dead     map[int]error
	refused  map[int]error // Send returned an error: the sender was told
	received int
}

type seqMsg struct{ Seq int }

// TestPanickingWorkerUnderLoadLosesNothing: a supervised worker panics on
// every 10th message it takes while a sender keeps sending. Every message
// is handled exactly once, or reported as a dead letter with a reason, or
// refused to the sender with an error; none is lost or handled twice.
func TestPanickingWorkerUnderLoadLosesNothing(t *testing.T) {
	const n = 3000
	sys := actortest.NewSystem(t)
	l := &ledger{handled: map[int]int{}, dead: map[int]error{}, refused: map[int]error{}}
	require.NoError(t, sys.Load(actor.Define("fragile", "v1", actor.Funcs[int]{
		Handle: func(ctx *actor.Context, taken int, msg any) (int, error) {
			m := msg.(seqMsg)
			l.mu.Lock()
			l.handled[m.Seq]++
			l.received++
			crash := l.received%10 == 0
			l.mu.Unlock()
			if crash {
				panic(fmt.Sprintf("message %d", m.Seq))
			}
			return taken + 1, nil
		},
	})))
	defer sys.Subscribe(func(e actor.Event) {
		if d, ok := e.(actor.DeadLetter); ok {
			if m, ok := d.Message.(seqMsg); ok {
				l.mu.Lock()
				l.dead[m.Seq] = d.Reason
				l.mu.Unlock()
			}
		}
	})()
	_, err := supervisor.Start(sys.System, supervisor.Flags{Intensity: n, Period: time.Hour}, []supervisor.ChildSpec{{
		ID:    "fragile",
		Start: supervisor.StartSpec{Module: "fragile", Options: []actor.SpawnOption{actor.WithName("fragile")}},
	}})
	require.NoError(t, err)

	// accounted counts the messages whose fate is known.
	accounted := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		seen := map[int]bool{}
		for s := range l.handled {
			seen[s] = true
		}
		for s := range l.dead {
			seen[s] = true
		}
		for s := range l.refused {
			seen[s] = true
		}
		return len(seen)
	}
	probe := actortest.NewProbe(t, sys.System)
	waitFor := func(k int) {
		for accounted() < k {
			// A round trip through the probe lets the worker's goroutines
			// run: an event wait, not a sleep.
			require.NoError(t, sys.Send(probe.PID(), "tick"))
			probe.Expect("tick")
		}
	}
	const window = 50 // in flight at most, so most messages meet a live worker
	for seq := range n {
		if err := sys.SendNamed("fragile", seqMsg{Seq: seq}); err != nil {
			l.mu.Lock()
			l.refused[seq] = err
			l.mu.Unlock()
		}
		waitFor(seq + 1 - window)
	}
	waitFor(n)

	l.mu.Lock()
	defer l.mu.Unlock()
	for seq := range n {
		h, d, r := l.handled[seq], l.dead[seq] != nil, l.refused[seq] != nil
		switch {
		case h > 1:
			t.Fatalf("message %d handled %d times", seq, h)
		case h == 1 && d:
			t.Fatalf("message %d both handled and dead-lettered", seq)
		case h == 0 && !d && !r:
			t.Fatalf("message %d lost", seq)
		}
	}
	assert.GreaterOrEqual(t, l.received/10, 1, "the worker crashed")
	t.Logf("%d handled, %d dead letters, %d refused, %d crashes", len(l.handled), len(l.dead), len(l.refused), l.received/10)
}
