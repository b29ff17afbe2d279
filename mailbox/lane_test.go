package mailbox_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/mailbox"
)

type seqMsg struct{ from, seq int }

// Across many segment boundaries (the inline slot, the doubling segments,
// reused ones), with several producers and an owner started on demand,
// every message arrives once and each producer's in order.
func TestLaneProducersAcrossSegments(t *testing.T) {
	const producers, per = 4, 20_000
	var (
		m      mailbox.Mailbox
		owners sync.WaitGroup
		mu     sync.Mutex
		next   = make([]int, producers)
		got    int
		bad    []string
	)
	run := func() {
		defer owners.Done()
		for {
			v, lane, ok := m.Next()
			if !ok {
				return
			}
			x := v.(seqMsg)
			mu.Lock()
			if lane != mailbox.User || next[x.from] != x.seq {
				bad = append(bad, fmt.Sprintf("producer %d: got %d, want %d", x.from, x.seq, next[x.from]))
			}
			next[x.from] = x.seq + 1
			got++
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for s := range per {
				sched, _, err := m.PushUser(seqMsg{p, s})
				if err != nil {
					mu.Lock()
					bad = append(bad, err.Error())
					mu.Unlock()
					return
				}
				if sched {
					owners.Add(1)
					go run()
				}
			}
		})
	}
	wg.Wait()
	owners.Wait()
	assert.Empty(t, bad)
	assert.Equal(t, producers*per, got)
	assert.Equal(t, uint64(producers*per), m.Pushed())
	assert.Equal(t, 0, m.Depth())
}

// Close racing with pushes: every push either succeeded and its message
// is among those Close returned or the owner took, or failed with
// ErrClosed; nothing is lost or returned twice.
func TestLaneCloseRacingWithPushes(t *testing.T) {
	for _, foreign := range []bool{false, true} {
		for round := range 20 {
			var m mailbox.Mailbox
			m.Start()
			const producers, per = 3, 3_000
			accepted := make([][]int, producers)
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					for s := range per {
						if _, _, err := m.PushUser(seqMsg{p, s}); err != nil {
							require.ErrorIs(t, err, mailbox.ErrClosed)
							return
						}
						accepted[p] = append(accepted[p], s)
					}
				})
			}
			// The owner takes some, then the mailbox is closed mid-stream.
			var seen []any
			for range 500 + round*100 {
				if v, ok := m.NextUser(); ok {
					seen = append(seen, v)
				}
			}
			var rest []any
			if foreign {
				var owned []any
				_, rest, _ = m.CloseForeign()
				owned = m.DrainOwned()
				rest = append(owned, rest...)
			} else {
				_, rest = m.Close()
			}
			wg.Wait()
			all := append(seen, rest...)
			next := make([]int, producers)
			for _, v := range all {
				x := v.(seqMsg)
				require.Equal(t, next[x.from], x.seq, "producer %d: order, no duplicate (foreign %v)", x.from, foreign)
				next[x.from]++
			}
			for p := range producers {
				assert.Equal(t, len(accepted[p]), next[p], "producer %d: every accepted message once (foreign %v)", p, foreign)
			}
		}
	}
}

// The owner taking messages in bursts, idling and starting segments
// again: positions keep counting, so marks and InsertUser stay right.
func TestLaneRestartKeepsMarks(t *testing.T) {
	var m mailbox.Mailbox
	m.Start()
	for round := range 50 {
		for i := range round % 7 {
			_, _, err := m.PushUser(fmt.Sprint(round, "/", i))
			require.NoError(t, err)
		}
		_, err := pushSignal(&m, "sig")
		require.NoError(t, err)
		_, _, err = m.PushUser(fmt.Sprint(round, "/after"))
		require.NoError(t, err)
		_, mark := nextSignal(t, &m)
		m.InsertUser(fmt.Sprint(round, "/exit"), mark)
		var want []any
		for i := range round % 7 {
			want = append(want, fmt.Sprint(round, "/", i))
		}
		want = append(want, fmt.Sprint(round, "/exit"), fmt.Sprint(round, "/after"))
		msgs, _ := drain(&m)
		require.Equal(t, want, msgs, "round %d", round)
		m.Start()
	}
}

