package counter

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/graftrt/graft/actor"
)

// Module is the name of the module both versions belong to.
const Module = "counter"

// Inc is one event from a sender. Seq numbers the messages that Sender sent
// to this process, from 1: each process expects 1, 2, 3, … from every
// sender, in that order.
type Inc struct {
	Sender int
	Seq    uint64
}

// Get is a call; the reply is the process's Stats.
type Get struct{}

// Stats is the reply to Get, the same from every version.
type Stats struct {
	// Version is the version that answered, e.g. "v2".
	Version string
	// Handled counts the Inc messages handled, by every version.
	Handled int64
	// OutOfOrder counts Inc messages whose Seq was not the one expected
	// from their sender (a gap, a repeat or a step back).
	OutOfOrder int64
	// Last is, per sender, the highest Seq handled.
	Last map[int]uint64
}

// ErrUnknownMessage is the exit reason (wrapped) of a process that received
// a message that is neither Inc nor Get.
var ErrUnknownMessage = errors.New("counter: unknown message")

// StateV1 is V1's state.
type StateV1 struct {
	Count      int
	Last       map[int]uint64 // per sender, the last Seq handled
	OutOfOrder int
}

// StateV2 is V2's state. It counts in int64 and keeps, per sender, the Seq
// it expects next rather than the last one seen, so migrating from V1 is
// more than a copy.
type StateV2 struct {
	Handled    int64
	OutOfOrder int64
	Next       map[int]uint64 // per sender, the Seq expected next
}

// V1 is the first version of module "counter".
var V1 = actor.Define(Module, "v1", actor.Funcs[StateV1]{
	Init: func(*actor.Context, any) (StateV1, error) {
		return StateV1{Last: make(map[int]uint64)}, nil
	},
	Handle: func(ctx *actor.Context, s StateV1, msg any) (StateV1, error) {
		switch m := msg.(type) {
		case Inc:
			s.Count++
			last := s.Last[m.Sender]
			if m.Seq != last+1 {
				s.OutOfOrder++
			}
			// Keep the highest Seq: after a gap the sender's next message
			// is in order again, and a late one does not move us back.
			if m.Seq > last {
				s.Last[m.Sender] = m.Seq
			}
		case Get:
			ctx.Reply(Stats{
				Version: ctx.Version(), Handled: int64(s.Count),
				OutOfOrder: int64(s.OutOfOrder), Last: maps.Clone(s.Last),
			})
		default:
			return s, fmt.Errorf("%w: %T", ErrUnknownMessage, msg)
		}
		return s, nil
	},
})

// V2 is the second version of module "counter". It migrates V1's state on
// upgrade and hands it back on downgrade.
var V2 = actor.Define(Module, "v2", actor.Funcs[StateV2]{
	Follows: "v1",
	Init: func(*actor.Context, any) (StateV2, error) {
		return StateV2{Next: make(map[int]uint64)}, nil
	},
	Handle: func(ctx *actor.Context, s StateV2, msg any) (StateV2, error) {
		switch m := msg.(type) {
		case Inc:
			s.Handled++
			next, seen := s.Next[m.Sender]
			if !seen {
				next = 1
			}
			if m.Seq != next {
				s.OutOfOrder++
			}
			if m.Seq >= next {
				s.Next[m.Sender] = m.Seq + 1
			}
		case Get:
			last := make(map[int]uint64, len(s.Next))
			for sender, next := range s.Next {
				last[sender] = next - 1
			}
			ctx.Reply(Stats{Version: ctx.Version(), Handled: s.Handled, OutOfOrder: s.OutOfOrder, Last: last})
		default:
			return s, fmt.Errorf("%w: %T", ErrUnknownMessage, msg)
		}
		return s, nil
	},
	CodeChange: actor.Migrate(Upgrade),
	Downgrade: func(to string, s StateV2, _ any) (any, error) {
		return Downgrade(s), nil
	},
})

// Upgrade is V2's CodeChange: it turns a StateV1 into a StateV2. It builds
// new maps rather than changing the old state, which the process keeps if
// the migration fails.
func Upgrade(old StateV1, _ any) (StateV2, error) {
	s := StateV2{
		Handled:    int64(old.Count),
		OutOfOrder: int64(old.OutOfOrder),
		Next:       make(map[int]uint64, len(old.Last)),
	}
	for sender, last := range old.Last {
		s.Next[sender] = last + 1
	}
	return s, nil
}

// Downgrade is V2's Downgrade: it turns a StateV2 back into a StateV1.
// Nothing is lost: Upgrade(Downgrade(s)) == s.
func Downgrade(s StateV2) StateV1 {
	old := StateV1{
		Count:      int(s.Handled),
		OutOfOrder: int(s.OutOfOrder),
		Last:       make(map[int]uint64, len(s.Next)),
	}
	for sender, next := range s.Next {
		old.Last[sender] = next - 1
	}
	return old
}

// Sum asks every counter in pids for its Stats and adds up what they
// handled and what they saw out of order.
func Sum(ctx context.Context, sys *actor.System, pids []actor.PID) (handled, outOfOrder int64, err error) {
	for _, pid := range pids {
		r, err := sys.Call(ctx, pid, Get{})
		if err != nil {
			return 0, 0, fmt.Errorf("collect stats from %v: %w", pid, err)
		}
		s, ok := r.(Stats)
		if !ok {
			return 0, 0, fmt.Errorf("collect stats from %v: reply is %T, not counter.Stats", pid, r)
		}
		handled += s.Handled
		outOfOrder += s.OutOfOrder
	}
	return handled, outOfOrder, nil
}
