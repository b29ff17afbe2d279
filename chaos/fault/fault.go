// Package fault is the part of the chaos toolkit that runs inside the code
// under test: the tagged message the load generator sends, and what a
// handler or a migration does when a message or an upgrade asks it to
// misbehave. It depends on the standard library only, so plugin versions
// built with the SDK can use it too.
package fault

import (
	"errors"
	"time"
)

// Msg is every message the chaos load generator and fault injector send
// to the processes under test. Sender, Seq and Target tag it: Seq counts,
// from 1, the messages Sender sent to Target, so that the harness can check
// that each was handled exactly once (or reported) and in order. A Msg
// whose Untracked is set (a probe call) is not accounted for, nor is one
// with an Origin: it came from another node of a cluster, whose run
// (package cluster/clusterchaos) accounts for it.
//
// A module under chaos accepts Msg and calls Act on it first; the rest of
// its handling is the module's own.
type Msg struct {
	Sender    int
	Seq       uint64
	Target    int
	Untracked bool          `json:",omitempty"`
	Fault     string        `json:",omitempty"` // "", Panic, Slow, Hang
	Delay     time.Duration `json:",omitempty"` // for Slow
	// Origin names the node that sent the message across a cluster; ""
	// for a message of this system's own run.
	Origin string `json:",omitempty"`
}

// What a Msg may ask of its handler.
const (
	Panic = "panic" // panic
	Slow  = "slow"  // take Delay
	// Hang takes Delay too, which the injector makes longer than a plugin
	// version's call deadline: a plugin is then killed as hung, while a
	// compiled-in version (the message may reach one after an upgrade) is
	// only slow.
	Hang = "hang"
)

// Act does what m asks of the handler handling it: nothing for a plain
// message. It panics for Panic (in a handler, a panic is an exit reason)
// and sleeps for Slow and Hang.
func Act(m Msg) {
	switch m.Fault {
	case Panic:
		panic("chaos: asked to panic")
	case Slow, Hang:
		// Stands for handler code that takes long: sleeping is the fault.
		time.Sleep(m.Delay)
	}
}

// Migration is the Extra of the upgrades the injector makes: what the
// migration (CodeChange, Downgrade) should do. A zero Migration asks for
// nothing.
type Migration struct {
	Fault string        `json:",omitempty"` // "", Fail, Panic, Slow
	Delay time.Duration `json:",omitempty"` // for Slow: longer than the plan's timeout
	// On aims the fault at one kind of migration: OnCodeChange or
	// OnDowngrade; "" aims it at both. A rolling upgrade whose Downgrade
	// fails, say, runs its waves and fails only when it rolls them back.
	On string `json:",omitempty"`
}

// Fail is a Migration fault: return ErrInjected.
const Fail = "fail"

// Where a Migration fault is aimed (Migration.On).
const (
	OnCodeChange = "code_change"
	OnDowngrade  = "downgrade"
)

// ErrInjected is the error of a migration asked to fail.
var ErrInjected = errors.New("chaos: injected migration failure")

// encoded is an Extra that crossed to a plugin version as bytes
// (codec.Raw; actor.Encoded).
type encoded interface{ Decode(into any) error }

// ActMigration does what extra asks of a migration, whichever kind it
// is: it returns ErrInjected for Fail, panics for Panic, sleeps for Slow,
// and does nothing for any other extra. It cannot tell CodeChange from
// Downgrade, so it acts on a fault aimed at either; call ActCodeChange in
// CodeChange and ActDowngrade in Downgrade instead, so that a fault aimed
// at one kind lets the other pass.
func ActMigration(extra any) error { return act(extra, "") }

// ActCodeChange is ActMigration for CodeChange: call it first there, with
// its extra argument. It ignores faults aimed at Downgrade.
func ActCodeChange(extra any) error { return act(extra, OnCodeChange) }

// ActDowngrade is ActMigration for Downgrade: call it first there, with
// its extra argument. It ignores faults aimed at CodeChange.
func ActDowngrade(extra any) error { return act(extra, OnDowngrade) }

// act does what extra asks of a migration of kind kind ("" for either).
func act(extra any, kind string) error {
	var m Migration
	switch e := extra.(type) {
	case Migration:
		m = e
	case *Migration:
		if e != nil {
			m = *e
		}
	case encoded:
		if e.Decode(&m) != nil {
			return nil
		}
	}
	if kind != "" && m.On != "" && m.On != kind {
		return nil
	}
	switch m.Fault {
	case Fail:
		return ErrInjected
	case Panic:
		panic("chaos: asked to panic in a migration")
	case Slow:
		time.Sleep(m.Delay)
	}
	return nil
}
