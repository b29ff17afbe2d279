package bank

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/examples/bank/account"
)

// journal is the bank's record of every account: the balance and the
// count of changes the bank last acknowledged, and the process it last
// handed them to. It stands for the database a real bank writes to: a
// plain value outside every process, so that it outlives any of them
// crashing, and every version of module account, compiled in or running
// out of process, leaves it to the bank.
type journal struct {
	mu       sync.RWMutex
	accounts map[int]*entry // guarded by mu
	lastID   atomic.Int64

	// Money that came in (deposits, transfers in) and went out
	// (withdrawals, transfers out), in cents: the sum of the balances is
	// in - out.
	in, out atomic.Int64
	// mismatches counts accounts found to differ from their entry.
	mismatches atomic.Int64
}

// entry is one account's record. mu is held for the whole of an operation
// on the account, and guards the other fields but id.
type entry struct {
	mu      sync.Mutex
	id      int
	pid     actor.PID // the process that holds the account as recorded here
	seq     uint64
	balance int64
}

// reserve makes the entry of a new account, locked; add publishes it.
func (j *journal) reserve() *entry {
	e := &entry{id: int(j.lastID.Add(1))}
	e.mu.Lock()
	return e
}

func (j *journal) add(e *entry) {
	j.mu.Lock()
	j.accounts[e.id] = e
	j.mu.Unlock()
	e.mu.Unlock()
}

func (j *journal) has(id int) bool {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.accounts[id] != nil
}

// lock returns account id's entry, locked.
func (j *journal) lock(id int) (*entry, error) {
	j.mu.RLock()
	e := j.accounts[id]
	j.mu.RUnlock()
	if e == nil {
		return nil, fmt.Errorf("%w: %d", ErrNoAccount, id)
	}
	e.mu.Lock()
	return e, nil
}

// record writes down a change the account acknowledged; e is locked.
func (j *journal) record(e *entry, m account.Msg, r account.Reply) {
	e.seq, e.balance = r.Seq, r.Balance
	if m.Op == account.OpDeposit {
		j.in.Add(m.Amount)
	} else {
		j.out.Add(m.Amount)
	}
}

// Account is an account as the journal has it.
type Account struct {
	ID      int    `json:"id"`
	Balance int64  `json:"balance"`
	Seq     uint64 `json:"seq"`
}

// Totals is the journal at one instant.
type Totals struct {
	Accounts int   `json:"accounts"`
	Balances int64 `json:"balances"` // the sum of the balances
	In       int64 `json:"in"`       // deposited and transferred in
	Out      int64 `json:"out"`      // withdrawn and transferred out
	// Mismatches counts the times an account was found to differ from
	// the journal (each is logged as a warning).
	Mismatches int64 `json:"mismatches"`
}

// Balanced reports whether the balances add up: Balances == In - Out.
func (t Totals) Balanced() bool { return t.Balances == t.In-t.Out }

// snapshot returns every account and the totals at one instant: it holds
// every entry (in id order, so it never waits on an operation that waits
// on it) while it reads.
func (j *journal) snapshot() ([]Account, Totals) {
	j.mu.RLock()
	es := make([]*entry, 0, len(j.accounts))
	for _, e := range j.accounts {
		es = append(es, e)
	}
	j.mu.RUnlock()
	slices.SortFunc(es, func(a, b *entry) int { return a.id - b.id })
	for _, e := range es {
		e.mu.Lock()
	}
	out := make([]Account, len(es))
	t := Totals{Accounts: len(es), In: j.in.Load(), Out: j.out.Load(), Mismatches: j.mismatches.Load()}
	for i, e := range es {
		out[i] = Account{ID: e.id, Balance: e.balance, Seq: e.seq}
		t.Balances += e.balance
	}
	for _, e := range es {
		e.mu.Unlock()
	}
	return out, t
}

// Accounts lists every account as the journal has it, by id.
func (b *Bank) Accounts() []Account {
	a, _ := b.journal.snapshot()
	return a
}

// Totals returns the journal's totals.
func (b *Bank) Totals() Totals {
	_, t := b.journal.snapshot()
	return t
}
