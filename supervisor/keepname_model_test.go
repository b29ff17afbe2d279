package supervisor_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
)

// TestKeepNameModel is the model-based randomized test of KeepName. Each
// run builds a tree from its seed — a top supervisor, under it a
// supervisor "mid", under which the worker "k" (KeepName, Handoff,
// registered as "k") — and runs random steps. In each step several
// senders send numbered messages to "k" by name (now and then a call)
// while, at the same time, the step does one of: nothing; crashes of the
// worker (by a message in the stream or by an exit signal); a crash while
// mid is suspended, which holds the restart back so that the senders'
// messages pile up in the gap, with mid resumed or killed then; or a kill
// of mid (the worker dies with it and top restarts both). Some steps end
// with a flush: a call that returns once everything sent before it is
// handled.
//
// The reference model knows which messages were sent while the tree was
// being killed and which were sent since the last flush before a kill,
// and predicts, per message:
//
//   - a send or call fails only if it ran while mid was being killed (and
//     then only with ErrUnknownName, or NoProc when it found the worker
//     exiting, or an *ExitError for a call): never during a crash, a
//     restart or a gap; a refused message is neither handled nor reported;
//   - every message that was accepted is handled once, or reported once as
//     a dead letter with a reason (a call's caller gets an error instead) —
//     never both, never neither; dead letters only for messages that a
//     kill of mid could reach (sent after the last flush before it);
//   - at a flush, everything accepted before it that no kill could reach
//     has been handled;
//   - each sender's messages are handled in the order sent.
//
// It prints the seed of a failing run; -keepname.seed reruns it, and
// -keepname.steps shortens it.
var (
	keepRuns  = flag.Int("keepname.runs", 40, "KeepName model runs (each a fresh system)")
	keepSteps = flag.Int("keepname.steps", 25, "steps per KeepName model run")
	keepSeed  = flag.Uint64("keepname.seed", 0, "run only this KeepName model seed")
)

func TestKeepNameModel(t *testing.T) {
	runs, first := *keepRuns, uint64(1)
	if *keepSeed != 0 {
		runs, first = 1, *keepSeed
	} else if testing.Short() {
		runs = 8
	}
	for i := range runs {
		seed := first + uint64(i)
		ok := t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			m := newKeepModel(t, seed)
			for s := range *keepSteps {
				m.step()
				if t.Failed() {
					t.Fatalf("seed %d failed at step %d: %s (rerun: go test ./supervisor -run TestKeepNameModel -keepname.seed=%d -keepname.steps=%d -v)",
						seed, s, strings.Join(m.trail, "; "), seed, s+1)
				}
			}
			m.finish()
			if t.Failed() {
				t.Fatalf("seed %d failed at the end: %s (rerun: go test ./supervisor -run TestKeepNameModel -keepname.seed=%d -v)",
					seed, strings.Join(m.trail, "; "), seed)
			}
		})
		if !ok {
			break
		}
	}
}

// knMsg is message N of sender S; knCall is the same as a call.
type (
	knMsg  struct{ S, N int }
	knCall struct{ S, N int }
)

// keepModel is the system under test and the reference model.
type keepModel struct {
	t   *testing.T
	rng *rand.Rand
	sys *actortest.System
	top *supervisor.Handle

	mu       sync.Mutex
	handled  []knMsg                      // in the order handled (calls as knMsg too)
	letters  map[knMsg]error              // dead letters' reasons
	twice    []string                     // a message reported or handled more than once
	midStart chan supervisor.ChildStarted // a new mid has started its worker

	// The model.
	senders   int
	next      []int             // per sender, the next number
	fate      map[knMsg]keepFor // per message sent
	unflushed []knMsg           // accepted since the last flush
	trail     []string          // the steps so far, for a failure
}

// keepFor is what the model says of one message.
type keepFor struct {
	call     bool
	accepted bool // the send returned nil (a call: it was answered)
	noProc   bool // the send failed with NoProc: it found the worker exiting
	killable bool // a kill of mid may have reached it before a flush
	inKill   bool // sent while mid was being killed
	step     int  // the step that sent it
}

