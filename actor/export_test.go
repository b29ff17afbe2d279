package actor

// Pushed returns how many user messages were ever queued for pid, so that
// a test can wait until what it sent from another goroutine is queued.
func Pushed(s *System, pid PID) uint64 {
	p := s.lookup(pid)
	if p == nil {
		return 0
	}
	return p.mb.Pushed()
}

// OnNameResolved makes every send by name call f after it has found the
// process holding the name and before it queues the message there (f must
// be set before any send by name).
func OnNameResolved(s *System, f func(name string)) { s.resolvedHook = f }

// Taken returns how many user messages pid has taken so far (as its
// mailbox last published it), 0 if it is not alive.
func Taken(s *System, pid PID) uint64 {
	p := s.lookup(pid)
	if p == nil {
		return 0
	}
	return p.mb.Taken()
}