// A seeded randomized run of the mailbox against a model of its lanes:
// pushes, signals, takes, suspension, InsertUser at the last mark,
// idling, and a close (plain or as a Backlog adopted by a new mailbox) at
// the end. After each step the owner's view (Len, Depth while idle) and
// every message taken must match the model. The same runs again on a
// bounded mailbox whose capacity is never reached, which must behave the
// same through its own lane (insertions, suspension, close, adoption).
func TestLaneAgainstModel(t *testing.T) {
	for _, capacity := range []int{0, 1 << 20} {
		for seed := uint64(1); seed <= 60; seed++ {
			t.Run(fmt.Sprintf("capacity=%d/%d", capacity, seed), func(t *testing.T) {
				laneModelRun(t, seed, capacity)
			})
		}
	}
}

// laneModel is the mailbox as a plain queue of keyed messages: a pushed
// message's key is (its push index, 1); a message inserted at a mark m is
// (m, 0, its insertion number), so that it comes after everything pushed
// before the mark and earlier insertions at the same mark, and before
// everything pushed after it.
type laneModel struct {
	user      []item
	sys       []any
	suspended bool
	running   bool
}

type item struct {
	v            any
	key, kind, n int
}

func (a item) less(b item) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.n < b.n
}

func (md *laneModel) values() []any {
	var out []any
	for _, it := range md.user {
		out = append(out, it.v)
	}
	return out
}

func laneModelRun(t *testing.T, seed uint64, capacity int) {
	r := rand.New(rand.NewPCG(seed, 0))
	var m mailbox.Mailbox
	m.Configure(mailbox.Options{Capacity: capacity})
	md := laneModel{}
	n := 0
	pushed := 0 // user messages ever pushed: what a mark counts
	mark := 0
	inserted := 0
	for step := range 400 {
		switch op := r.IntN(10); {
		case op < 4: // push a burst of user messages
			for range 1 + r.IntN(40) {
				n++
				sched, _, err := m.PushUser(n)
				require.NoError(t, err)
				require.Equal(t, !md.running && !md.suspended, sched, "seed %d step %d: schedule", seed, step)
				if sched {
					md.running = true
				}
				md.user = append(md.user, item{v: n, key: pushed, kind: 1})
				pushed++
			}
		case op < 5: // a signal
			sched, err := pushSignal(&m, fmt.Sprint("sig", step))
			require.NoError(t, err)
			require.Equal(t, !md.running, sched, "seed %d step %d: system schedule", seed, step)
			if sched {
				md.running = true
			}
			md.sys = append(md.sys, sysMark{fmt.Sprint("sig", step), pushed})
		case op < 8: // the owner takes some
			if !md.running {
				continue
			}
			for range 1 + r.IntN(60) {
				v, lane, ok := m.Next()
				switch {
				case len(md.sys) > 0:
					require.True(t, ok)
					s := md.sys[0].(sysMark)
					md.sys = md.sys[1:]
					require.Equal(t, mailbox.System, lane)
					sig, isSignal := v.(*signal)
					require.True(t, isSignal, "seed %d step %d: %v", seed, step, v)
					require.Equal(t, s.msg, sig.name, "seed %d step %d", seed, step)
					require.Equal(t, s.at, int(sig.at), "seed %d step %d: mark", seed, step)
					mark = s.at
					if r.IntN(3) == 0 { // a trapped exit takes the signal's place
						m.InsertUser(fmt.Sprint("exit", step), sig.at)
						inserted++
						it := item{v: fmt.Sprint("exit", step), key: mark, kind: 0, n: inserted}
						j := 0
						for j < len(md.user) && !it.less(md.user[j]) {
							j++
						}
						md.user = slices.Insert(md.user, j, it)
					}
				case !md.suspended && len(md.user) > 0:
					require.True(t, ok, "seed %d step %d: user message expected", seed, step)
					require.Equal(t, mailbox.User, lane)
					require.Equal(t, md.user[0].v, v, "seed %d step %d", seed, step)
					md.user = md.user[1:]
				default:
					require.False(t, ok, "seed %d step %d: got %v", seed, step, v)
					md.running = false
				}
				if !md.running {
					break
				}
			}
		case op < 9: // suspend or resume, as the owner does while running
			if !md.running {
				continue
			}
			if md.suspended {
				m.Resume()
			} else {
				m.Suspend()
			}
			md.suspended = !md.suspended
		default: // Len and, while idle, Depth
			if md.running {
				u, s := m.Len()
				require.Equal(t, len(md.user), u, "seed %d step %d: Len", seed, step)
				require.Equal(t, len(md.sys), s)
			} else {
				require.Equal(t, len(md.user), m.Depth(), "seed %d step %d: Depth", seed, step)
			}
		}
	}
	if !md.running {
		m.Start()
	}
	if seed%2 == 0 {
		sys, user := m.Close()
		require.Len(t, sys, len(md.sys))
		require.Equal(t, nilIfEmpty(md.values()), nilIfEmpty(user), "seed %d: Close", seed)
		_, _, err := m.PushUser("late")
		require.True(t, errors.Is(err, mailbox.ErrClosed))
		return
	}
	_, b := m.CloseBacklog()
	require.Equal(t, len(md.user), b.Len())
	var next mailbox.Mailbox
	next.Start()
	next.Adopt(b)
	_, _, err := next.PushUser("new")
	require.NoError(t, err)
	msgs, _ := drain(&next)
	require.Equal(t, append(md.values(), "new"), msgs, "seed %d: adopted", seed)
}

