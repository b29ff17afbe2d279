// Package mailbox implements the queues behind every Graft process: a system
// lane that is always served before a user lane, unbounded and bounded user
// lanes with an overflow policy, suspension of the user lane, and the
// idle/running hand-off that lets an idle process hold no goroutine.
//
// # Lanes
//
// The system lane carries signals (exit signals, link and monitor requests,
// suspend/resume, code change, stop). The user lane carries ordinary messages.
// [Mailbox.Next] returns system messages first; while the owner has suspended
// the mailbox ([Mailbox.Suspend]) only the system lane is served and user
// messages stay queued, in order.
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
// # Cost
//
// Pushes take one short mutex section. An unbounded mailbox hands its owner
// the whole queued batch at once, so the owner takes the lock once per batch,
// not once per message, and no allocation happens in steady state (the two
// buffers are reused). A bounded mailbox pops one message per lock so that
// eviction always sees the true oldest message. Package mailbox uses only the
// standard library and holds no package-level state; it never panics on any
// input.
package mailbox
