// Package test holds Graft's deterministic scenario tests: scripts in
// testdata/*.txt drive supervisors on a fake clock and compare the trace of
// supervisor events with a golden transcript (etcd raft's
// interaction_test.go with datadriven). Run
//
//	go test ./test/ -rewrite
//
// to rewrite every transcript with the actual trace, then read the diff: a
// trace that is not what OTP would do is a bug, not a golden.
//
// The package has no code of its own; nothing imports it.
package test
