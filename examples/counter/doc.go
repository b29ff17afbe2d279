// Package counter is module "counter" in two versions: the service of the
// upgrade example (examples/upgrade), and a small, complete example of a
// module whose state changes shape across versions.
//
// Each counter process counts the [Inc] messages it handles and checks that
// every sender's sequence numbers arrive in order (1, 2, 3, … per sender and
// per counter), so a lost, duplicated or reordered message shows up in the
// process's own [Stats], which a [Get] call returns. Both versions accept the
// same messages; only the state differs:
//
//   - [V1] keeps a [StateV1]: an int count and, per sender, the last sequence
//     number handled.
//   - [V2] keeps a [StateV2]: int64 totals and, per sender, the sequence
//     number expected next. Its CodeChange migrates a StateV1 (from "v1") and
//     its Downgrade turns a StateV2 back into a StateV1.
//
// Load V1, spawn processes, then Load V2 while messages flow: each process
// migrates on its next message (per-message version pickup), handles it on
// V2, and nothing is lost. Loading V1 again downgrades them the same way.
//
// V1 and V2 are immutable and hold no per-system state, so one program may
// load them into any number of Systems. A message the module does not know
// stops the process with an error wrapping [ErrUnknownMessage] (as an
// unmatched gen_server clause would).
package counter
