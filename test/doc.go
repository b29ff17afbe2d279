// Package test holds Graft's own suites:
//
//   - Deterministic scenario tests: scripts in testdata/*.txt drive
//     supervisors on a fake clock and compare the trace of supervisor
//     events with a golden transcript (etcd raft's interaction_test.go with
//     datadriven); scripts in testdata/signals/*.txt pin down races between
//     exit signals, handoffs and exits by parking processes in handlers.
//   - The chaos suite (chaos_test.go): package chaos against a service
//     built like a user's, with two modules and a plugin version built by
//     the test. make test runs 10,000 faults; make chaos runs it for ten
//     minutes (-chaos.seed, -chaos.faults, -chaos.duration).
//
// The directory is a module of its own (github.com/graftrt/graft/test):
// its suites use the plugin host, which the core module does not require.
// Run, from test/,
//
//	go test . -rewrite
//
// to rewrite every transcript with the actual trace, then read the diff: a
// trace that is not what OTP would do is a bug, not a golden.
//
// The package has no code of its own; nothing imports it.
package test