type sysMark struct {
	msg any
	at  int
}

func nilIfEmpty(s []any) []any {
	if len(s) == 0 {
		return nil
	}
	return s
}

// CloseBacklog and Adopt, again and again, racing with producers that
// push to whichever mailbox is current and push again to the next one
// when a push is refused (as a send by name that finds its process
// exited does): every message arrives once, each producer's in order,
// whether its push was written before the close, refused by the new
// owner reaching its empty slot, or made to the new mailbox.
func TestLaneBacklogChainRacingWithPushes(t *testing.T) {
	for round := range 10 {
		const producers, per, moves = 3, 5_000, 40
		var cur atomic.Pointer[mailbox.Mailbox]
		first := new(mailbox.Mailbox)
		first.Start()
		cur.Store(first)
		var wg sync.WaitGroup
		for p := range producers {
			wg.Go(func() {
				for s := range per {
					for {
						_, _, err := cur.Load().PushUser(seqMsg{p, s})
						if err == nil {
							break
						}
						require.ErrorIs(t, err, mailbox.ErrClosed)
					}
				}
			})
		}
		var got []any
		for move := range moves {
			m := cur.Load()
			for range 50 + (round*7+move*13)%200 {
				if v, ok := m.NextUser(); ok {
					got = append(got, v)
				}
			}
			_, b := m.CloseBacklog()
			next := new(mailbox.Mailbox)
			next.Start()
			next.Adopt(b)
			cur.Store(next)
		}
		wg.Wait()
		for {
			v, ok := cur.Load().NextUser()
			if !ok {
				break
			}
			got = append(got, v)
		}
		_, rest := cur.Load().Close()
		got = append(got, rest...)
		next := make([]int, producers)
		for _, v := range got {
			x := v.(seqMsg)
			require.Equal(t, next[x.from], x.seq, "round %d producer %d: order, no duplicate", round, x.from)
			next[x.from]++
		}
		for p := range producers {
			require.Equal(t, per, next[p], "round %d producer %d: every message once", round, p)
		}
	}
}
