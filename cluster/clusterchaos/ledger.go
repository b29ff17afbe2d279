package clusterchaos

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/graftrt/graft/chaos/fault"
)

// What the coordinator saw of one message it sent.
const (
	sent      uint8 = 1 << iota // SendNamed returned nil
	refused                     // SendNamed returned an error: the sender knows
	deadHere                    // a dead letter here (the connection was lost before the far node took it)
	deadHere2                   // ... a second time
)

// ledger is the coordinator's side of the accounts: every message it sent,
// by stream (node, sender, target), with the incarnation of the node
// (the run's count of its starts, from 0) it was sent to.
type ledger struct {
	mu      sync.Mutex
	streams map[ledgerKey]*sentStream // guarded by mu
}

type ledgerKey struct{ node, sender, target int }

type sentStream struct {
	mu    sync.Mutex
	st    []uint8  // per message, index Seq-1
	epoch []uint32 // per message: the node's incarnation when it was sent
}

func newLedger() *ledger { return &ledger{streams: map[ledgerKey]*sentStream{}} }

func (l *ledger) stream(k ledgerKey) *sentStream {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.streams[k]
	if s == nil {
		s = &sentStream{}
		l.streams[k] = s
	}
	return s
}

func (s *sentStream) grow(seq uint64) {
	for uint64(len(s.st)) < seq {
		s.st = append(s.st, 0)
		s.epoch = append(s.epoch, 0)
	}
}

// sent records that m was sent to node (ok) or refused at send, while
// the node was in incarnation epoch.
func (l *ledger) sent(node int, m fault.Msg, epoch uint32, ok bool) {
	s := l.stream(ledgerKey{node, m.Sender, m.Target})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grow(m.Seq)
	f := refused
	if ok {
		f = sent
	}
	s.st[m.Seq-1] |= f
	s.epoch[m.Seq-1] = epoch
}

// dead records a dead letter here of m, sent to node.
func (l *ledger) dead(node int, m fault.Msg) {
	if m.Seq == 0 {
		return
	}
	s := l.stream(ledgerKey{node, m.Sender, m.Target})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grow(m.Seq)
	f := deadHere
	if s.st[m.Seq-1]&deadHere != 0 {
		f = deadHere2
	}
	s.st[m.Seq-1] |= f
}

// tally is the accounts of both sides put together.
type tally struct {
	sent, refused, handled, deadHere, deadThere int64
	// toKilled counts messages sent to an incarnation of a node that was
	// killed later: its records died with it, so they may be counted
	// nowhere, and are not counted as lost.
	toKilled     int64
	pending      int64 // sent to a node's last incarnation, neither handled nor reported
	duplicated   int64 // handled or reported more than once, or refused and still handled or reported
	disorder     int64
	firstProblem string
	lostSample   []string
}

// tally puts the ledger and the nodes' records together: final holds
// each node's last incarnation, recs the records of that incarnation (a
// node's accounts die with it), names the nodes' and targets' names for
// the details.
func (l *ledger) tally(final []uint32, recs []map[recordKey][]uint8, disorder []int, name func(node, target int) string) tally {
	var t tally
	for _, d := range disorder {
		t.disorder += int64(d)
	}
	l.mu.Lock()
	keys := make([]ledgerKey, 0, len(l.streams))
	streams := make([]*sentStream, 0, len(l.streams))
	for k, s := range l.streams {
		keys, streams = append(keys, k), append(streams, s)
	}
	l.mu.Unlock()
	seen := map[ledgerKey]bool{}
	for n, s := range streams {
		k := keys[n]
		seen[k] = true
		var there []uint8
		if k.node < len(recs) {
			there = recs[k.node][recordKey{k.sender, k.target}]
		}
		s.mu.Lock()
		for i, f := range s.st {
			var nf uint8
			if i < len(there) {
				nf = there[i]
			}
			problem := t.add(f, nf, s.epoch[i] == final[k.node])
			if problem == "lost" && len(t.lostSample) < 5 {
				t.lostSample = append(t.lostSample, fmt.Sprintf("%s from sender %d seq %d", name(k.node, k.target), k.sender, i+1))
			} else if problem != "" && problem != "lost" && t.firstProblem == "" {
				t.firstProblem = fmt.Sprintf("%s from sender %d seq %d: %s", name(k.node, k.target), k.sender, i+1, problem)
			}
		}
		// What the node says it took beyond what was sent.
		for i := len(s.st); i < len(there); i++ {
			if there[i] != 0 {
				t.duplicated++
				if t.firstProblem == "" {
					t.firstProblem = fmt.Sprintf("%s from sender %d seq %d: handled or reported, never sent", name(k.node, k.target), k.sender, i+1)
				}
			}
		}
		s.mu.Unlock()
	}
	for node, rs := range recs {
		for rk, st := range rs {
			if seen[ledgerKey{node, rk.sender, rk.target}] {
				continue
			}
			for i, f := range st {
				if f != 0 {
					t.duplicated++
					if t.firstProblem == "" {
						t.firstProblem = fmt.Sprintf("%s from sender %d seq %d: handled or reported, never sent", name(node, rk.target), rk.sender, i+1)
					}
				}
			}
		}
	}
	return t
}

// add counts one message: f is what the coordinator saw of it, nf what
// the node saw (its last incarnation), last whether it was sent to that
// incarnation. It returns the problem, if any ("lost" for a message sent
// to the last incarnation that nothing accounts for).
func (t *tally) add(f, nf uint8, last bool) string {
	here := bits.OnesCount8(f & (deadHere | deadHere2))
	there := bits.OnesCount8(nf)
	outcomes := here + there
	switch {
	case f&refused != 0:
		t.refused++
		if outcomes > 0 {
			t.duplicated++
			return "refused at send, yet handled or reported"
		}
	case f&sent != 0:
		t.sent++
		if !last {
			t.toKilled++
		}
		switch {
		case outcomes > 1:
			t.duplicated++
			return fmt.Sprintf("counted %d times (here %08b, there %08b)", outcomes, f, nf)
		case outcomes == 0 && last:
			t.pending++
			return "lost"
		case nf&nodeHandled != 0:
			t.handled++
		case nf&nodeDead != 0:
			t.deadThere++
		case f&deadHere != 0:
			t.deadHere++
		}
	case outcomes > 0:
		// Tallies are taken once the load has stopped: every send has
		// returned by then.
		t.duplicated++
		return "handled or reported, never sent"
	}
	return ""
}

// expand turns a node's records back into per-message flags, by stream.
func expand(recs []streamRecord) (map[recordKey][]uint8, int) {
	out := make(map[recordKey][]uint8, len(recs))
	disorder := 0
	for _, r := range recs {
		var st []uint8
		for _, run := range r.Runs {
			if run.First == 0 || run.Last < run.First || run.Last > 1<<32 {
				continue // not something a node writes
			}
			for uint64(len(st)) < run.Last {
				st = append(st, 0)
			}
			for i := run.First; i <= run.Last; i++ {
				st[i-1] = run.Flags
			}
		}
		out[recordKey{r.Sender, r.Target}] = st
		disorder += r.Disorder
	}
	return out, disorder
}
