package handoff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
)

// Upgrade hands the node over to the executable at path, whose SHA-256
// must be checksum: it starts it with the node's listening sockets and a
// channel, and runs the sequence (see the package documentation). It
// returns the report; an error is a *StepError naming the step that
// failed, after which the old process runs on exactly as before (every
// process resumed with its original state and queue). After a commit the
// node forwards what still reaches it, drains its HTTP servers and closes
// Done.
func (n *Node) Upgrade(ctx context.Context, path, checksum string) (*Report, error) {
	return n.UpgradeServed(ctx, path, checksum, nil)
}

// UpgradeServed is Upgrade, and after a commit calls served with the
// report once the new process serves, before the old process drains its
// HTTP servers (Total is the time so far): a request that triggered the
// handoff in the old process answers there, while its server still
// serves. The drain waits for served to return.
func (n *Node) UpgradeServed(ctx context.Context, path, checksum string, served func(*Report)) (*Report, error) {
	begin := time.Now()
	n.mu.Lock()
	switch {
	case n.over:
		n.mu.Unlock()
		return nil, ErrHandedOver
	case n.busy:
		n.mu.Unlock()
		return nil, ErrBusy
	}
	n.busy = true
	n.served = served
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.busy = false
		n.served = nil
		n.mu.Unlock()
	}()
	rep := &Report{}
	if len(n.Trees()) == 0 {
		return rep, &StepError{Step: StepPrepare, Err: ErrNoTrees}
	}
	fail := func(step string, err error) (*Report, error) {
		var se *StepError
		if !errors.As(err, &se) {
			se = &StepError{Step: step, Err: err}
		}
		rep.Outcome, rep.Step, rep.Err, rep.Total = Refused, se.Step, se.Err.Error(), time.Since(begin)
		n.event(begin, se.Step, "failed", se)
		return rep, se
	}
	// A version without a codec is refused before a process is started.
	if _, workers, err := n.treeProcs(ctx, n.Trees()); err != nil {
		return fail(StepPrepare, err)
	} else if err := n.sys.CheckExport(workers); err != nil {
		return fail(StepPrepare, err)
	}
	n.event(begin, StepVerify, "begin", nil)
	if err := verify(path, checksum); err != nil {
		return fail(StepVerify, err)
	}
	n.event(begin, StepStart, "begin", nil)
	c, err := n.start(path)
	if err != nil {
		return fail(StepStart, err)
	}
	rep.NewPID = c.cmd.Process.Pid
	return n.run(ctx, begin, &channel{rw: c.conn}, rep, c.kill, func(err error) error { return n.exitedErr(c, err) })
}

// run waits for the new process's hello on ch, then hands over.
func (n *Node) run(ctx context.Context, begin time.Time, ch *channel, rep *Report, kill func(), explain func(error) error) (*Report, error) {
	var h hello
	if err := n.within(ch, n.opts.StartTimeout, func() error { return ch.expect(kindHello, &h) }); err != nil {
		kill()
		se := &StepError{Step: StepStart, Err: explain(err)}
		rep.Outcome, rep.Step, rep.Err, rep.Total = Refused, se.Step, se.Err.Error(), time.Since(begin)
		n.event(begin, StepStart, "failed", se)
		return rep, se
	}
	return n.handOver(ctx, begin, ch, rep, kill, explain)
}

// exitedErr explains a channel error by the new process's exit, if it
// exited.
func (n *Node) exitedErr(c *child, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		select {
		case <-c.exited:
			return fmt.Errorf("the new process exited: %v", c.err)
		case <-time.After(n.opts.StartTimeout):
		}
	}
	return err
}

// within runs f (a read or a write on ch) with a deadline on the channel.
func (n *Node) within(ch *channel, d time.Duration, f func() error) error {
	type deadliner interface{ SetDeadline(time.Time) error }
	if dl, ok := ch.rw.(deadliner); ok {
		_ = dl.SetDeadline(time.Now().Add(d))
		defer dl.SetDeadline(time.Time{})
	}
	return f()
}

