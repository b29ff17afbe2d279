package mailbox

// Queued returns a copy of the user messages queued now, in the order the
// owner would take them, without taking any: the process stays as it was.
// A handoff reads a suspended process's queue this way, so that an abort
// leaves it untouched. A message whose push is still being written is not
// returned, nor is anything behind it: it arrived, as far as the owner can
// tell, after the copy was made. Owner only.
func (m *Mailbox) Queued() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.bounded(); b != nil {
		return unpin(append([]any(nil), b.in.buf[b.in.head:]...))
	}
	var out []any
	ins := m.ins().list()
	seg, i, pos, end := m.first(), int(m.hi), m.pos, m.laneEnd()
walk:
	for seg != nil && pos < end {
		for ; i < int(seg.ends()) && pos < end; i++ {
			for len(ins) > 0 && ins[0].at <= pos {
				out = append(out, ins[0].msg)
				ins = ins[1:]
			}
			s := &seg.slots()[i]
			switch s.state.Load() {
			case slotReady:
				out = append(out, s.msg)
			case slotEmpty:
				break walk // still being written: it and what follows come later
			}
			pos++
		}
		seg, i = seg.next.Load(), 0
	}
	for _, in := range ins {
		if in.at > pos {
			break
		}
		out = append(out, in.msg)
	}
	return out
}
