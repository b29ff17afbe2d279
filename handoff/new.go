package handoff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
)

// Receive takes over from the process that started this one (see
// Inherited): it answers the old process's prepare (every version in use
// there must have a route to this build's current version), rebuilds the
// trees from the transfer, migrating each state, runs the health gate
// (every process alive, then Options.Check), and waits for the commit.
// Each step waits for the old process at most Options.StepTimeout. It
// returns once this process owns the trees (Trees returns them) and
// should serve; late messages from the old process keep arriving through
// the node until the channel closes. An error means the handoff did not
// happen: the old process runs on, and this process should exit (its
// rebuilt trees are stopped already).
func (n *Node) Receive(ctx context.Context) error {
	fd, err := strconv.Atoi(os.Getenv(EnvChannel))
	if err != nil || fd < 3 {
		return ErrNotInherited
	}
	f := os.NewFile(uintptr(fd), "handoff")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return &StepError{Step: StepStart, Err: err}
	}
	return n.receive(ctx, &channel{rw: conn})
}

// receive runs the new process's side of the sequence over ch.
func (n *Node) receive(ctx context.Context, ch *channel) (err error) {
	begin := time.Now()
	sys := n.sys
	var trees []*supervisor.Handle
	fail := func(step string, cause error) error {
		se := &StepError{Step: step, Err: cause}
		var remote *StepError
		if errors.As(cause, &remote) {
			se = remote
		} else if errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) {
			se.Err = fmt.Errorf("%w (the old process closed the channel)", ErrAborted)
		} else {
			_ = ch.send(kindFailed, failure{Step: step, Err: cause.Error()})
		}
		n.stopTrees(trees)
		ch.close()
		n.event(begin, se.Step, "failed", se)
		return se
	}
	if err := ch.send(kindHello, hello{PID: os.Getpid()}); err != nil {
		return fail(StepStart, err)
	}

	n.event(begin, StepPrepare, "begin", nil)
	var prep prepare
	if err := n.within(ch, n.opts.StepTimeout, func() error { return ch.expect(kindPrepare, &prep) }); err != nil {
		return fail(StepPrepare, err)
	}
	var errs []error
	for _, u := range prep.Versions {
		if err := sys.CheckRestore(u.Module, u.Version, u.Codec); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fail(StepPrepare, err)
	}
	if err := ch.send(kindPrepared, nil); err != nil {
		return fail(StepPrepare, err)
	}

	// The waves (one, unless the old process sends its trees one at a
	// time), each rebuilt as it arrives.
	var rd ready
	for i := 0; ; i++ {
		var tr transfer
		if err := n.within(ch, n.opts.StepTimeout, func() error { return ch.expect(kindTransfer, &tr) }); err != nil {
			return fail(StepTransfer, err)
		}
		if i == 0 {
			n.event(begin, StepRebuild, "begin", nil)
		}
		m, hs, err := rebuild(ctx, sys, tr)
		trees = append(trees, hs...)
		if err != nil {
			return fail(StepRebuild, err)
		}
		rd.Moved = append(rd.Moved, m...)
		if !tr.More {
			break
		}
	}

	n.event(begin, StepHealth, "begin", nil)
	for _, m := range rd.Moved {
		if !sys.Alive(m.New) {
			return fail(StepHealth, fmt.Errorf("%v (was %v) exited after its rebuild", m.New, m.Old))
		}
	}
	if n.opts.Check != nil {
		cctx, cancel := context.WithTimeout(ctx, n.opts.StepTimeout)
		err := recovered(func() error { return n.opts.Check(cctx) })
		cancel()
		if err != nil {
			return fail(StepHealth, fmt.Errorf("check: %w", err))
		}
	}
	if err := ch.send(kindReady, rd); err != nil {
		return fail(StepHealth, err)
	}

	n.event(begin, StepCommit, "begin", nil)
	var e envelope
	err = n.within(ch, n.opts.StepTimeout, func() error {
		var rerr error
		e, rerr = ch.recv()
		return rerr
	})
	switch {
	case err != nil:
		return fail(StepCommit, err)
	case e.Kind == kindAbort:
		return fail(StepCommit, ErrAborted)
	case e.Kind != kindCommit:
		return fail(StepCommit, fmt.Errorf("%w: got %q, want %q", ErrProtocol, e.Kind, kindCommit))
	}
	if err := ch.send(kindCommitted, nil); err != nil {
		return fail(StepCommit, err)
	}
	// No return from here: this process owns the trees.
	n.SetTrees(trees...)
	n.mu.Lock()
	n.link = ch
	n.mu.Unlock()
	n.event(begin, StepCommit, "done", nil)

	n.event(begin, StepForward, "begin", nil)
	var ts timers
	if err := ch.expect(kindTimers, &ts); err == nil {
		for _, t := range ts.Timers {
			n.armTimer(t)
		}
	} else {
		n.log.Error("handoff: timers not received", zap.Error(err))
	}
	// What reaches the old process from now on comes as deliver frames;
	// this process serves once the old one has let go (serve), or has
	// gone.
	served := make(chan struct{})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.deliverLoop(ch, served)
		n.event(begin, StepForward, "closed", nil) // the old process has gone
	}()
	select {
	case <-served:
	case <-ctx.Done():
	}
	n.event(begin, StepForward, "done", nil)
	return nil
}

