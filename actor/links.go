package actor

// linkSet is a process's links: one inline (most processes have one, to
// their parent, and a map for it cost an allocation at every spawn), a map
// once there are more (a supervisor of many children).
type linkSet struct {
	one  PID // zero when none, or when many holds them
	many map[PID]struct{}
}

func (s *linkSet) has(pid PID) bool {
	if s.many != nil {
		_, ok := s.many[pid]
		return ok
	}
	return !pid.IsZero() && s.one == pid
}

func (s *linkSet) add(pid PID) {
	switch {
	case s.has(pid):
	case s.many != nil:
		s.many[pid] = struct{}{}
	case s.one.IsZero():
		s.one = pid
	default:
		s.many = map[PID]struct{}{s.one: {}, pid: {}}
		s.one = PID{}
	}
}

func (s *linkSet) remove(pid PID) {
	if s.many != nil {
		delete(s.many, pid)
		return
	}
	if s.one == pid {
		s.one = PID{}
	}
}

// appendTo appends every link to buf, once each.
func (s *linkSet) appendTo(buf []PID) []PID {
	if s.many != nil {
		for pid := range s.many {
			buf = append(buf, pid)
		}
	} else if !s.one.IsZero() {
		buf = append(buf, s.one)
	}
	return buf
}
