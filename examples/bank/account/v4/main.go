// Command v4 is version v4 of module account, served out of process: the
// bank loads it by path and checksum while it runs.
//
//	make plugins                        # bin/plugins/account-v4 and its sha256
//	bin/graft upgrade --module account --to v4 --path bin/plugins/account-v4 --checksum SHA256
//
// v4 follows v2 and does what v3 meant to: it limits what may be withdrawn
// per day, with the count made in its CodeChange. It keeps today's date
// and total rather than a map. CodeChange migrates v2's state (the bank's
// accounts on v1 go through v2's CodeChange first: the route is v1 → v2 →
// v4), Downgrade hands v2's back.
package main

import (
	"fmt"
	"time"

	"github.com/graftrt/graft/examples/bank/account"
	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/sdk"
)

// State is v4's state.
type State struct {
	ID        int
	Balance   int64
	Seq       uint64
	History   []account.Entry
	Day       string // the day Withdrawn counts ("2006-01-02", UTC)
	Withdrawn int64
}

func main() { sdk.Serve(Module()) }

// Module is the version, as Serve runs it.
func Module() sdk.Module[State, account.Msg] {
	return sdk.Module[State, account.Msg]{
		Name: account.Module, Version: "v4", Follows: "v2",
		Errors: account.Errors,
		Init: func(args codec.Raw) (State, error) {
			id, err := codec.Decode[int](args)
			return State{ID: id}, err
		},
		Handle: func(ctx *sdk.Context, s State, m account.Msg) (State, error) {
			s, r, err := handle(s, m, time.Now().UTC().Format(time.DateOnly))
			if err != nil {
				ctx.ReplyError(err)
				return s, nil
			}
			return s, ctx.Reply(r)
		},
		CodeChange: sdk.Migrate(func(old account.StateV2, _ codec.Raw) (State, error) {
			return State{ID: old.ID, Balance: old.Balance, Seq: old.Seq, History: old.History}, nil
		}),
		Downgrade: func(_ string, s State, _ codec.Raw) (any, error) {
			return account.StateV2{ID: s.ID, Balance: s.Balance, Seq: s.Seq, History: s.History}, nil
		},
	}
}

// handle is one message on day today: the next state and the reply, or
// the refusal (and the state unchanged).
func handle(s State, m account.Msg, today string) (State, account.Reply, error) {
	switch {
	case m.Op == account.OpRestore:
		s.Seq, s.Balance = m.Seq, m.Balance
		s.History = account.Record(nil, account.Entry{Seq: s.Seq, Op: m.Op, Balance: s.Balance})
	case m.Changes():
		if today != s.Day {
			s.Day, s.Withdrawn = today, 0
		}
		if m.Op == account.OpWithdraw && s.Withdrawn+m.Amount > account.DailyLimit {
			return s, account.Reply{}, fmt.Errorf("withdraw %d after %d today: %w", m.Amount, s.Withdrawn, account.ErrLimit)
		}
		b, err := account.Apply(s.Balance, m)
		if err != nil {
			return s, account.Reply{}, err
		}
		if m.Op == account.OpWithdraw {
			s.Withdrawn += m.Amount
		}
		s.Balance, s.Seq = b, s.Seq+1
		s.History = account.Record(s.History, account.Entry{Seq: s.Seq, Op: m.Op, Amount: m.Amount, Balance: b})
	case m.Op != account.OpBalance:
		return s, account.Reply{}, fmt.Errorf("%w: %q", account.ErrUnknownOp, m.Op)
	}
	return s, account.Reply{ID: s.ID, Balance: s.Balance, Seq: s.Seq, Version: "v4", History: s.History}, nil
}
