package handoff

import (
	"errors"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
)

// Frame kinds, in the order of the sequence (see doc.go).
const (
	kindHello     = "hello"     // new → old: started, ready to receive
	kindPrepare   = "prepare"   // old → new: the versions in use
	kindPrepared  = "prepared"  // new → old: every version has a route here
	kindTransfer  = "transfer"  // old → new: trees, states, queues
	kindReady     = "ready"     // new → old: rebuilt, migrated, healthy
	kindCommit    = "commit"    // old → new: the old process gives up its processes
	kindCommitted = "committed" // new → old: the new process owns them (no return)
	kindTimers    = "timers"    // old → new: SendAfter timers taken over
	kindServe     = "serve"     // old → new: the old process has let go; serve
	kindDeliver   = "deliver"   // old → new: a late message (or call)
	kindDelivers  = "delivers"  // old → new: late messages, in order
	kindReply     = "reply"     // new → old: the answer to a forwarded call
	kindAbort     = "abort"     // old → new: give up, exit
	kindFailed    = "failed"    // either way: a step failed
)

type hello struct {
	PID int `json:"pid"` // the new process's OS PID
}

// inUse is one module version in use in the old process.
type inUse struct {
	Module  string `json:"module"`
	Version string `json:"version"`
	Codec   string `json:"codec"`
}

type prepare struct {
	Versions []inUse `json:"versions"`
}

// transfer is one wave: every tree at once, or one tree (Options.Waves).
type transfer struct {
	Trees []*supervisor.Tree `json:"trees"`
	Procs []actor.Exported   `json:"procs"`
	More  bool               `json:"more,omitempty"` // another wave follows
}

// moved is one process as the new process rebuilt it.
type moved struct {
	Old  actor.PID `json:"old"`
	New  actor.PID `json:"new"`
	To   string    `json:"to"` // the version it runs now
	Path string    `json:"path,omitempty"`
}

type ready struct {
	Moved []moved `json:"moved"`
}

type timer struct {
	To   actor.PID            `json:"to"` // new PID
	Left time.Duration        `json:"left"`
	Msg  actor.EncodedMessage `json:"msg"`
	// Version is the version whose codec encoded Msg.
	Module  string `json:"module"`
	Version string `json:"version"`
}

type timers struct {
	Timers []timer `json:"timers"`
}

// deliver is a message that reached the old process after the transfer:
// to a process by its new PID, or by name.
type deliver struct {
	To      actor.PID            `json:"to,omitempty"`
	Name    string               `json:"name,omitempty"`
	Module  string               `json:"module"`
	Version string               `json:"version"`
	Msg     actor.EncodedMessage `json:"msg"`
	Call    uint64               `json:"call,omitempty"` // non-zero: answer with a reply
}

type delivers struct {
	Msgs []deliver `json:"msgs"`
}

type reply struct {
	Call    uint64                `json:"call"`
	Module  string                `json:"module"`
	Version string                `json:"version"`
	Value   *actor.EncodedMessage `json:"value,omitempty"`
	Err     string                `json:"err,omitempty"`
}

// failure is a step that failed, as it crosses the channel.
type failure struct {
	Step string `json:"step"`
	Err  string `json:"err"`
}

func (f failure) err() error {
	return &StepError{Step: f.Step, Err: errors.New(f.Err), Remote: true}
}