// handOver runs the sequence from prepare on, over ch; kill ends the new
// process on an abort, explain turns a channel error into what happened.
func (n *Node) handOver(ctx context.Context, begin time.Time, ch *channel, rep *Report, kill func(), explain func(error) error) (*Report, error) {
	sys := n.sys
	trees := n.Trees()
	abort := func(step string, err error, suspended []actor.PID) (*Report, error) {
		var se *StepError
		if !errors.As(err, &se) {
			se = &StepError{Step: step, Err: explain(err)}
		}
		rep.Outcome, rep.Step, rep.Err = Refused, se.Step, se.Err.Error()
		if len(suspended) > 0 {
			rep.Outcome = Aborted
		}
		// Tell a live new process to give up (bounded: it may be gone, or
		// hung with its end of the channel full), then end it anyway.
		_ = n.within(ch, time.Second, func() error { return ch.send(kindAbort, nil) })
		kill()
		// Resumed however the caller's context stands: the old process
		// must run on.
		_ = sys.ResumeAll(context.WithoutCancel(ctx), suspended)
		for i := range rep.Processes {
			rep.Processes[i].Result = "resumed"
		}
		rep.Total, rep.Bytes = time.Since(begin), ch.written+ch.read
		n.event(begin, se.Step, "failed", se)
		return rep, se
	}
	if len(trees) == 0 {
		return abort(StepPrepare, ErrNoTrees, nil)
	}

	// Prepare: nothing is suspended until both sides agree.
	n.event(begin, StepPrepare, "begin", nil)
	_, workers, err := n.treeProcs(ctx, trees)
	if err != nil {
		return abort(StepPrepare, err, nil)
	}
	if err := sys.CheckExport(workers); err != nil {
		return abort(StepPrepare, err, nil)
	}
	var prep prepare
	seen := map[inUse]bool{}
	for _, pid := range workers {
		pv, ok := sys.VersionOf(pid)
		if !ok {
			continue
		}
		v, err := versionOf(sys, pv.Module, pv.Version)
		if err != nil {
			return abort(StepPrepare, err, nil)
		}
		u := inUse{Module: pv.Module, Version: pv.Version, Codec: v.Codec().Name()}
		if !seen[u] {
			seen[u] = true
			prep.Versions = append(prep.Versions, u)
		}
	}
	if err := n.within(ch, n.opts.StepTimeout, func() error {
		if err := ch.send(kindPrepare, prep); err != nil {
			return err
		}
		return ch.expect(kindPrepared, nil)
	}); err != nil {
		return abort(StepPrepare, err, nil)
	}

	// Suspend and transfer: all at once, or tree by tree (Waves); what
	// is suspended stays so until the commit or the abort.
	pauseFrom := time.Now()
	suspended := []actor.PID{}
	waves := [][]*supervisor.Handle{trees}
	if n.opts.Waves {
		waves = waves[:0]
		for _, t := range trees {
			waves = append(waves, []*supervisor.Handle{t})
		}
	}
	var tr transfer
	workers = nil
	for i, wave := range waves {
		part, w, err := n.suspendAndExport(ctx, begin, wave, &suspended)
		if err != nil {
			return abort(part.step, err, suspended)
		}
		part.More = i < len(waves)-1
		if err := n.within(ch, n.opts.StepTimeout, func() error { return ch.send(kindTransfer, part.transfer) }); err != nil {
			return abort(StepTransfer, err, suspended)
		}
		workers = append(workers, w...)
		tr.Trees = append(tr.Trees, part.Trees...)
		tr.Procs = append(tr.Procs, part.Procs...)
	}
	paths := map[actor.PID]string{}
	for _, t := range tr.Trees {
		treePaths(t, paths)
	}
	for _, ex := range tr.Procs {
		rep.Processes = append(rep.Processes, ProcessReport{Path: paths[ex.PID], Name: ex.Name, Module: ex.Module,
			OldPID: ex.PID, From: ex.Version, StateBytes: len(ex.State), Queued: len(ex.Queued)})
	}

	// Rebuild and health, in the new process.
	n.event(begin, StepRebuild, "begin", nil)
	var rd ready
	if err := n.within(ch, n.opts.StepTimeout, func() error { return ch.expect(kindReady, &rd) }); err != nil {
		return abort(StepRebuild, err, suspended)
	}
	newPID := map[actor.PID]moved{}
	for _, m := range rd.Moved {
		newPID[m.Old] = m
	}
	for _, ex := range tr.Procs {
		if _, ok := newPID[ex.PID]; !ok {
			return abort(StepRebuild, fmt.Errorf("%v (%s) was not rebuilt", ex.PID, paths[ex.PID]), suspended)
		}
	}

	// Commit: once the new process has answered, there is no return.
	n.event(begin, StepCommit, "begin", nil)
	if err := n.within(ch, n.opts.StepTimeout, func() error {
		if err := ch.send(kindCommit, nil); err != nil {
			return err
		}
		return ch.expect(kindCommitted, nil)
	}); err != nil {
		return abort(StepCommit, err, suspended)
	}
	rep.Outcome = Committed
	rep.Bytes = ch.written + ch.read
	for i := range rep.Processes {
		m := newPID[rep.Processes[i].OldPID]
		rep.Processes[i].NewPID, rep.Processes[i].To, rep.Processes[i].Result = m.New, m.To, "moved"
	}
	n.mu.Lock()
	n.over, n.link = true, ch
	n.mu.Unlock()
	if err := notifyMainPID(rep.NewPID); err != nil {
		n.log.Warn("handoff: the new process could not be named the main one", zap.Error(err))
	}
	n.event(begin, StepCommit, "done", nil)

	// Forward: timers, then each process's queue; then the new process
	// serves.
	n.event(begin, StepForward, "begin", nil)
	exports := map[actor.PID]actor.Exported{}
	for _, ex := range tr.Procs {
		exports[ex.PID] = ex
	}
	rep.Timers = n.sendTimers(workers, newPID, exports)
	n.wg.Add(1)
	go n.readReplies(ch)
	// Past the point of no return the caller's context no longer stops
	// anything: each request to a process is bounded by StepTimeout.
	rep.Forwarded = n.evictAll(context.WithoutCancel(ctx), suspended, exports, newPID)
	_ = ch.send(kindServe, nil)
	rep.Pause = time.Since(pauseFrom)
	n.event(begin, StepForward, "done", nil)
	n.mu.Lock()
	served := n.served
	n.mu.Unlock()
	if served != nil {
		r := *rep
		r.Total = time.Since(begin)
		r.Processes = slices.Clone(rep.Processes)
		if err := recovered(func() error { served(&r); return nil }); err != nil {
			n.log.Error("handoff: the served callback panicked", zap.Error(err))
		}
	}

	// Drain the HTTP servers, then Done.
	n.event(begin, StepDrain, "begin", nil)
	n.drain()
	rep.Total = time.Since(begin)
	n.event(begin, StepDrain, "done", nil)
	close(n.done)
	return rep, nil
}

