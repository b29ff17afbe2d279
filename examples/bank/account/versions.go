package account

import (
	"fmt"
	"time"

	"github.com/graftrt/graft/actor"
)

// StateV1 is V1's state.
type StateV1 struct {
	ID      int
	Balance int64  // cents
	Seq     uint64 // changes made since the account opened
}

// StateV2 is V2's state: V1's and the last changes.
type StateV2 struct {
	ID      int
	Balance int64
	Seq     uint64
	History []Entry // the last HistoryLen changes, newest last
}

// StateV3 is V3's state: V2's and the money withdrawn per day.
type StateV3 struct {
	ID        int
	Balance   int64
	Seq       uint64
	History   []Entry
	Withdrawn map[string]int64 // per day ("2006-01-02", UTC); only today is kept
}

// InspectState shows the state to an operator (admin.StateInspector).
func (s StateV1) InspectState() any { return View{ID: s.ID, Balance: s.Balance, Seq: s.Seq} }

// InspectState shows the state to an operator (admin.StateInspector).
func (s StateV2) InspectState() any {
	return View{ID: s.ID, Balance: s.Balance, Seq: s.Seq, History: s.History}
}

// InspectState shows the state to an operator (admin.StateInspector).
func (s StateV3) InspectState() any {
	v := View{ID: s.ID, Balance: s.Balance, Seq: s.Seq, History: s.History}
	for _, n := range s.Withdrawn {
		v.Withdrawn += n
	}
	return v
}

// V1 is the first version: a balance.
var V1 = actor.Define(Module, "v1", actor.Funcs[StateV1]{
	Init: func(_ *actor.Context, args any) (StateV1, error) {
		id, err := idOf(args)
		return StateV1{ID: id}, err
	},
	Handle: func(ctx *actor.Context, s StateV1, msg any) (StateV1, error) {
		m, _ := msg.(Msg)
		switch {
		case m.Op == OpRestore:
			s.Seq, s.Balance = m.Seq, m.Balance
		case m.Changes():
			b, err := Apply(s.Balance, m)
			if err != nil {
				ctx.ReplyError(err)
				return s, nil
			}
			s.Balance, s.Seq = b, s.Seq+1
		case m.Op != OpBalance:
			ctx.ReplyError(fmt.Errorf("%w: %q", ErrUnknownOp, m.Op))
			return s, nil
		}
		ctx.Reply(Reply{ID: s.ID, Balance: s.Balance, Seq: s.Seq, Version: "v1"})
		return s, nil
	},
})

// V2 follows V1 and keeps the last changes. Its state changes shape:
// CodeChange migrates V1's (UpgradeV1), Downgrade hands one back
// (DowngradeV2), dropping the history.
var V2 = actor.Define(Module, "v2", actor.Funcs[StateV2]{
	Follows: "v1",
	Init: func(_ *actor.Context, args any) (StateV2, error) {
		id, err := idOf(args)
		return StateV2{ID: id}, err
	},
	Handle: func(ctx *actor.Context, s StateV2, msg any) (StateV2, error) {
		m, _ := msg.(Msg)
		switch {
		case m.Op == OpRestore:
			s.Seq, s.Balance = m.Seq, m.Balance
			s.History = Record(nil, Entry{Seq: s.Seq, Op: OpRestore, Balance: s.Balance})
		case m.Changes():
			b, err := Apply(s.Balance, m)
			if err != nil {
				ctx.ReplyError(err)
				return s, nil
			}
			s.Balance, s.Seq = b, s.Seq+1
			s.History = Record(s.History, Entry{Seq: s.Seq, Op: m.Op, Amount: m.Amount, Balance: b})
		case m.Op != OpBalance:
			ctx.ReplyError(fmt.Errorf("%w: %q", ErrUnknownOp, m.Op))
			return s, nil
		}
		ctx.Reply(Reply{ID: s.ID, Balance: s.Balance, Seq: s.Seq, Version: "v2", History: s.History})
		return s, nil
	},
	CodeChange: actor.Migrate(UpgradeV1),
	Downgrade: func(_ string, s StateV2, _ any) (any, error) {
		return DowngradeV2(s), nil
	},
})

