package actor

import (
	"iter"
	"maps"
	"slices"
)

// fewLinks is how many links a linkSet keeps in a slice before it moves
// them to a map.
const fewLinks = 8

// linkSet is a process's links: a short slice while they are few (most
// processes have one, to their parent, and a map for it cost an
// allocation several times the size of the process's other link data at
// every spawn), a map once there are more (a supervisor of many
// children).
type linkSet struct {
	few  []PID
	many map[PID]struct{}
}

func (s *linkSet) has(pid PID) bool {
	if s.many != nil {
		_, ok := s.many[pid]
		return ok
	}
	return slices.Contains(s.few, pid)
}

func (s *linkSet) add(pid PID) {
	switch {
	case s.has(pid):
	case s.many != nil:
		s.many[pid] = struct{}{}
	case len(s.few) < fewLinks:
		s.few = append(s.few, pid)
	default:
		s.many = make(map[PID]struct{}, 2*fewLinks)
		for _, l := range s.few {
			s.many[l] = struct{}{}
		}
		s.many[pid] = struct{}{}
		s.few = nil
	}
}

func (s *linkSet) remove(pid PID) {
	if s.many != nil {
		delete(s.many, pid)
		return
	}
	if i := slices.Index(s.few, pid); i >= 0 {
		s.few = slices.Delete(s.few, i, i+1)
	}
}

// all yields every link once.
func (s *linkSet) all() iter.Seq[PID] {
	if s.many != nil {
		return maps.Keys(s.many)
	}
	return slices.Values(s.few)
}