// wavePart is one wave's transfer, or the step that failed.
type wavePart struct {
	transfer
	step string
}

// suspendAndExport suspends every process of trees (a child started
// meanwhile too), adding them to suspended, and exports the trees and
// their workers' states and queues, without sending them.
func (n *Node) suspendAndExport(ctx context.Context, begin time.Time, trees []*supervisor.Handle, suspended *[]actor.PID) (part wavePart, workers []actor.PID, err error) {
	n.event(begin, StepSuspend, "begin", nil)
	part.step = StepSuspend
	pids, workers, err := n.treeProcs(ctx, trees)
	if err != nil {
		return part, nil, err
	}
	for round := 0; len(pids) > 0; round++ {
		if round == 4 {
			return part, nil, errors.New("the trees kept changing while being suspended")
		}
		if err := n.sys.SuspendAll(ctx, pids); err != nil {
			return part, nil, err
		}
		*suspended = append(*suspended, pids...)
		all, w, err := n.treeProcs(ctx, trees)
		if err != nil {
			return part, nil, err
		}
		pids = slices.DeleteFunc(all, func(p actor.PID) bool { return slices.Contains(*suspended, p) })
		workers = w
	}

	n.event(begin, StepTransfer, "begin", nil)
	part.step = StepTransfer
	for _, t := range trees {
		tree, err := supervisor.ExportTree(ctx, n.sys, t)
		if err != nil {
			return part, nil, err
		}
		part.Trees = append(part.Trees, tree)
	}
	if part.Procs, err = n.exportAll(ctx, workers); err != nil {
		return part, nil, err
	}
	// Also every pending SendAfter timer's message must cross: checked
	// now, taken after the commit.
	if err := n.checkTimers(workers); err != nil {
		return part, nil, err
	}
	return part, workers, nil
}

