package bank

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/examples/bank/account"
)

// The audit worker: a process in the bank's tree that, every
// Options.AuditEvery, asks every account for its balance (which checks it
// against the journal) and checks that the journal's balances add up; and
// that restores an account as soon as its supervisor restarts it.
const auditModule = "audit"

type (
	// auditTick starts an audit.
	auditTick struct{}
	// restarted: an account's supervisor restarted it as PID.
	restarted struct{ PID actor.PID }
	// AuditReport is the last audit's result (a call with AuditReport{}
	// answers it).
	AuditReport struct {
		Audits   int    // audits made
		Checked  int    // accounts that answered in the last one
		Totals   Totals // the journal, at the last one
		Problems int    // audits that found something wrong
	}
)

var auditVersion = actor.Define(auditModule, "v1", actor.Funcs[*auditor]{
	Init: func(ctx *actor.Context, args any) (*auditor, error) {
		a := &auditor{bank: args.(*Bank)}
		a.schedule(ctx)
		return a, nil
	},
	Handle: func(ctx *actor.Context, a *auditor, msg any) (*auditor, error) {
		switch m := msg.(type) {
		case auditTick:
			a.audit(ctx)
			a.schedule(ctx)
		case restarted:
			if id, ok := a.accountOf(m.PID); ok {
				_, _ = a.bank.Balance(context.Background(), id) // restores it
			}
		case AuditReport:
			ctx.Reply(a.last)
		}
		return a, nil
	},
	// The audit traps exits (see auditSpec), so that its supervisor's
	// shutdown runs this: no tick is left to fire after it.
	Terminate: func(_ *actor.Context, a *auditor, _ error) {
		if a.tick != nil {
			a.tick.Stop()
		}
	},
})

type auditor struct {
	bank *Bank
	last AuditReport
	tick actor.Timer // the next auditTick
}

func (a *auditor) schedule(ctx *actor.Context) {
	if every := a.bank.o.AuditEvery; every > 0 {
		a.tick = ctx.SendAfter(ctx.Self(), every, auditTick{})
	}
}

// audit checks every account (an account that differs from the journal is
// logged by the bank) and the journal's sums.
func (a *auditor) audit(ctx *actor.Context) {
	accounts := a.bank.Accounts()
	checked := 0
	for _, acc := range accounts {
		if _, err := a.bank.Balance(context.Background(), acc.ID); err == nil {
			checked++
		} else if errors.Is(err, ErrClosed) {
			return
		}
	}
	before := a.last.Totals.Mismatches
	t := a.bank.Totals()
	a.last.Audits++
	a.last.Checked, a.last.Totals = checked, t
	log := ctx.Log()
	switch {
	case !t.Balanced():
		a.last.Problems++
		log.Warn("audit: the journal's balances do not add up", zap.Int64("balances", t.Balances),
			zap.Int64("in", t.In), zap.Int64("out", t.Out))
	case t.Mismatches > before:
		a.last.Problems++
		log.Warn("audit: accounts differ from the journal", zap.Int64("mismatches", t.Mismatches-before))
	default:
		log.Info("audit: every account matches the journal", zap.Int("accounts", len(accounts)),
			zap.Int("checked", checked), zap.Int64("balances", t.Balances))
	}
}

// accountOf finds the account id of an account process by its registered
// name.
func (a *auditor) accountOf(pid actor.PID) (int, bool) {
	st, ok := a.bank.sys.Stat(pid)
	if !ok {
		return 0, false
	}
	return account.ParseName(st.Name)
}
