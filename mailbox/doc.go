// Package mailbox implements the queues behind every Graft process: a system
// lane that is always served before a user lane, unbounded and bounded user
// lanes with an overflow policy, suspension of the user lane, and the
// idle/running hand-off that lets an idle process hold no goroutine.
//
// # Lanes
//
// The system lane carries signals (exit signals, link and monitor requests,
// suspend/resume, code change, stop). The user lane carries ordinary messages.
// [Mailbox.Next] returns system messages first: a user message pushed after a
// signal (by any producer that knew of the signal's push) is never returned
// before it, however the owner's look at the lanes interleaves with the two
// pushes. While the owner has suspended the mailbox ([Mailbox.Suspend]) only
// the system lane is served and user messages stay queued, in order.
//
// # Ownership and scheduling
//
// A Mailbox has many producers and exactly one consumer, its owner. Producers
// call [Mailbox.PushUser] and [Mailbox.PushSystem]; the owner calls every other
// method. A push reports schedule == true when the mailbox went from idle to
// having work the owner can take: the pusher must then start the owner (Graft
// starts a goroutine). [Mailbox.Next] reports ok == false when there is nothing
// the owner may take; the mailbox is idle again from that moment and the owner
// must stop consuming until a later push reports schedule. Exactly one party
// ever sees schedule == true for a given idle period, so an owner never runs
// twice at once.
//
// # Overflow
//
// A bounded mailbox (Capacity > 0) never holds more than Capacity user
// messages. When full, [Reject] makes the push fail with [ErrFull], which the
// sender sees; [DropOldest] evicts the oldest queued user message and returns
// it to the pusher so it can be reported as a dead letter. Nothing is ever
// dropped silently. The system lane is unbounded: signals are never refused.
//
// # The unbounded lane
//
// An unbounded mailbox's user lane is a segmented multi-producer,
// single-consumer queue that producers append to without the lock. Each
// message gets a position, one more than the one before it. A push adds
// one to the tail segment's counter (an atomic add: its slot), writes the
// message and marks the slot ready with one compare-and-swap; only when the
// segment is full does it take the lock, to link the next one. The owner
// reads ready slots in order with plain atomic loads and writes nothing the
// producers read, except once per segment and per batch (see below). The
// first segment is a one-slot segment inside the Mailbox; the next ones
// double up to 256 slots. A segment the owner has passed keeps its slots
// for the next segment a producer links (up to 8 while running, one once
// idle), so a sender a few segments ahead of its receiver allocates
// nothing but its messages; when the owner goes idle having taken
// everything, it starts its segment again from the first slot, so a
// process woken for one message at a time never links a segment. A
// segment's header is never reused: a producer descheduled while holding
// one only finds it full. No library queue fits (see docs/benchmarks.md):
// the lane needs close, marks and backlogs built into it.
//
// Guarantees, besides those of every mailbox:
//   - Per-producer order, and no message lost or duplicated: a push either
//     returns nil and its message is taken, returned by a close or carried
//     by a Backlog exactly once, or returns ErrClosed.
//   - Close racing with pushes: a close refuses every later reservation; a
//     message reserved before it and not yet written when the closer (or a
//     Backlog's reader) reaches its slot is refused there, and its push
//     returns ErrClosed.
//   - The owner is scheduled exactly once per idle period: a push marks its
//     slot ready before it looks at the running flag; the owner clears the
//     flag before it looks at the lane a last time, using only what
//     producers share (it may already have a successor).
//   - CloseForeign with the owner running returns what the owner has not
//     taken on. The owner takes on the lane batch by batch, up to what has
//     been reserved (one compare-and-swap per batch), and what it took on
//     stays its own (DrainOwned).
//   - A trapped exit's message (InsertUser) and an adopted backlog in a
//     mailbox that already had messages go to an owner-only list keyed by
//     position and are merged in as the owner reaches their position. The
//     exit's position is the mark its signal carries: the point in the
//     user lane at which it arrived, written into the signal as it is
//     pushed ([Mailbox.PushSystemMarked]), so that a mailbox keeps no mark
//     of its own.
//   - CloseBacklog and Adopt move the lane's segments whole, in constant
//     time: only the tail is sealed; the adopting mailbox takes every slot
//     below the adopted lane's end as sealed (its producer pushed to the
//     closed mailbox), refuses one still empty when it reaches it, and
//     never reuses those segments.
//
// A bounded mailbox keeps its user lane under the lock (a push must see the
// true length, and DropOldest evict the true oldest message).
//
// # Cost
//
// An unbounded push costs two atomic read-modify-writes on lines only
// producers write, and the owner none per message; no allocation happens
// in steady state but the message itself. A bounded mailbox takes one
// short mutex section per push and pops one message per lock. Signals take
// the lock. Package mailbox uses only the standard library and holds no
// package-level state; it never panics on any input.
package mailbox
