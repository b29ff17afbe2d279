package bank

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// LoadOptions configures the load generator; the zero value is the
// defaults.
type LoadOptions struct {
	Accounts int     // accounts it opens and works on (default 100)
	Rate     float64 // operations per second, all clients together (default 200)
	Clients  int     // concurrent clients (default 4)
	Opening  int64   // each account's first deposit, in cents (default 10,000)
	Seed     uint64  // of the clients' choices (0: random)
}

func (o LoadOptions) withDefaults() LoadOptions {
	if o.Accounts <= 0 {
		o.Accounts = 100
	}
	if o.Rate <= 0 {
		o.Rate = 200
	}
	if o.Clients <= 0 {
		o.Clients = 4
	}
	if o.Opening <= 0 {
		o.Opening = 10_000
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	return o
}

// Load is the built-in load generator: clients that deposit, withdraw,
// transfer and read balances on the accounts it opened, at a steady rate,
// and keep their own books: per account, the balance that the bank's
// answers add up to. Check compares the books with the accounts.
type Load struct {
	bank  *Bank
	ids   []int  // the accounts it opened
	books []book // by index in ids

	sent, done, refused, failed atomic.Int64
	finished                    atomic.Int64

	mu      sync.Mutex
	waiters []waiter // guarded by mu; see Await

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped atomic.Bool
}

// book is one account in the load's books.
type book struct {
	balance  atomic.Int64  // what the answered operations add up to
	busy     atomic.Int32  // operations on the account in flight
	finished atomic.Uint64 // operations on the account finished
}

// StartLoad opens the accounts, makes their opening deposits and starts
// the clients. Stop them with Stop.
func StartLoad(ctx context.Context, b *Bank, o LoadOptions) (*Load, error) {
	o = o.withDefaults()
	l := &Load{bank: b, ids: make([]int, o.Accounts), books: make([]book, o.Accounts)}
	for i := range l.ids {
		r, err := b.Open(ctx)
		if err != nil {
			return nil, fmt.Errorf("opening account %d of %d: %w", i+1, o.Accounts, err)
		}
		l.ids[i] = r.ID
		if _, err := b.Deposit(ctx, r.ID, o.Opening); err != nil {
			return nil, fmt.Errorf("opening deposit: %w", err)
		}
		l.books[i].balance.Store(o.Opening)
	}
	ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	lim := rate.NewLimiter(rate.Limit(o.Rate), o.Clients)
	for c := range o.Clients {
		rng := rand.New(rand.NewPCG(o.Seed, uint64(c)))
		l.wg.Go(func() {
			for lim.Wait(ctx) == nil {
				l.one(rng)
			}
		})
	}
	return l, nil
}

// Accounts returns the ids of the accounts the load works on.
func (l *Load) Accounts() []int { return l.ids }

// Stop stops the clients and waits for their operations in flight. Calling
// it again does nothing.
func (l *Load) Stop() {
	l.cancel()
	l.wg.Wait()
	l.stopped.Store(true)
}

// one makes one operation, chosen at random, and books its outcome.
func (l *Load) one(rng *rand.Rand) {
	ctx := context.Background() // operations run to their end, even past Stop
	i, j := rng.IntN(len(l.ids)), rng.IntN(len(l.ids))
	amount := 1 + rng.Int64N(2000)
	switch n := rng.IntN(10); {
	case n < 3:
		l.run(func() error {
			_, err := l.bank.Deposit(ctx, l.ids[i], amount)
			if err == nil {
				l.books[i].balance.Add(amount)
			}
			return err
		}, i)
	case n < 6:
		l.run(func() error {
			_, err := l.bank.Withdraw(ctx, l.ids[i], amount)
			if err == nil {
				l.books[i].balance.Add(-amount)
			}
			return err
		}, i)
	case n < 9 && i != j:
		l.run(func() error {
			_, err := l.bank.Transfer(ctx, l.ids[i], l.ids[j], amount)
			if err == nil {
				l.books[i].balance.Add(-amount)
				l.books[j].balance.Add(amount)
			}
			return err
		}, i, j)
	default:
		l.run(func() error {
			_, err := l.bank.Balance(ctx, l.ids[i])
			return err
		}, i)
	}
}

// run makes an operation on the accounts at the given indexes, counting
// it; op books its own effect when it succeeds.
func (l *Load) run(op func() error, accounts ...int) {
	for _, i := range accounts {
		l.books[i].busy.Add(1)
	}
	l.sent.Add(1)
	err := op()
	switch {
	case err == nil:
		l.done.Add(1)
	case Refused(err):
		l.refused.Add(1)
	default:
		l.failed.Add(1)
	}
	for _, i := range accounts {
		l.books[i].finished.Add(1)
		l.books[i].busy.Add(-1)
	}
	n := l.finished.Add(1)
	l.mu.Lock()
	l.waiters = slices.DeleteFunc(l.waiters, func(w waiter) bool {
		if n >= w.n {
			close(w.ch)
			return true
		}
		return false
	})
	l.mu.Unlock()
}

type waiter struct {
	n  int64
	ch chan struct{}
}

// Await waits until the load has finished n operations in all, or ctx
// ends: a test runs each step under a known amount of load this way.
func (l *Load) Await(ctx context.Context, n int64) error {
	w := waiter{n: n, ch: make(chan struct{})}
	l.mu.Lock()
	if l.finished.Load() >= n {
		l.mu.Unlock()
		return nil
	}
	l.waiters = append(l.waiters, w)
	l.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Counts is what the load generator sent and what became of it.
type Counts struct {
	Sent    int64 `json:"sent"`
	Done    int64 `json:"done"`    // answered and made
	Refused int64 `json:"refused"` // answered no (insufficient funds, say): nothing changed
	Failed  int64 `json:"failed"`  // not answered (the account crashed or restarted): nothing changed
}

// Handled is the operations an account answered: done or refused.
func (c Counts) Handled() int64 { return c.Done + c.Refused }

// Counts returns the counts so far.
func (l *Load) Counts() Counts {
	return Counts{Sent: l.sent.Load(), Done: l.done.Load(), Refused: l.refused.Load(), Failed: l.failed.Load()}
}

// Books is a comparison of the load's books with the accounts.
type Books struct {
	Checked int   `json:"checked"` // accounts compared
	Skipped int   `json:"skipped"` // accounts busy while compared (none once the load stopped)
	Off     int   `json:"off"`     // accounts whose balance differs from the books
	Lost    int64 `json:"lost"`    // cents by which they differ, added up
	Money   int64 `json:"money"`   // the checked accounts' balances, added up
}

// Check asks every account for its balance and compares it with the
// books. While the load runs, an account with an operation in flight
// during its comparison is skipped (its books and balance may be a moment
// apart); once Stop has returned, every account is compared.
func (l *Load) Check(ctx context.Context) (Books, error) {
	var c Books
	for i, id := range l.ids {
		bk := &l.books[i]
		before := bk.finished.Load()
		if bk.busy.Load() != 0 {
			c.Skipped++
			continue
		}
		r, err := l.bank.Balance(ctx, id)
		for errors.Is(err, ErrUnavailable) && l.stopped.Load() {
			// Restarting, with nothing else going on: its supervisor
			// brings it back in a moment.
			t := l.bank.sys.Clock().NewTimer(10 * time.Millisecond)
			select {
			case <-t.C():
			case <-ctx.Done():
				t.Stop()
				return c, ctx.Err()
			}
			r, err = l.bank.Balance(ctx, id)
		}
		if err != nil {
			if errors.Is(err, ErrClosed) || ctx.Err() != nil {
				return c, err
			}
			c.Skipped++ // restarting: compared next time
			continue
		}
		if bk.busy.Load() != 0 || bk.finished.Load() != before {
			c.Skipped++
			continue
		}
		c.Checked++
		c.Money += r.Balance
		if d := bk.balance.Load() - r.Balance; d != 0 {
			c.Off++
			c.Lost += max(d, -d)
		}
	}
	return c, nil
}