func newKeepModel(t *testing.T, seed uint64) *keepModel {
	sys := actortest.NewSystem(t, actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.FatalLevel)))
	m := &keepModel{
		t: t, rng: rand.New(rand.NewPCG(seed, 0x6b6e)), sys: sys,
		letters: map[knMsg]error{}, midStart: make(chan supervisor.ChildStarted, 64),
		fate: map[knMsg]keepFor{},
	}
	m.senders = 2 + m.rng.IntN(3)

	m.next = make([]int, m.senders)
	require.NoError(t, sys.Load(actor.Define("kn", "v1", actor.Funcs[struct{}]{
		Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
			switch msg := msg.(type) {
			case knCrash:
				return s, msg.Reason
			case knSync:
				ctx.Reply(nil)
			case knMsg:
				m.record(msg)
			case knCall:
				m.record(knMsg(msg))
				ctx.Reply(msg.N)
			}
			return s, nil
		},
	})))
	t.Cleanup(sys.Subscribe(func(e actor.Event) {
		switch e := e.(type) {
		case actor.DeadLetter:
			if msg, ok := e.Message.(knMsg); ok {
				m.mu.Lock()
				if _, dup := m.letters[msg]; dup {
					m.twice = append(m.twice, fmt.Sprintf("%v reported twice", msg))
				}
				m.letters[msg] = e.Reason
				m.mu.Unlock()
			}
		case supervisor.ChildStarted:
			if e.ID == "k" && !e.Restart { // a mid's first start of its worker: one per mid
				m.midStart <- e
			}
		}
	}))
	worker := supervisor.ChildSpec{
		ID: "k", Handoff: true, KeepName: true,
		Start: supervisor.StartSpec{Module: "kn", Options: []actor.SpawnOption{actor.WithName("k")}},
	}
	top, err := supervisor.Start(sys.System, lots, []supervisor.ChildSpec{
		supervisor.Spec("mid", lots, []supervisor.ChildSpec{worker}),
	})
	require.NoError(t, err)
	m.top = top
	<-m.midStart
	return m
}

func (m *keepModel) record(msg knMsg) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handled = append(m.handled, msg)
}

func (m *keepModel) mid() actor.PID { return children(m.t, m.top)["mid"] }

// step runs the senders and one fault at once, then perhaps a flush.
func (m *keepModel) step() {
	t := m.t
	counts := make([]int, m.senders)
	for s := range counts {
		counts[s] = 1 + m.rng.IntN(60)
	}
	calls := m.rng.IntN(4) == 0
	fault := m.rng.IntN(7)
	names := []string{"none", "crash by message", "crash by signal", "crashes", "gap then resume", "gap then kill", "kill"}
	m.trail = append(m.trail, fmt.Sprintf("%v sends, %s", counts, names[fault]))
	killing := fault == 5 || fault == 6

	type result struct {
		msg keepFor
		id  knMsg
	}
	results := make(chan result, 1024)
	var wg sync.WaitGroup
	for s, n := range counts {
		first := m.next[s]
		m.next[s] += n
		wg.Go(func() {
			for i := range n {
				id := knMsg{S: s, N: first + i}
				f := keepFor{inKill: killing, step: len(m.trail) - 1}
				if calls && i%5 == 4 {
					f.call = true
					ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
					_, err := m.sys.CallNamed(ctx, "k", knCall(id))
					cancel()
					f.accepted = err == nil
					if err != nil && !killing {
						t.Errorf("call %v failed outside a kill: %v", id, err)
					}
				} else {
					err := m.sys.SendNamed("k", id)
					f.accepted = err == nil
					// While mid is killed, the worker dies unlinked from
					// it: its name is freed (ErrUnknownName), and a send
					// that found it exiting fails with NoProc.
					f.noProc = errors.Is(err, actor.NoProc)
					if err != nil && (!killing || !errors.Is(err, actor.ErrUnknownName) && !f.noProc) {
						t.Errorf("send %v refused (killing %v): %v", id, killing, err)
					}
				}
				results <- result{f, id}
			}
		})
	}
	m.fault(fault)
	wg.Wait()
	close(results)
	for r := range results {
		m.fate[r.id] = r.msg
		if r.msg.accepted && !r.msg.call {
			m.unflushed = append(m.unflushed, r.id)
		}
	}
	if killing { // everything not flushed yet may have died with mid
		for _, id := range m.unflushed {
			f := m.fate[id]
			f.killable = true
			m.fate[id] = f
		}
	}
	if m.rng.IntN(3) == 0 {
		m.flush()
	}
}

