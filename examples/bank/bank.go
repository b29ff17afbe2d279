package bank

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/examples/bank/account"
	"github.com/graftrt/graft/supervisor"
)

// Errors of the bank's operations. Every error a Bank method returns means
// that nothing changed; Refused tells the account's refusals (it answered
// no) from the rest (nobody answered).
var (
	ErrNoAccount   = errors.New("bank: no such account")
	ErrUnavailable = errors.New("bank: account unavailable")
	ErrNoAnswer    = errors.New("bank: the account did not answer")
	ErrSameAccount = errors.New("bank: a transfer needs two accounts")
	ErrClosed      = errors.New("bank: closed")
)

// Refused reports whether err is an account's refusal: insufficient funds,
// an amount that is not positive, the daily limit.
func Refused(err error) bool {
	return errors.Is(err, account.ErrInsufficient) || errors.Is(err, account.ErrAmount) ||
		errors.Is(err, account.ErrLimit)
}

// Registered names of the bank's supervisors and worker.
const (
	TopName      = "bank"
	AccountsName = "accounts"
	AuditName    = "audit"
)

// Options configures a Bank; the zero value is the defaults.
type Options struct {
	// AnswerWithin is how long an account may take to answer (default
	// 5 s). One that has not answered by then is killed, so that a change
	// it may still make dies with it, and its supervisor restarts it from
	// the journal.
	AnswerWithin time.Duration
	// AuditEvery is how often the audit worker checks every account
	// against the journal (default 10 s; negative: never).
	AuditEvery time.Duration
}

func (o Options) withDefaults() Options {
	if o.AnswerWithin <= 0 {
		o.AnswerWithin = 5 * time.Second
	}
	if o.AuditEvery == 0 {
		o.AuditEvery = 10 * time.Second
	}
	return o
}

// Bank is the service: its supervision tree, its journal, and the
// operations, which HTTP handlers and the load generator call from any
// goroutine.
type Bank struct {
	sys     *actor.System
	o       Options
	log     *zap.Logger
	top     *supervisor.Handle
	journal journal
	unsub   func()
	closing sync.Once
	done    chan struct{} // closed by Close
}

// Start starts the bank in sys: it loads account.V1 unless a version of
// module account is current already (and stages V2), and starts the
// supervision tree:
//
//	bank      one_for_one
//	├── accounts  simple_one_for_one: one process per account ("account:42")
//	└── audit     worker: checks the accounts against the journal
//
// Stop it with Close, then shut sys down.
func Start(sys *actor.System, o Options) (*Bank, error) {
	b := &Bank{sys: sys, o: o.withDefaults(), log: sys.Logger().Named("bank"), done: make(chan struct{})}
	b.journal.accounts = map[int]*entry{}
	if _, ok := sys.Current(account.Module); !ok {
		if err := sys.Load(account.V1); err != nil {
			return nil, err
		}
	}
	// v4, a plugin version, follows v2: with v2 known to the system, a
	// plan can move accounts from v1 to v4 (through v2's CodeChange)
	// without making v2 current first.
	if err := sys.Stage(account.V2); err != nil {
		return nil, err
	}
	if err := sys.Load(auditVersion); err != nil {
		return nil, err
	}
	top, err := supervisor.Start(sys, supervisor.Flags{Strategy: supervisor.OneForOne, Intensity: 3, Period: 10 * time.Second},
		[]supervisor.ChildSpec{accountsSpec(), auditSpec(b)}, actor.WithName(TopName))
	if err != nil {
		return nil, err
	}
	b.top = top
	// A restarted account starts empty; have the audit hand it its balance
	// at once rather than at the next operation, so that it shows right.
	b.unsub = sys.Subscribe(func(ev actor.Event) {
		if s, ok := ev.(supervisor.ChildStarted); ok && s.Restart && s.ID == "account" {
			_ = sys.SendNamed(AuditName, restarted{s.PID})
		}
	})
	return b, nil
}

// accountsSpec is the accounts supervisor: simple_one_for_one over module
// account, each instance started by Open with its id as its argument and
// its registered name. A bad version may crash many accounts at once; they
// lose nothing (the journal restores them), so it allows many restarts
// before giving up.
func accountsSpec() supervisor.ChildSpec {
	spec := supervisor.Spec(AccountsName,
		supervisor.Flags{Strategy: supervisor.SimpleOneForOne, Intensity: 100, Period: 10 * time.Second},
		[]supervisor.ChildSpec{{
			ID:       "account",
			Start:    supervisor.StartSpec{Module: account.Module},
			Shutdown: supervisor.Shutdown(time.Second),
		}})
	spec.Start.Options = []actor.SpawnOption{actor.WithName(AccountsName)}
	return spec
}