// UpgradeV1 is V2's CodeChange: a StateV1 becomes a StateV2 with an empty
// history.
func UpgradeV1(old StateV1, _ any) (StateV2, error) {
	return StateV2{ID: old.ID, Balance: old.Balance, Seq: old.Seq}, nil
}

// DowngradeV2 is V2's Downgrade: the history is dropped, the balance and
// the count of changes kept.
func DowngradeV2(s StateV2) StateV1 {
	return StateV1{ID: s.ID, Balance: s.Balance, Seq: s.Seq}
}

// V3 follows V2 and limits what may be withdrawn per day. It is the bad
// version of the example, on purpose: its CodeChange forgets to create the
// Withdrawn map, so an account that migrated to v3 (rather than starting
// on it) panics on its first withdrawal ("assignment to entry in nil
// map"). Run it as a canary with a health gate: the crashes fail the gate
// and the upgrade rolls back.
var V3 = actor.Define(Module, "v3", actor.Funcs[StateV3]{
	Follows: "v2",
	Init: func(_ *actor.Context, args any) (StateV3, error) {
		id, err := idOf(args)
		return StateV3{ID: id, Withdrawn: map[string]int64{}}, err
	},
	Handle: func(ctx *actor.Context, s StateV3, msg any) (StateV3, error) {
		m, _ := msg.(Msg)
		switch {
		case m.Op == OpRestore:
			s.Seq, s.Balance = m.Seq, m.Balance
			s.History = Record(nil, Entry{Seq: s.Seq, Op: OpRestore, Balance: s.Balance})
		case m.Changes():
			day := ctx.System().Clock().Now().UTC().Format(time.DateOnly)
			if m.Op == OpWithdraw && s.Withdrawn[day]+m.Amount > DailyLimit {
				ctx.ReplyError(fmt.Errorf("withdraw %d after %d today: %w", m.Amount, s.Withdrawn[day], ErrLimit))
				return s, nil
			}
			b, err := Apply(s.Balance, m)
			if err != nil {
				ctx.ReplyError(err)
				return s, nil
			}
			if m.Op == OpWithdraw {
				for d := range s.Withdrawn {
					if d != day {
						delete(s.Withdrawn, d)
					}
				}
				s.Withdrawn[day] += m.Amount // the bug: nil after CodeChange
			}
			s.Balance, s.Seq = b, s.Seq+1
			s.History = Record(s.History, Entry{Seq: s.Seq, Op: m.Op, Amount: m.Amount, Balance: b})
		case m.Op != OpBalance:
			ctx.ReplyError(fmt.Errorf("%w: %q", ErrUnknownOp, m.Op))
			return s, nil
		}
		ctx.Reply(Reply{ID: s.ID, Balance: s.Balance, Seq: s.Seq, Version: "v3", History: s.History})
		return s, nil
	},
	CodeChange: actor.Migrate(func(old StateV2, _ any) (StateV3, error) {
		// Withdrawn should be made here, as Init does: this is v3's bug.
		return StateV3{ID: old.ID, Balance: old.Balance, Seq: old.Seq, History: old.History}, nil
	}),
	Downgrade: func(_ string, s StateV3, _ any) (any, error) {
		return StateV2{ID: s.ID, Balance: s.Balance, Seq: s.Seq, History: s.History}, nil
	},
})

// idOf reads an account's spawn arguments: its id.
func idOf(args any) (int, error) {
	id, ok := args.(int)
	if !ok || id <= 0 {
		return 0, fmt.Errorf("account: Init wants the account's id, a positive int, not %v", args)
	}
	return id, nil
}
