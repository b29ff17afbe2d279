// Command bank is a plugin version of module "bank" whose callbacks fail
// with errors it registers with codes (sdk.Module.Errors), so that they
// keep their identity on the host.
package main

import (
	"errors"
	"fmt"

	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/sdk"
)

// The module's errors. A real module declares them, and the table of
// codes, in a package the host imports too; here the host test has its own
// errors under the same codes.
var (
	ErrInsufficient = errors.New("bank: insufficient funds")
	ErrFrozen       = errors.New("bank: account frozen")
	ErrNegative     = errors.New("bank: negative balance")
	ErrAudit        = errors.New("bank: under audit") // a code the host does not register
)

var Errors = map[string]error{
	"insufficient": ErrInsufficient,
	"frozen":       ErrFrozen,
	"negative":     ErrNegative,
	"audit":        ErrAudit,
}

type State struct{ Balance int }

// Msg: "deposit" adds Amount; "withdraw" (call) takes Amount and replies
// the balance, or refuses with ErrInsufficient; "freeze" stops the process
// with ErrFrozen; "audit" (call) refuses with ErrAudit; "refuse" (call)
// refuses with an error that has no code.
type Msg struct {
	Op     string
	Amount int
}

func main() {
	sdk.Serve(sdk.Module[State, Msg]{
		Name: "bank", Version: "v1", Errors: Errors,
		Init: func(args codec.Raw) (State, error) {
			n, err := codec.Decode[int](args)
			if err != nil {
				return State{}, err
			}
			if n < 0 {
				return State{}, fmt.Errorf("opening with %d: %w", n, ErrNegative)
			}
			return State{Balance: n}, nil
		},
		Handle: func(ctx *sdk.Context, s State, m Msg) (State, error) {
			switch m.Op {
			case "deposit":
				s.Balance += m.Amount
			case "withdraw":
				if m.Amount > s.Balance {
					ctx.ReplyError(fmt.Errorf("withdrawing %d of %d: %w", m.Amount, s.Balance, ErrInsufficient))
					return s, nil
				}
				s.Balance -= m.Amount
				return s, ctx.Reply(s.Balance)
			case "freeze":
				return s, fmt.Errorf("account %d: %w", s.Balance, ErrFrozen)
			case "audit":
				ctx.ReplyError(ErrAudit)
			case "refuse":
				ctx.ReplyError(errors.New("not today"))
			}
			return s, nil
		},
	})
}