// auditSpec is the audit worker. It traps exits, so that its Terminate
// runs when its supervisor shuts it down.
func auditSpec(b *Bank) supervisor.ChildSpec {
	return supervisor.ChildSpec{ID: AuditName, Start: supervisor.StartSpec{
		Module: auditModule, Args: b,
		Options: []actor.SpawnOption{actor.WithName(AuditName), actor.WithTrapExit()},
	}}
}

// Supervisor is the root of the bank's tree: what the admin API shows and
// upgrades.
func (b *Bank) Supervisor() *supervisor.Handle { return b.top }

// Close stops the bank's tree and waits until it has stopped. Operations
// fail with ErrClosed from then on. Calling it again does nothing.
func (b *Bank) Close(ctx context.Context) error {
	var err error
	b.closing.Do(func() {
		close(b.done)
		b.unsub()
		err = b.sys.Stop(ctx, b.top.PID())
		var exit *actor.ExitError
		if errors.As(err, &exit) && errors.Is(exit.Reason, actor.NoProc) {
			err = nil // stopped with the system already
		}
	})
	return err
}

// Ready reports whether the bank serves: its tree answers.
func (b *Bank) Ready(ctx context.Context) error {
	_, err := b.top.CountChildren(ctx)
	return err
}

// Open opens an account, empty, and returns it.
func (b *Bank) Open(ctx context.Context) (account.Reply, error) {
	if b.closed() {
		return account.Reply{}, ErrClosed
	}
	sup, ok := b.sys.Whereis(AccountsName)
	if !ok {
		return account.Reply{}, fmt.Errorf("%w: the accounts supervisor is restarting", ErrUnavailable)
	}
	e := b.journal.reserve()
	pid, err := supervisor.Of(b.sys, sup).StartSimpleChild(ctx, e.id,
		supervisor.SpawnOptions(actor.WithName(account.Name(e.id))))
	if err != nil {
		return account.Reply{}, err
	}
	// The new process starts empty, as the journal's entry does.
	e.pid = pid
	b.journal.add(e)
	return b.Balance(ctx, e.id)
}

// Deposit adds amount (cents) to account id.
func (b *Bank) Deposit(ctx context.Context, id int, amount int64) (account.Reply, error) {
	return b.apply(ctx, id, account.Deposit(amount))
}

// Withdraw takes amount (cents) from account id, or refuses.
func (b *Bank) Withdraw(ctx context.Context, id int, amount int64) (account.Reply, error) {
	return b.apply(ctx, id, account.Withdraw(amount))
}

// Balance asks account id for its balance and its latest changes.
func (b *Bank) Balance(ctx context.Context, id int) (account.Reply, error) {
	return b.apply(ctx, id, account.Balance())
}

// Transfer is a transfer made: both accounts after it.
type Transfer struct {
	From account.Reply `json:"from"`
	To   account.Reply `json:"to"`
}

// Transfer moves amount from one account to another: a withdrawal, then a
// deposit. If the deposit fails, the money goes back to the account it
// came from (retried until it is there: it is never left in between).
// Other operations may see the money on its way (gone from one account,
// not yet in the other); once every operation has returned, balances add
// up.
func (b *Bank) Transfer(ctx context.Context, from, to int, amount int64) (Transfer, error) {
	if from == to {
		return Transfer{}, ErrSameAccount
	}
	if !b.journal.has(to) {
		return Transfer{}, fmt.Errorf("%w: %d", ErrNoAccount, to)
	}
	w, err := b.apply(ctx, from, account.Withdraw(amount))
	if err != nil {
		return Transfer{}, err
	}
	d, err := b.apply(ctx, to, account.Deposit(amount))
	if err == nil {
		return Transfer{From: w, To: d}, nil
	}
	b.refund(from, amount)
	return Transfer{}, fmt.Errorf("transfer to %d failed, money returned to %d: %w", to, from, err)
}

// refund puts a transfer's money back. A deposit is refused only for a
// bad amount, which the withdrawal took already, so it fails only while
// the account is unavailable (restarting, say): try again until it
// succeeds. The bank closing stops it, with an error log: in a real bank
// the money would go to a suspense account for a person to sort out.
func (b *Bank) refund(id int, amount int64) {
	wait := 10 * time.Millisecond
	for {
		_, err := b.apply(context.Background(), id, account.Deposit(amount))
		if err == nil {
			return
		}
		b.log.Warn("refund failed; trying again", zap.Int("account", id), zap.Int64("amount", amount), zap.Error(err))
		t := b.sys.Clock().NewTimer(wait)
		select {
		case <-t.C():
		case <-b.done:
			t.Stop()
			b.log.Error("bank closed during a refund: money left in transit",
				zap.Int("account", id), zap.Int64("amount", amount))
			return
		}
		wait = min(2*wait, time.Second)
	}
}