// treeProcs lists the trees' processes, and those of them that are
// workers (not supervisors).
func (n *Node) treeProcs(ctx context.Context, trees []*supervisor.Handle) (all, workers []actor.PID, err error) {
	for _, t := range trees {
		pids, err := supervisor.TreePIDs(ctx, n.sys, t)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, pids...)
	}
	for _, pid := range all {
		if pv, ok := n.sys.VersionOf(pid); ok && pv.Module != supervisor.ModuleName {
			workers = append(workers, pid)
		}
	}
	return all, workers, nil
}

// exportAll exports the workers, a few at a time.
func (n *Node) exportAll(ctx context.Context, workers []actor.PID) ([]actor.Exported, error) {
	out := make([]actor.Exported, len(workers))
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, pid := range workers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = n.sys.Export(ctx, pid)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func treePaths(t *supervisor.Tree, out map[actor.PID]string) {
	out[t.PID] = t.Path
	for _, c := range t.Children {
		if c.Sub != nil {
			treePaths(c.Sub, out)
		} else if !c.PID.IsZero() {
			out[c.PID] = c.Path
		}
	}
}

// versionOf finds a module's version by name.
func versionOf(sys *actor.System, module, version string) (*actor.Version, error) {
	m, ok := sys.Module(module)
	if !ok {
		return nil, fmt.Errorf("%w: %q", actor.ErrUnknownModule, module)
	}
	for _, v := range m.Versions {
		if v.Name() == version {
			return v, nil
		}
	}
	return nil, fmt.Errorf("%w: %s@%s is not known here", actor.ErrNoRoute, module, version)
}

// checkTimers checks that every pending timer's message can cross.
func (n *Node) checkTimers(workers []actor.PID) error {
	for _, t := range n.sys.PendingTimers(workers) {
		pv, ok := n.sys.VersionOf(t.To)
		if !ok {
			continue
		}
		v, err := versionOf(n.sys, pv.Module, pv.Version)
		if err == nil {
			_, err = actor.EncodeMessage(v, t.Msg)
		}
		if err != nil {
			return fmt.Errorf("SendAfter timer for %v: %w", t.To, err)
		}
	}
	return nil
}

// sendTimers takes the workers' timers and sends them over.
func (n *Node) sendTimers(workers []actor.PID, newPID map[actor.PID]moved, exports map[actor.PID]actor.Exported) int {
	var ts timers
	for _, t := range n.sys.TakeTimers(workers) {
		ex := exports[t.To]
		v, err := versionOf(n.sys, ex.Module, ex.Version)
		var m actor.EncodedMessage
		if err == nil {
			m, err = actor.EncodeMessage(v, t.Msg)
		}
		if err != nil { // checked before the commit; a Reset since may have changed nothing
			n.sys.Undeliverable(t.To, t.Msg, err)
			continue
		}
		ts.Timers = append(ts.Timers, timer{To: newPID[t.To].New, Left: t.Left, Msg: m, Module: ex.Module, Version: ex.Version})
	}
	if err := n.link.send(kindTimers, ts); err != nil {
		n.log.Error("handoff: timers not sent", zap.Error(err))
	}
	return len(ts.Timers)
}

// evictAll ends the old processes, workers first, all at once, and
// forwards what they held that did not cross with the transfer; every
// worker's name moves to a forwarder, which runs once every queue has
// gone over (so what a sender sent before reaches the new process
// first). Then the supervisors.
func (n *Node) evictAll(ctx context.Context, suspended []actor.PID, exports map[actor.PID]actor.Exported, newPID map[actor.PID]moved) int {
	ctx, cancel := context.WithTimeout(ctx, n.opts.StepTimeout)
	defer cancel()
	var workers, sups []actor.PID
	for _, pid := range suspended {
		if _, ok := exports[pid]; ok {
			workers = append(workers, pid)
		} else {
			sups = append(sups, pid)
		}
	}
	versions := make([]*actor.Version, len(workers))
	verrs := make([]error, len(workers))
	heirs := make([]actor.PID, len(workers))
	var fwds []actor.PID
	ferr := n.loadForwarder()
	for i, pid := range workers {
		ex := exports[pid]
		versions[i], verrs[i] = versionOf(n.sys, ex.Module, ex.Version)
		if ex.Name == "" || verrs[i] != nil || ferr != nil {
			continue
		}
		heir, err := n.spawnForwarder(ex.Name, versions[i])
		if err != nil {
			ferr = err
			continue
		}
		heirs[i] = heir
		fwds = append(fwds, heir)
	}
	if ferr == nil {
		ferr = n.sys.SuspendAll(ctx, fwds)
	}
	if ferr != nil { // names are then refused in the old process (the senders are told)
		n.log.Error("handoff: forwarders", zap.Error(ferr))
		for i, h := range heirs {
			if !h.IsZero() {
				_ = n.sys.Kill(h)
				heirs[i] = actor.PID{}
			}
		}
		fwds = nil
	}
	all, errs := n.sys.EvictAll(ctx, workers, heirs)
	forwarded := 0
	var batch []deliver
	var batchLetters []actor.Letter
	flush := func() {
		if len(batch) > 0 {
			n.forwardBatch(batch, batchLetters)
			batch, batchLetters = nil, nil
		}
	}
	for i, pid := range workers {
		if errs[i] != nil {
			if !heirs[i].IsZero() {
				_ = n.sys.Kill(heirs[i])
			}
			n.log.Warn("handoff: evict", zap.Stringer("pid", pid), zap.Error(errs[i]))
			continue
		}
		ex := exports[pid]
		for j, l := range all[i] {
			if j < ex.Covered && !l.Reply.Valid() {
				continue // crossed with the transfer
			}
			if verrs[i] != nil {
				n.refuse(pid, l, verrs[i])
				continue
			}
			d, ok := n.prepareDeliver(deliver{To: newPID[pid].New}, versions[i], l)
			if !ok {
				continue
			}
			batch, batchLetters = append(batch, d), append(batchLetters, l)
			forwarded++
			if len(batch) == deliverBatch {
				flush()
			}
		}
	}
	flush()
	_ = n.sys.ResumeAll(ctx, fwds)
	letters, errs := n.sys.EvictAll(ctx, sups, nil)
	for i, pid := range sups {
		if errs[i] != nil {
			n.log.Warn("handoff: evict", zap.Stringer("pid", pid), zap.Error(errs[i]))
			continue
		}
		for _, l := range letters[i] { // a supervisor's requests: its successor has other PIDs
			if l.Reply.Valid() {
				l.Reply.Error(ErrHandedOver)
			}
		}
	}
	return forwarded
}

// deliverBatch bounds the late messages sent in one frame.
const deliverBatch = 1024

// prepareDeliver encodes a letter for the new process, registering a
// call for its answer; false if it cannot go (reported).
func (n *Node) prepareDeliver(d deliver, v *actor.Version, l actor.Letter) (deliver, bool) {
	m, err := actor.EncodeMessage(v, l.Msg)
	if err != nil {
		n.refuse(d.To, l, err)
		return d, false
	}
	d.Module, d.Version, d.Msg = v.Module(), v.Name(), m
	if l.Reply.Valid() {
		n.mu.Lock()
		n.nextCall++
		d.Call = n.nextCall
		n.calls[d.Call] = pendingCall{reply: l.Reply, v: v}
		n.mu.Unlock()
	}
	return d, true
}

// forward sends one letter to the new process; a call's answer comes back
// through readReplies.
func (n *Node) forward(d deliver, v *actor.Version, l actor.Letter) {
	d, ok := n.prepareDeliver(d, v, l)
	if !ok {
		return
	}
	n.mu.Lock()
	ch := n.link
	n.mu.Unlock()
	if err := ch.send(kindDeliver, d); err != nil {
		n.unsent([]deliver{d}, []actor.Letter{l}, err)
	}
}

// forwardBatch sends letters prepared with prepareDeliver in one frame.
func (n *Node) forwardBatch(ds []deliver, ls []actor.Letter) {
	n.mu.Lock()
	ch := n.link
	n.mu.Unlock()
	if err := ch.send(kindDelivers, delivers{Msgs: ds}); err != nil {
		n.unsent(ds, ls, err)
	}
}

// unsent reports letters whose frame could not be sent.
func (n *Node) unsent(ds []deliver, ls []actor.Letter, err error) {
	for i, d := range ds {
		if d.Call != 0 {
			n.mu.Lock()
			delete(n.calls, d.Call)
			n.mu.Unlock()
		}
		n.refuse(d.To, ls[i], err)
	}
}

// refuse reports a letter that cannot be passed on.
func (n *Node) refuse(to actor.PID, l actor.Letter, err error) {
	if l.Reply.Valid() {
		l.Reply.Error(fmt.Errorf("handoff: forwarding a call: %w", err))
		return
	}
	n.sys.Undeliverable(to, l.Msg, err)
}

// readReplies reads answers to forwarded calls until the channel closes;
// calls still waiting then get an error.
func (n *Node) readReplies(ch *channel) {
	defer n.wg.Done()
	for {
		e, err := ch.recv()
		if err != nil {
			break
		}
		if e.Kind != kindReply {
			continue
		}
		var r reply
		if jerr := json.Unmarshal(e.Body, &r); jerr != nil {
			continue
		}
		n.mu.Lock()
		pc, ok := n.calls[r.Call]
		delete(n.calls, r.Call)
		n.mu.Unlock()
		switch {
		case !ok:
		case r.Err != "":
			pc.reply.Error(errors.New(r.Err))
		case r.Value == nil:
			pc.reply.Reply(nil)
		default:
			v, err := actor.DecodeMessage(pc.v, *r.Value)
			if err != nil {
				pc.reply.Error(err)
			} else {
				pc.reply.Reply(v)
			}
		}
	}
	n.mu.Lock()
	calls := n.calls
	n.calls = map[uint64]pendingCall{}
	n.mu.Unlock()
	for _, pc := range calls {
		pc.reply.Error(fmt.Errorf("%w: the new process closed the channel", ErrHandedOver))
	}
}

// drain lets the old process's HTTP servers finish what they accepted,
// bounded by DrainTimeout: keep-alives off (idle connections close), the
// node's listeners closed (the new process accepts on the same sockets),
// then a wait until every connection they accepted is closed, then
// Shutdown for what is left. http.Server.Shutdown alone is not enough: a
// connection accepted just before it whose request is read after it began
// is closed without an answer (net/http drops requests read during a
// shutdown), which its client sees as a failed request.
func (n *Node) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.DrainTimeout)
	defer cancel()
	for _, srv := range n.opts.Servers {
		srv.SetKeepAlivesEnabled(false)
	}
	n.mu.Lock()
	ls := n.listeners
	n.listeners = nil
	n.mu.Unlock()
	for _, l := range ls {
		_ = l.ln.Close()
	}
	if err := n.conns.wait(ctx); err != nil {
		n.log.Warn("handoff: HTTP connections left at the end of the drain", zap.Error(err))
	}
	var wg sync.WaitGroup
	for _, srv := range n.opts.Servers {
		wg.Add(1)
		go func(srv *http.Server) {
			defer wg.Done()
			// The listeners are closed already: Shutdown closing them
			// again is no failure (it says so when a Serve loop has not
			// returned yet). Only a drain cut short closes what is left.
			if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
				n.log.Warn("handoff: HTTP server drain", zap.Error(err))
				_ = srv.Close()
			}
		}(srv)
	}
	wg.Wait()
}
