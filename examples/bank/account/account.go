package account

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Module is the module's name.
const Module = "account"

// Name is the name account id's process is registered under: "account:42".
func Name(id int) string { return namePrefix + strconv.Itoa(id) }

// ParseName returns the account id of a registered name made by Name.
func ParseName(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.Atoi(s)
	return id, err == nil && id > 0
}

const namePrefix = "account:"

// The operations a Msg asks for.
const (
	OpDeposit  = "deposit"  // add Amount; a call, answered with the Reply after it
	OpWithdraw = "withdraw" // take Amount, or refuse with ErrInsufficient
	OpBalance  = "balance"  // answer the Reply, change nothing
	OpRestore  = "restore"  // take Seq and Balance from the bank's journal
)

// Msg is every message an account takes, in every version. Amounts are in
// cents.
type Msg struct {
	Op     string `json:"op"`
	Amount int64  `json:"amount,omitempty"`
	// Seq and Balance are what a restore hands over: the number of
	// changes made to the account and its balance after them.
	Seq     uint64 `json:"seq,omitempty"`
	Balance int64  `json:"balance,omitempty"`
}

// Deposit, Withdraw and Balance are the messages of those operations.
func Deposit(amount int64) Msg  { return Msg{Op: OpDeposit, Amount: amount} }
func Withdraw(amount int64) Msg { return Msg{Op: OpWithdraw, Amount: amount} }
func Balance() Msg              { return Msg{Op: OpBalance} }

// Restore is the message that hands a restarted account the balance the
// bank's journal holds for it.
func Restore(seq uint64, balance int64) Msg {
	return Msg{Op: OpRestore, Seq: seq, Balance: balance}
}

// Changes reports whether the operation changes the balance.
func (m Msg) Changes() bool { return m.Op == OpDeposit || m.Op == OpWithdraw }

// Reply is every version's answer to a call: the account after the
// operation.
type Reply struct {
	ID      int    `json:"id"`
	Balance int64  `json:"balance"`
	Seq     uint64 `json:"seq"`     // the changes made since the account opened
	Version string `json:"version"` // the version that answered
	// History is the last changes, newest last (v2 and later).
	History []Entry `json:"history,omitempty"`
}

// Entry is one change in an account's history.
type Entry struct {
	Seq     uint64 `json:"seq"`
	Op      string `json:"op"`
	Amount  int64  `json:"amount,omitempty"`
	Balance int64  `json:"balance"`
}

// HistoryLen is how many entries an account's history keeps.
const HistoryLen = 5

// Record appends an entry to h, keeping the last HistoryLen. It returns a
// new slice: the old state stays as it was (a rollback may need it).
func Record(h []Entry, e Entry) []Entry {
	out := make([]Entry, 0, HistoryLen)
	if len(h) >= HistoryLen {
		h = h[len(h)-HistoryLen+1:]
	}
	return append(append(out, h...), e)
}

// DailyLimit is how much may be withdrawn from one account in one day
// (v3 and v4), in cents.
const DailyLimit = 10_000_000

// The module's refusals. A refused operation changes nothing.
var (
	ErrInsufficient = errors.New("account: insufficient funds")
	ErrAmount       = errors.New("account: the amount must be positive")
	ErrLimit        = errors.New("account: daily withdrawal limit reached")
	ErrUnknownOp    = errors.New("account: unknown operation")
)

// Errors are the module's errors by code: what crosses between v4, which
// runs out of process, and the bank. The plugin declares them
// (sdk.Module.Errors) and so does the bank's loader (plugin.WithErrors).
var Errors = map[string]error{
	"insufficient": ErrInsufficient,
	"amount":       ErrAmount,
	"limit":        ErrLimit,
	"unknown_op":   ErrUnknownOp,
}

// Apply is what a deposit or a withdrawal does to a balance, the same in
// every version: the new balance, or why the change is refused.
func Apply(balance int64, m Msg) (int64, error) {
	if m.Amount <= 0 {
		return balance, fmt.Errorf("%s %d: %w", m.Op, m.Amount, ErrAmount)
	}
	switch m.Op {
	case OpDeposit:
		return balance + m.Amount, nil
	case OpWithdraw:
		if m.Amount > balance {
			return balance, fmt.Errorf("withdraw %d from %d: %w", m.Amount, balance, ErrInsufficient)
		}
		return balance - m.Amount, nil
	}
	return balance, fmt.Errorf("%w: %q", ErrUnknownOp, m.Op)
}

// View is what an operator sees of an account's state through the admin
// API (admin.StateInspector). Nothing in an account's state is secret, so
// it shows all of it.
type View struct {
	ID        int     `json:"id"`
	Balance   int64   `json:"balance"`
	Seq       uint64  `json:"seq"`
	History   []Entry `json:"history,omitempty"`
	Withdrawn int64   `json:"withdrawn_today,omitempty"`
}