// apply runs one operation on account id. It holds the account's journal
// entry for the whole of it, so that the journal records each account's
// changes in order and a restarted account is restored before anything
// else reaches it. Either the account answered and any change it made is
// in the journal, or it did not and any change it made is gone with it.
func (b *Bank) apply(ctx context.Context, id int, m account.Msg) (account.Reply, error) {
	if b.closed() {
		return account.Reply{}, ErrClosed
	}
	e, err := b.journal.lock(id)
	if err != nil {
		return account.Reply{}, err
	}
	defer e.mu.Unlock()
	pid, err := b.process(ctx, e)
	if err != nil {
		return account.Reply{}, err
	}
	r, err := b.call(ctx, pid, m)
	if err != nil {
		return account.Reply{}, err
	}
	switch {
	case m.Changes():
		b.journal.record(e, m, r)
	case r.Seq != e.seq || r.Balance != e.balance:
		b.journal.mismatches.Add(1)
		b.log.Warn("account differs from the journal", zap.Int("account", id), zap.Stringer("pid", pid),
			zap.Int64("balance", r.Balance), zap.Int64("journal", e.balance),
			zap.Uint64("seq", r.Seq), zap.Uint64("journal_seq", e.seq))
	}
	return r, nil
}

// process returns the account's process, restoring it first if it is one
// the journal has not seen: its supervisor restarted it, and it starts
// empty.
func (b *Bank) process(ctx context.Context, e *entry) (actor.PID, error) {
	pid, ok := b.sys.Whereis(account.Name(e.id))
	// Not registered: it has just exited and its supervisor is restarting
	// it, which takes a moment. Wait a little before giving up.
	for wait := time.Millisecond; !ok && wait <= 64*time.Millisecond; wait *= 2 {
		t := b.sys.Clock().NewTimer(wait)
		select {
		case <-t.C():
		case <-b.done:
			t.Stop()
			return actor.PID{}, ErrClosed
		}
		pid, ok = b.sys.Whereis(account.Name(e.id))
	}
	if !ok {
		return actor.PID{}, fmt.Errorf("%w: account %d is not running", ErrUnavailable, e.id)
	}
	if pid == e.pid {
		return pid, nil
	}
	if _, err := b.call(ctx, pid, account.Restore(e.seq, e.balance)); err != nil {
		return actor.PID{}, err
	}
	b.log.Info("account restored from the journal", zap.Int("account", e.id), zap.Stringer("pid", pid),
		zap.Int64("balance", e.balance), zap.Uint64("seq", e.seq))
	e.pid = pid
	return pid, nil
}

// call sends m to an account's process and waits for its answer, for up
// to AnswerWithin whatever ctx says: a caller giving up must not leave a
// change made and not recorded.
func (b *Bank) call(ctx context.Context, pid actor.PID, m account.Msg) (account.Reply, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.o.AnswerWithin)
	defer cancel()
	v, err := b.sys.Call(cctx, pid, m)
	var exit *actor.ExitError
	switch {
	case err == nil:
		r, err := decode(v)
		if err == nil {
			return r, nil
		}
		b.kill(pid, err)
		return account.Reply{}, fmt.Errorf("%w: %w", ErrNoAnswer, err)
	case Refused(err) || errors.Is(err, account.ErrUnknownOp):
		return account.Reply{}, err
	case errors.As(err, &exit):
		// It exited before answering: what it did is gone with its state.
		return account.Reply{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	default:
		// No answer in time (or none that makes sense): it may still
		// make the change. Kill it so that the change, if made, dies
		// with it.
		b.kill(pid, err)
		return account.Reply{}, fmt.Errorf("%w: %w", ErrNoAnswer, err)
	}
}

// kill kills an account's process and waits until it is gone; its
// supervisor restarts it, and the next operation restores it.
func (b *Bank) kill(pid actor.PID, why error) {
	b.log.Warn("killing an account that did not answer", zap.Stringer("pid", pid), zap.Error(why))
	w := b.sys.Watch(pid)
	_ = b.sys.Kill(pid)
	// A kill takes effect between messages; a handler that never returns
	// is abandoned instead.
	t := b.sys.Clock().NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-w.Done():
	case <-t.C():
		_ = b.sys.Abandon(pid)
		<-w.Done()
	}
}

// decode reads an account's reply: a Reply from a compiled-in version,
// JSON from a plugin version.
func decode(v any) (account.Reply, error) {
	switch r := v.(type) {
	case account.Reply:
		return r, nil
	case actor.Encoded:
		var out account.Reply
		err := r.Decode(&out)
		return out, err
	}
	return account.Reply{}, fmt.Errorf("bank: an account answered a %T", v)
}

func (b *Bank) closed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}
