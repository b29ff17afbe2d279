// Package bank is the bank example: a small service whose accounts are
// processes, upgraded while it serves. Its command, cmd/bank, is what
// `make run` starts.
//
// Each account is a process of module account (package account) under a
// simple_one_for_one supervisor, registered as "account:42". [Bank] is the
// service's API, which its HTTP handlers ([Bank.Handler]) and the load
// generator ([StartLoad]) call: open, deposit, withdraw, transfer,
// balance. [Start] starts the tree:
//
//	bank      one_for_one
//	├── accounts  simple_one_for_one, one process per account
//	└── audit     a worker that checks the accounts against the journal
//
// # Nothing lost
//
// The bank keeps a journal: per account, the balance and the count of
// changes it last acknowledged. Every operation on an account goes
// through the account's journal entry, held for the whole operation:
// the bank calls the account's process, and records the change it
// answered before answering its own caller. So:
//
//   - an operation the account answered is in the journal, and one it did
//     not answer changed nothing: the account crashed and its state went
//     with it, or it answered too late and the bank killed it;
//   - a restarted account starts empty, and the bank hands it the
//     journal's balance (a "restore" message) before anything else
//     reaches it;
//   - a transfer is a withdrawal and then a deposit; if the deposit fails,
//     the money goes back (retried until it is there).
//
// The account processes themselves only compute: they never call the
// journal. That is what lets every version of the module take part,
// including v4, which runs out of process as a plugin and cannot reach
// the host. The journal is a plain value outside every process, standing
// for the database a real bank writes to.
//
// The load generator keeps its own books (the balance its answered
// operations add up to, per account) and [Load.Check] compares them with
// what the accounts hold: across upgrades, a canary rolled back,
// downgrades and a move to a plugin version, nothing is lost.
package bank