// fault does one of the step's faults, concurrently with the senders.
func (m *keepModel) fault(which int) {
	t := m.t
	ctx := context.Background()
	errBoom := errors.New("boom")
	crashBySignal := func() {
		if pid, ok := m.sys.Whereis("k"); ok {
			_ = m.sys.Exit(pid, errBoom) // a restart may have replaced it: fine
		}
	}
	switch which {
	case 1:
		require.NoError(t, m.sys.SendNamed("k", knCrash{Reason: errBoom}))
	case 2:
		crashBySignal()
	case 3:
		for range 1 + m.rng.IntN(5) {
			if m.rng.IntN(2) == 0 {
				require.NoError(t, m.sys.SendNamed("k", knCrash{Reason: errBoom}))
			} else {
				crashBySignal()
			}
		}
	case 4, 5:
		mid := m.mid()
		require.NoError(t, m.sys.Suspend(ctx, mid))
		if pid, ok := m.sys.Whereis("k"); ok {
			// (It may have crashed already, on a crash message of an
			// earlier step: then its exit waits in mid all the same.)
			w := m.sys.Watch(pid)
			_ = m.sys.Exit(pid, errBoom)
			<-w.Done() // its name is reserved now, until mid serves the exit
		}
		if which == 4 {
			require.NoError(t, m.sys.Resume(ctx, mid))
			return
		}
		m.kill(mid)
	case 6:
		m.kill(m.mid())
	}
}

// kill kills mid and waits until top has restarted it and it has started
// a new worker, and until every process of the old subtree has finished
// exiting (a worker killed through its link reports its queue as its exit
// goes on).
func (m *keepModel) kill(mid actor.PID) {
	require.NoError(m.t, m.sys.Kill(mid))
	for {
		select {
		case e := <-m.midStart:
			if e.Supervisor == mid || e.Restart {
				continue
			}
			// What is left of the old subtree is exiting; the last step of
			// an exit (after the queue and the kept name are reported) is
			// the process count, which then holds top, mid and the worker.
			require.Eventually(m.t, func() bool { return m.sys.ProcessCount() == 3 },
				actortest.DefaultWait, 100*time.Microsecond)
			return
		case <-time.After(actortest.DefaultWait):
			m.t.Fatal("mid did not come back")
		}
	}
}

// flush waits until everything sent so far is handled, and checks it.
func (m *keepModel) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	_, err := m.sys.CallNamed(ctx, "k", knSync{})
	require.NoError(m.t, err)
	m.trail = append(m.trail, "flush")
	m.mu.Lock()
	handled := map[knMsg]bool{}
	for _, h := range m.handled {
		handled[h] = true
	}
	m.mu.Unlock()
	for _, id := range m.unflushed {
		if f := m.fate[id]; !f.killable && !handled[id] {
			m.t.Errorf("flush: %v (%+v) accepted and not handled", id, f)
		}
	}
	m.unflushed = m.unflushed[:0] // a kill from now on cannot reach them
}

// finish stops the tree and checks every message's fate.
func (m *keepModel) finish() {
	t := m.t
	m.flush()
	ctx, cancel := context.WithTimeout(context.Background(), actortest.DefaultWait)
	defer cancel()
	require.NoError(t, m.sys.Stop(ctx, m.top.PID()))
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.twice {
		t.Error(s)
	}
	count := map[knMsg]int{}
	last := make([]int, m.senders)
	for i := range last {
		last[i] = -1
	}
	for _, h := range m.handled {
		count[h]++
		if h.N <= last[h.S] {
			t.Errorf("sender %d: %d handled after %d", h.S, h.N, last[h.S])
		}
		last[h.S] = h.N
	}
	ids := slices.Collect(maps.Keys(m.fate))
	slices.SortFunc(ids, func(a, b knMsg) int { return (a.S-b.S)*1_000_000 + a.N - b.N })
	for _, id := range ids {
		f := m.fate[id]
		reason, reported := m.letters[id]
		n := count[id]
		switch {
		case n > 1:
			t.Errorf("%v handled %d times", id, n)
		case !f.accepted && (n > 0 || reported):
			t.Errorf("%v (%+v) refused at the send, yet handled %d times, reported %v", id, f, n, reported)
		case f.accepted && f.call && (n != 1 || reported):
			t.Errorf("call %v answered, handled %d times, reported %v", id, n, reported)
		case f.accepted && !f.call && n+btoi(reported) != 1:
			t.Errorf("%v (%+v) handled %d times and reported %v: want exactly one", id, f, n, reported)
		case reported && reason == nil:
			t.Errorf("%v reported without a reason", id)
		case reported && !f.killable && !f.inKill:
			t.Errorf("%v reported (%v) though no kill could reach it", id, reason)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
