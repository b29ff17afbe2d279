// Package account is module "account" of the bank example: one process
// per bank account, holding its balance, with the versions the example
// upgrades between while the bank runs.
//
//   - [V1] keeps a [StateV1]: the balance and the number of changes made.
//   - [V2] follows v1. Its [StateV2] adds the last few changes ([Entry]);
//     its CodeChange migrates a StateV1 and its Downgrade hands one back.
//   - [V3] follows v2 and adds a daily withdrawal limit, with a bug: its
//     CodeChange does not create the map the limit is counted in, so a
//     process that migrated to v3 crashes on its first withdrawal. A
//     canary upgrade with a health gate stops it and rolls it back.
//   - v4 (package v4, an executable) follows v2 and adds the limit
//     correctly. It runs out of process as a plugin, built and loaded while
//     the bank runs.
//
// Every version takes the same message, [Msg], and answers with the same
// [Reply]: v4 runs out of process, where messages and replies cross as
// JSON, so the module has one message type. Refusals are errors with codes
// ([Errors]) so that errors.Is recognises them whichever version answered.
//
// An account process only computes: it never calls other processes. The
// bank (package bank) records every change the account acknowledges in
// its journal, and hands a restarted account its balance back with a
// "restore" message before anything else. A version that runs out of
// process could not reach the journal itself; keeping the module free of
// it is what lets every version, compiled in or not, take part.
package account
