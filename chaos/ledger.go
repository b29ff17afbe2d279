package chaos

import (
	"fmt"
	"sync"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos/fault"
)

// ledger accounts for every tagged message: sent (or refused at send),
// then handled or dead-lettered. Each (target, sender) pair is a stream
// whose messages are numbered from 1, so a stream keeps one byte per
// message instead of a map entry.
type ledger struct {
	mu      sync.Mutex
	streams map[streamKey]*stream // guarded by mu
}

type streamKey struct{ target, sender int }

type stream struct {
	mu sync.Mutex
	st []uint8 // per message, index Seq-1: the flags below
	// last is, for the latest two processes (incarnations) of the target,
	// the highest Seq each handled: order is a promise per process (a
	// restarted process's predecessor may still finish a message), and an
	// older incarnation than the previous one has long gone.
	last     [2]handler
	disorder int // handled after a later message of the stream, by the same process
}

type handler struct {
	pid actor.PID
	seq uint64
}

// inOrder records that pid handled seq and reports whether it had already
// handled a later one.
func (s *stream) inOrder(pid actor.PID, seq uint64) bool {
	h := &s.last[0]
	switch {
	case s.last[0].pid == pid:
	case s.last[1].pid == pid:
		h = &s.last[1]
	default:
		s.last[1], s.last[0] = s.last[0], handler{pid: pid}
	}
	ok := seq >= h.seq // a repeat is a duplicate, counted as such
	h.seq = max(h.seq, seq)
	return ok
}

const (
	sent     uint8 = 1 << iota // Send returned nil
	refused                    // Send returned an error: the sender knows
	handled                    // consumed by a process (OnHandled)
	handled2                   // ... a second time: a duplicate
	dead                       // reported as a DeadLetter
	dead2                      // ... a second time
)

func newLedger() *ledger { return &ledger{streams: make(map[streamKey]*stream)} }

func (l *ledger) stream(target, sender int) *stream {
	k := streamKey{target, sender}
	l.mu.Lock()
	s := l.streams[k]
	if s == nil {
		s = &stream{}
		l.streams[k] = s
	}
	l.mu.Unlock()
	return s
}

// mark sets flag f on message m (pid is the process that handled it, for
// handled); a second handled or dead sets the duplicate flag instead.
// Messages from another node (Origin) are the accounts of the run that
// sent them, not this one's.
func (l *ledger) mark(m fault.Msg, f uint8, pid actor.PID) {
	if m.Untracked || m.Seq == 0 || m.Origin != "" {
		return
	}
	s := l.stream(m.Target, m.Sender)
	s.mu.Lock()
	defer s.mu.Unlock()
	for uint64(len(s.st)) < m.Seq {
		s.st = append(s.st, 0)
	}
	i := m.Seq - 1
	switch {
	case f == handled && s.st[i]&handled != 0:
		f = handled2
	case f == dead && s.st[i]&dead != 0:
		f = dead2
	}
	s.st[i] |= f
	if (f == handled || f == handled2) && !s.inOrder(pid, m.Seq) {
		s.disorder++
	}
}

// tally is what the ledger holds now.
type tally struct {
	sent, refused, handled, dead     int64
	pending                          int64 // sent, neither handled nor reported yet
	duplicates, handledAndDead, lost int64
	disorder                         int64
	firstProblem                     string
	lostSample                       []msgID // a few of the pending ones
}

// msgID names one tagged message.
type msgID struct {
	target, sender int
	seq            uint64
}

func (l *ledger) tally() tally {
	var t tally
	l.mu.Lock()
	keys := make([]streamKey, 0, len(l.streams))
	streams := make([]*stream, 0, len(l.streams))
	for k, s := range l.streams {
		keys, streams = append(keys, k), append(streams, s)
	}
	l.mu.Unlock()
	for n, s := range streams {
		s.mu.Lock()
		t.disorder += int64(s.disorder)
		for i, f := range s.st {
			problem := ""
			switch {
			case f&refused != 0:
				t.refused++
				if f&handled != 0 {
					problem = "refused at send, yet handled"
				}
			case f&sent != 0:
				t.sent++
				switch {
				case f&(handled2|dead2) != 0:
					t.duplicates++
					problem = "handled or reported twice"
				case f&handled != 0 && f&dead != 0:
					t.handledAndDead++
					problem = "handled and reported as a dead letter"
				case f&handled != 0:
					t.handled++
				case f&dead != 0:
					t.dead++
				default:
					t.pending++
					if len(t.lostSample) < 5 {
						t.lostSample = append(t.lostSample, msgID{keys[n].target, keys[n].sender, uint64(i + 1)})
					}
				}
			}
			if problem != "" && t.firstProblem == "" {
				t.firstProblem = fmt.Sprintf("target %d sender %d seq %d: %s", keys[n].target, keys[n].sender, i+1, problem)
			}
		}
		s.mu.Unlock()
	}
	return t
}
