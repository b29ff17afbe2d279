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
	// killed later: what it took after the run's last look at its records
	// died with it, so they may be counted nowhere, and are not counted as
	// lost; they are still checked for being counted twice.
	toKilled     int64
	unseen       int64 // of toKilled: accounted for nowhere
	pending      int64 // sent to a node's last incarnation, neither handled nor reported
	duplicated   int64 // handled or reported more than once, or refused and still handled or reported
	disorder     int64
	firstProblem string
	lostSample   []string
}

// tally puts the ledger and the nodes' records together: final holds
// each node's last incarnation; sets, by node, every set of records the
// run has of it (its last incarnation's, and the snapshots of killed ones
// taken just before their kill); name names a node's target for the
// details. A message's outcomes are counted over all of them: a message
// is taken by one incarnation at most.
func (l *ledger) tally(final []uint32, sets [][]map[recordKey][]uint8, name func(node, target int) string) tally {
	var t tally
	l.mu.Lock()
	keys := make([]ledgerKey, 0, len(l.streams))
	streams := make([]*sentStream, 0, len(l.streams))
	for k, s := range l.streams {
		keys, streams = append(keys, k), append(streams, s)
	}
	l.mu.Unlock()
	problem := func(node, target, sender int, seq uint64, what string) {
		if t.firstProblem == "" {
			t.firstProblem = fmt.Sprintf("%s from sender %d seq %d: %s", name(node, target), sender, seq, what)
		}
	}
	lengths := map[ledgerKey]int{}
	for n, s := range streams {
		k := keys[n]
		rk := recordKey{k.sender, k.target}
		s.mu.Lock()
		lengths[k] = len(s.st)
		for i, f := range s.st {
			var handled, dead int
			if k.node < len(sets) {
				for _, set := range sets[k.node] {
					if st := set[rk]; i < len(st) {
						handled += bits.OnesCount8(st[i] & (nodeHandled | nodeHandled2))
						dead += bits.OnesCount8(st[i] & (nodeDead | nodeDead2))
					}
				}
			}
			switch p := t.add(f, handled, dead, s.epoch[i] == final[k.node]); {
			case p == "lost" && len(t.lostSample) < 5:
				t.lostSample = append(t.lostSample, fmt.Sprintf("%s from sender %d seq %d", name(k.node, k.target), k.sender, i+1))
			case p != "" && p != "lost":
				problem(k.node, k.target, k.sender, uint64(i+1), p)
			}
		}
		s.mu.Unlock()
	}
	// What a node says it took that was never sent.
	for node, ss := range sets {
		for _, set := range ss {
			for rk, st := range set {
				sent := lengths[ledgerKey{node, rk.sender, rk.target}]
				for i := sent; i < len(st); i++ {
					if st[i] != 0 {
						t.duplicated++
						problem(node, rk.target, rk.sender, uint64(i+1), "handled or reported, never sent")
					}
				}
			}
		}
	}
	return t
}

// add counts one message: f is what the coordinator saw of it, handled
// and dead how many times the nodes' records say it was handled or
// reported there, last whether it was sent to the node's last
// incarnation. It returns the problem, if any ("lost" for a message sent
// to the last incarnation that nothing accounts for).
func (t *tally) add(f uint8, handled, dead int, last bool) string {
	here := bits.OnesCount8(f & (deadHere | deadHere2))
	outcomes := here + handled + dead
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
			return fmt.Sprintf("counted %d times (handled %d, dead letters there %d, here %d)", outcomes, handled, dead, here)
		case outcomes == 0 && last:
			t.pending++
			return "lost"
		case outcomes == 0:
			t.unseen++
		case handled > 0:
			t.handled++
		case dead > 0:
			t.deadThere++
		case here > 0:
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
