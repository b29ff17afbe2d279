// Package account is the module the handoff example hands over: an
// account's balance, in two versions whose states differ, plus the
// versions the example's failure runs use.
package account

import (
	"errors"

	"github.com/graftrt/graft/actor"
)

// Module is the module's name.
const Module = "account"

// Messages. Deposit is sent (a cast); Get is a call, answered with the
// balance as an int64.
type (
	Deposit struct{ Amount int64 }
	Get     struct{}
)

// Types are the messages that may be queued when a handoff happens.
var Types = []any{Deposit{}, Get{}}

// StateV2 is v2's state: the balance and the number of deposits.
type StateV2 struct {
	Balance  int64
	Deposits int64
}

// V1 keeps the balance alone.
var V1 = v1(actor.JSON)

// V1NoCodec is V1 without a codec: a node running it cannot be handed
// over.
var V1NoCodec = v1(nil)

func v1(c actor.Codec) *actor.Version {
	return actor.Define(Module, "v1", actor.Funcs[int64]{
		Codec: c,
		Types: Types,
		Handle: func(ctx *actor.Context, s int64, msg any) (int64, error) {
			switch m := msg.(type) {
			case Deposit:
				return s + m.Amount, nil
			case Get:
				ctx.Reply(s)
			}
			return s, nil
		},
	})
}

// V2 counts deposits too; it migrates from v1 and back.
var V2 = v2(nil)

// V2Hang is V2 whose migration from v1 never returns, after calling
// entered: a new build stuck in its rebuild.
func V2Hang(entered func()) *actor.Version {
	return v2(func() error {
		entered()
		select {}
	})
}

// V2Faulty is V2 whose migration from v1 calls fault first and fails with
// its error: a new build whose migration fails (or, if fault exits, one
// that crashes while it restores).
func V2Faulty(fault func() error) *actor.Version { return v2(fault) }

// handleV2 is v2's and v3's handler: they differ in their lineage only.
func handleV2(ctx *actor.Context, s StateV2, msg any) (StateV2, error) {
	switch m := msg.(type) {
	case Deposit:
		s.Balance += m.Amount
		s.Deposits++
	case Get:
		ctx.Reply(s.Balance)
	}
	return s, nil
}

func v2(fault func() error) *actor.Version {
	return actor.Define(Module, "v2", actor.Funcs[StateV2]{
		Follows: "v1",
		Codec:   actor.JSON,
		Types:   Types,
		Handle:  handleV2,
		CodeChange: actor.Migrate(func(b int64, _ any) (StateV2, error) {
			if fault != nil {
				if err := fault(); err != nil {
					return StateV2{}, err
				}
			}
			return StateV2{Balance: b}, nil
		}),
		Downgrade: func(to string, s StateV2, _ any) (any, error) {
			if to != "v1" {
				return nil, errors.New("account: v2 goes down to v1 only")
			}
			return s.Balance, nil
		},
	})
}

// V3 follows v2; a build that has v1 and v3 but not v2 has a gap in its
// lineage.
var V3 = actor.Define(Module, "v3", actor.Funcs[StateV2]{
	Follows: "v2",
	Codec:   actor.JSON,
	Types:   Types,
	Handle:  handleV2,
})
