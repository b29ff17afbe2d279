package actor

// ProcessStat is what a System knows of one process without asking it:
// no message to the process, no round trip. Snapshot reads it for every
// process at once, which is how metrics and the admin API see thousands
// of processes cheaply.
type ProcessStat struct {
	PID    PID    `json:"pid"`
	Name   string `json:"name,omitempty"` // registered name
	Module string `json:"module"`
	// Version is the version that built the process's state; "" while it
	// is still in Init.
	Version string `json:"version,omitempty"`
	// Pinned: a rolling upgrade switched the process to Version ahead of
	// the module's current version.
	Pinned bool `json:"pinned,omitempty"`
	Parent PID  `json:"parent,omitempty"`
	// Queued is the number of user messages waiting (see
	// mailbox.Mailbox.Depth: at most one batch high while the process
	// drains a batch).
	Queued int `json:"queued"`
	// Taken is the number of user messages the process has taken from
	// its mailbox to handle.
	Taken uint64 `json:"taken"`
}

// Snapshot returns a ProcessStat for every live process, in no particular
// order. Each is read from the process's published fields; processes
// neither stop nor wait for it.
func (s *System) Snapshot() []ProcessStat {
	out := make([]ProcessStat, 0, s.live.Load())
	s.namesMu.RLock()
	names := len(s.nameOf) > 0
	s.namesMu.RUnlock()
	s.procs.each(func(p *process) {
		if !p.isExiting() {
			out = append(out, p.stat())
		}
	})
	if names {
		s.namesMu.RLock()
		for i := range out {
			out[i].Name = s.nameOf[out[i].PID]
		}
		s.namesMu.RUnlock()
	}
	return out
}

// Stat returns pid's ProcessStat; ok is false if it is not alive.
func (s *System) Stat(pid PID) (st ProcessStat, ok bool) {
	p := s.lookup(pid)
	if p == nil || p.isExiting() {
		return ProcessStat{}, false
	}
	st = p.stat()
	st.Name = s.nameOfPID(pid)
	return st, true
}

// stat reads what ProcessStat says of p, from any goroutine.
func (p *process) stat() ProcessStat {
	st := ProcessStat{PID: p.pid(), Module: p.module().name, Parent: p.parent(),
		Queued: p.mb.Depth(), Taken: p.mb.Taken()}
	if c := p.ver.Load(); c != nil {
		st.Version = c.v.name
		base := p.pinnedBase()
		st.Pinned = base != nil && base == p.module().current.Load()
	}
	return st
}

// Taken returns the number of user messages processes of this system have
// taken from their mailboxes to handle, exited processes included. It is
// read like Snapshot, without asking any process; a process draining a
// batch counts it at its next pass through its mailbox's lock.
func (s *System) Taken() uint64 {
	n := s.takenByExited.Load()
	s.procs.each(func(p *process) { n += p.mb.Taken() })
	return n
}
