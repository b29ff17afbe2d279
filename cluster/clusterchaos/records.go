package clusterchaos

import (
	"sync"
	"sync/atomic"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/cluster"
)

// What a node saw of one message from the coordinator: flags, one byte per
// message, as in the chaos package's own ledger.
const (
	nodeHandled  uint8 = 1 << iota // consumed by a process of the node
	nodeHandled2                   // ... a second time
	nodeDead                       // a dead letter on the node
	nodeDead2                      // ... a second time
)

// recorder is a node's side of the accounts: every fault.Msg from the
// run's coordinator (its Origin) that a process of the node consumed or
// that the node reported as a dead letter, by stream (sender, target).
// Messages of the node's own chaos run (no Origin) are that run's.
type recorder struct {
	// watching is set once the node's chaos run observes the messages
	// processes consume (its first call of chaos.Config.OnHandled).
	watching atomic.Bool

	mu      sync.Mutex
	origin  string                    // guarded by mu: the coordinator of the run
	streams map[recordKey]*nodeStream // guarded by mu
}

type recordKey struct{ sender, target int }

type nodeStream struct {
	st []uint8 // per message, index Seq-1
	// last is, for the latest two processes that handled the stream, the
	// highest Seq each handled: order is a promise per process (a
	// restarted process's predecessor may still finish a message).
	last     [2]handler
	disorder int
}

type handler struct {
	pid actor.PID
	seq uint64
}

// reset starts the accounts of a new run for origin.
func (r *recorder) reset(origin string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.origin, r.streams = origin, map[recordKey]*nodeStream{}
	r.watching.Store(false)
}

// handled is the chaos run's OnHandled hook.
func (r *recorder) handled(pid actor.PID, msg any) {
	r.watching.Store(true)
	if m, ok := msg.(fault.Msg); ok {
		r.mark(m, nodeHandled, pid)
	}
}

// deadLetter accounts for a dead letter: a message the node took and
// could not deliver (to a name nobody holds, a full mailbox, a process
// that exited with it queued).
func (r *recorder) deadLetter(e actor.Event) {
	d, ok := e.(actor.DeadLetter)
	if !ok {
		return
	}
	msg := d.Message
	if tn, ok := msg.(cluster.ToName); ok {
		msg = tn.Message
	}
	if m, ok := msg.(fault.Msg); ok {
		r.mark(m, nodeDead, actor.PID{})
	}
}

func (r *recorder) mark(m fault.Msg, f uint8, pid actor.PID) {
	if m.Untracked || m.Seq == 0 || m.Origin == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.Origin != r.origin || r.streams == nil {
		return // from a coordinator whose run is over
	}
	k := recordKey{m.Sender, m.Target}
	s := r.streams[k]
	if s == nil {
		s = &nodeStream{}
		r.streams[k] = s
	}
	for uint64(len(s.st)) < m.Seq {
		s.st = append(s.st, 0)
	}
	i := m.Seq - 1
	switch {
	case f == nodeHandled && s.st[i]&nodeHandled != 0:
		f = nodeHandled2
	case f == nodeDead && s.st[i]&nodeDead != 0:
		f = nodeDead2
	}
	s.st[i] |= f
	if f == nodeHandled || f == nodeHandled2 {
		if !s.inOrder(pid, m.Seq) {
			s.disorder++
		}
	}
}

// inOrder records that pid handled seq and reports whether it had not
// handled a later one of the stream already (a repeat is a duplicate,
// counted as such).
func (s *nodeStream) inOrder(pid actor.PID, seq uint64) bool {
	h := &s.last[0]
	switch {
	case s.last[0].pid == pid:
	case s.last[1].pid == pid:
		h = &s.last[1]
	default:
		s.last[1], s.last[0] = s.last[0], handler{pid: pid}
	}
	ok := seq >= h.seq
	h.seq = max(h.seq, seq)
	return ok
}

// streamRecord is one stream of a node's accounts as it crosses to the
// coordinator: runs of messages with the same flags.
type streamRecord struct {
	Sender, Target int
	Runs           []flagRun `json:",omitempty"`
	Disorder       int       `json:",omitempty"`
}

// flagRun says that messages First..Last (Seq) have Flags.
type flagRun struct {
	First, Last uint64
	Flags       uint8
}

// records returns the accounts for origin (none for another).
func (r *recorder) records(origin string) []streamRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	if origin != r.origin {
		return nil
	}
	out := make([]streamRecord, 0, len(r.streams))
	for k, s := range r.streams {
		out = append(out, streamRecord{Sender: k.sender, Target: k.target, Runs: runsOf(s.st), Disorder: s.disorder})
	}
	return out
}

// runsOf compresses per-message flags into runs, leaving out the messages
// with none.
func runsOf(st []uint8) []flagRun {
	var out []flagRun
	for i := 0; i < len(st); {
		j := i
		for j+1 < len(st) && st[j+1] == st[i] {
			j++
		}
		if st[i] != 0 {
			out = append(out, flagRun{First: uint64(i + 1), Last: uint64(j + 1), Flags: st[i]})
		}
		i = j + 1
	}
	return out
}