// rebuild restores a wave's trees, each process from its exported state
// and queue; the trees it started are returned even with an error, to be
// stopped.
func rebuild(ctx context.Context, sys *actor.System, tr transfer) ([]moved, []*supervisor.Handle, error) {
	exports := make(map[actor.PID]*actor.Exported, len(tr.Procs))
	for i := range tr.Procs {
		exports[tr.Procs[i].PID] = &tr.Procs[i]
	}
	restorer := func(old actor.PID) *actor.Restore {
		ex := exports[old]
		if ex == nil {
			return nil
		}
		return &actor.Restore{Version: ex.Version, Codec: ex.Codec, State: ex.State, Queued: ex.Queued,
			Step: ex.Step, TrapExit: ex.TrapExit}
	}
	var out []moved
	var trees []*supervisor.Handle
	for _, t := range tr.Trees {
		h, mapped, err := restoreTree(ctx, sys, t, restorer)
		if err != nil {
			return out, trees, err
		}
		trees = append(trees, h)
		for old, pid := range mapped {
			if exports[old] == nil {
				continue // a supervisor
			}
			to := ""
			if pv, ok := sys.VersionOf(pid); ok {
				to = pv.Version
			}
			out = append(out, moved{Old: old, New: pid, To: to})
		}
	}
	return out, trees, nil
}

// restoreTree is supervisor.RestoreTree, with a panic in user code (a
// codec, a migration) turned into an error.
func restoreTree(ctx context.Context, sys *actor.System, t *supervisor.Tree, r supervisor.Restorer) (h *supervisor.Handle, m map[actor.PID]actor.PID, err error) {
	err = recovered(func() error {
		var e error
		h, m, e = supervisor.RestoreTree(ctx, sys, t, r)
		return e
	})
	return h, m, err
}

// stopTrees stops trees rebuilt for a handoff that did not happen.
func (n *Node) stopTrees(trees []*supervisor.Handle) {
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.StepTimeout)
	defer cancel()
	for _, t := range trees {
		_ = n.sys.StopWith(ctx, t.PID(), actor.Shutdown)
	}
}

func (n *Node) armTimer(t timer) {
	v, err := versionOf(n.sys, t.Module, t.Version)
	var msg any
	if err == nil {
		msg, err = actor.DecodeMessage(v, t.Msg)
	}
	if err != nil {
		n.log.Error("handoff: a SendAfter timer does not decode", zap.Stringer("to", t.To), zap.Error(err))
		return
	}
	n.sys.SendAfter(t.To, t.Left, msg)
}

// deliverLoop passes late messages on until the channel closes; served is
// closed at the old process's serve, or when it has gone.
func (n *Node) deliverLoop(ch *channel, served chan struct{}) {
	defer ch.close()
	once := func() {
		select {
		case <-served:
		default:
			close(served)
		}
	}
	defer once()
	for {
		e, err := ch.recv()
		if err != nil {
			return
		}
		switch e.Kind {
		case kindServe:
			once()
		case kindDeliver:
			var d deliver
			if err := json.Unmarshal(e.Body, &d); err != nil {
				n.log.Error("handoff: bad deliver frame", zap.Error(err))
				continue
			}
			n.deliver(ch, d)
		case kindDelivers:
			var ds delivers
			if err := json.Unmarshal(e.Body, &ds); err != nil {
				n.log.Error("handoff: bad deliver frame", zap.Error(err))
				continue
			}
			for _, d := range ds.Msgs {
				n.deliver(ch, d)
			}
		}
	}
}

// deliver passes one late message on: by PID or by name, a call through
// a Call whose answer goes back.
func (n *Node) deliver(ch *channel, d deliver) {
	v, err := versionOf(n.sys, d.Module, d.Version)
	var msg any
	if err == nil {
		msg, err = actor.DecodeMessage(v, d.Msg)
	}
	to := d.To
	if err == nil && d.Name != "" {
		pid, ok := n.sys.Whereis(d.Name)
		if !ok {
			err = fmt.Errorf("%w: %q", actor.ErrUnknownName, d.Name)
		}
		to = pid
	}
	if d.Call == 0 {
		if err == nil {
			err = n.sys.Send(to, msg)
		}
		if err != nil {
			n.log.Warn("handoff: a late message was not delivered", zap.Stringer("to", to), zap.String("name", d.Name), zap.Error(err))
			if msg != nil {
				n.sys.Undeliverable(to, msg, err)
			}
		}
		return
	}
	if err != nil {
		_ = ch.send(kindReply, reply{Call: d.Call, Err: err.Error()})
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		r := reply{Call: d.Call}
		val, err := n.sys.Call(context.Background(), to, msg)
		if err == nil && val != nil {
			pv, ok := n.sys.VersionOf(to)
			var cur *actor.Version
			if ok {
				cur, err = versionOf(n.sys, pv.Module, pv.Version)
			}
			if err == nil && cur != nil {
				var m actor.EncodedMessage
				if m, err = actor.EncodeMessage(cur, val); err == nil {
					r.Value = &m
				}
			}
		}
		if err != nil {
			r.Err = err.Error()
		}
		_ = ch.send(kindReply, r)
	}()
}
