// Package bench compares Graft with a plain goroutine-and-channel baseline and
// with three peer actor frameworks (hollywood, protoactor-go, Ergo) on five
// workloads, each written in the same shape for every framework:
//
//   - W1 fan-in: one goroutine outside the system sends 2,000,000 ints to one
//     actor; the clock stops when the actor has handled the last one. Mmsg/s.
//   - W1s fan-in of structs: W1 with a small struct per message (16 bytes,
//     boxed on each send). Mmsg/s.
//   - W2 ping-pong: 1,000 pairs of actors bounce a ball 1,000 times each,
//     1,000,000 deliveries in all; the clock stops when every pair is done.
//     Mmsg/s.
//   - W3 call: one goroutine makes 200,000 sequential request/reply round
//     trips to one actor. Each round trip is timed; p50 and p99 in µs.
//   - W4 spawn: spawn 100,000 actors, send each one message, wait until every
//     one has handled it, stop them all and wait until every one has stopped.
//     actors/s over that whole life (the memory measurement in the middle is
//     not timed), and bytes per idle actor.
//   - W5 restart: one worker under its framework's supervisor, registered
//     under a name, panics on every 10th message sent (numbers 9, 19, ...)
//     that reaches it, while one goroutine sends 100,000 without pause. Restarts/s over the whole run;
//     lost messages (accepted, then neither handled nor reported by the
//     framework); reported ones (a send that failed, or a dead letter with a
//     reason); restart latency p50 and p99, from the crash to the next
//     incarnation handling its first message.
//
// A sixth workload, W6, is Graft's alone, since the peers cannot run a
// version in another OS process: one actor on a plugin version
// (cmd/w6plugin, served through go-plugin over gRPC), to which one
// goroutine sends messages with 64 bytes of payload: batched (200,000 as
// fast as possible, in the loader's default batches of up to 256),
// unbatched (20,000, one gRPC round trip each) and paced (25,000 msg/s for
// 2 s). Measured: msg/s, from the first send to the reply of a call queued
// behind the last message, and each message's latency from the host's send
// to the plugin's handler, p50 and p99 in µs. See plugin.go.
//
// Bytes per idle actor is the growth of heap plus goroutine stacks, each read
// after a full GC, between "system built, nothing spawned" and "100k actors
// spawned, each has handled its message and is idle", divided by 100k. Heap
// alone (runtime.MemStats.HeapAlloc) would make a goroutine-per-actor design
// look almost free, because goroutine stacks are counted in StackInuse, so
// both are reported: B/actor (heap + stacks) and heapB/actor (heap only).
//
// Each framework runs with its defaults except where a default would put
// output or network traffic into the measurement: loggers are silenced and
// Ergo's networking and usage metrics are disabled. Building and tearing down
// a system is never timed; every run builds a fresh one.
//
// The test binary links protoactor-go and hollywood, which both register the
// protobuf file "actor.proto"; run it with
// GOLANG_PROTOBUF_REGISTRATION_CONFLICT=warn (run.sh does). See README.md.
package bench
