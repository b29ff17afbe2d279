package actor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/graftrt/graft/mailbox"
)

// This file holds what a handoff (package handoff: a new build of the
// service takes over a running one) needs of the runtime: suspend many
// processes at once and resume them untouched; read a suspended process's
// state and queue as bytes without changing it; after the commit, take
// its queue and end it; and, in the new build, spawn a process from such
// bytes on the version that built them, migrated along the lineage to the
// module's current version.

// Errors of exports and restores.
var (
	// ErrNotSuspended: Export needs a process that SuspendAll suspended.
	ErrNotSuspended = errors.New("actor: process is not suspended")
	// ErrUnknownType: a message or argument of a type its version does
	// not list in Types cannot cross.
	ErrUnknownType = errors.New("actor: type not declared by the version")
	// ErrHandedOver is the exit reason of a process Evict ended: it lives
	// on in another OS process. It is a shutdown: supervisors and links
	// treat it as one.
	ErrHandedOver = ShutdownReason{Detail: "handed over"}
)

// EncodedMessage is a message or argument in its version's codec, with the
// name of its type (TypeName).
type EncodedMessage struct {
	Type string `json:"type"`
	Data []byte `json:"data"`
}

// EncodeMessage encodes msg with v's codec; its type must be one v lists
// in Types, or a basic type. A panic in the codec is returned as an error.
func EncodeMessage(v *Version, msg any) (out EncodedMessage, err error) {
	if v.codec == nil {
		return out, fmt.Errorf("%w: %v", ErrNoCodec, v)
	}
	name := TypeName(reflect.TypeOf(msg))
	if _, ok := v.typeNamed(name); !ok {
		return out, fmt.Errorf("%w: %s does not list %s (%T) in its Types", ErrUnknownType, v, name, msg)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("actor: encode %s for %v: codec %s panicked: %w", name, v, v.codec.Name(), newPanicError(r))
		}
	}()
	data, err := v.codec.Encode(msg)
	if err != nil {
		return out, fmt.Errorf("actor: encode %s for %v: %w", name, v, SafeError(err))
	}
	return EncodedMessage{Type: name, Data: data}, nil
}

// DecodeMessage decodes m into a value of its type, which v must list in
// Types, strictly unless v is Lenient.
func DecodeMessage(v *Version, m EncodedMessage) (any, error) {
	if v.codec == nil {
		return nil, fmt.Errorf("%w: %v", ErrNoCodec, v)
	}
	t, ok := v.typeNamed(m.Type)
	if !ok {
		return nil, fmt.Errorf("%w: %s does not list %s in its Types", ErrUnknownType, v, m.Type)
	}
	ptr := reflect.New(t)
	e := EncodedValue{Codec: v.codec, Data: m.Data}
	var err error
	if v.lenient {
		err = e.Decode(ptr.Interface())
	} else {
		err = e.DecodeStrict(ptr.Interface())
	}
	if err != nil {
		return nil, fmt.Errorf("actor: decode %s for %v: %w", m.Type, v, err)
	}
	return ptr.Elem().Interface(), nil
}

// CheckExport checks, without touching any process, that every process
// of pids that is alive can be exported: its version declares a codec.
// The error names every module and version that does not.
func (s *System) CheckExport(pids []PID) error {
	missing := map[string]bool{}
	for _, pid := range pids {
		p := s.lookup(pid)
		if p == nil {
			continue
		}
		if c := p.ver.Load(); c != nil && c.v.codec == nil {
			missing[c.v.String()] = true
		}
	}
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	slices.Sort(names)
	return fmt.Errorf("%w: %s (set Funcs.Codec)", ErrNoCodec, strings.Join(names, ", "))
}

// SuspendAll suspends every process of pids (sys:suspend), all at once:
// each gets its request without waiting for the others, then SuspendAll
// waits for every answer. It is all or nothing: if a process is gone, is
// suspended already (by an upgrade, say) or ctx ends first, the processes
// it suspended are resumed and the error names the first failure.
func (s *System) SuspendAll(ctx context.Context, pids []PID) error {
	reqs := make([]*suspendReq, len(pids))
	var err error
	for i, pid := range pids {
		if s.isSelf(pid) {
			err = ErrCallSelf
			break
		}
		r := &suspendReq{suspend: true, exclusive: true, done: make(chan struct{})}
		p := s.lookup(pid)
		if p == nil || !p.signal(r) {
			err = fmt.Errorf("actor: suspend %v: %w", pid, &ExitError{PID: pid, Reason: NoProc})
			break
		}
		reqs[i] = r
	}
	var suspended []PID
	for i, r := range reqs {
		if r == nil {
			continue
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			if r.taken.CompareAndSwap(0, 2) {
				if err == nil {
					err = fmt.Errorf("actor: suspend %v: %w", pids[i], ctx.Err())
				}
				continue // withdrawn: never served
			}
			<-r.done // being served: its outcome stands
		}
		if r.err != nil {
			if err == nil {
				err = fmt.Errorf("actor: suspend %v: %w", pids[i], r.err)
			}
			continue
		}
		suspended = append(suspended, pids[i])
	}
	if err != nil {
		// Resumed under a context of its own: the caller's may be over.
		_ = s.ResumeAll(context.WithoutCancel(ctx), suspended)
		return err
	}
	return nil
}

// ResumeAll resumes every process of pids (sys:resume), all at once, and
// waits for every answer. A process that is gone is skipped. It fails only
// when ctx ends first.
func (s *System) ResumeAll(ctx context.Context, pids []PID) error {
	reqs := make([]*suspendReq, 0, len(pids))
	for _, pid := range pids {
		r := &suspendReq{done: make(chan struct{})}
		if p := s.lookup(pid); p != nil && p.signal(r) {
			reqs = append(reqs, r)
		}
	}
	for _, r := range reqs {
		select {
		case <-r.done:
		case <-ctx.Done():
			return fmt.Errorf("actor: resuming %d processes: %w", len(pids), ctx.Err())
		}
	}
	return nil
}

// Exported is what Export reads of a suspended process.
type Exported struct {
	PID      PID
	Name     string // registered name, "" if none
	Module   string
	Version  string // the version that built the state
	Parent   PID
	TrapExit bool
	Codec    string // the version's codec
	State    []byte // the state in the codec
	// Queued are the messages (not calls) queued, in order, encoded;
	// Covered is how many queued entries the export looked at (calls and
	// runtime notices included). After a commit, Evict returns the
	// queue: its first Covered entries are those.
	Queued  []EncodedMessage
	Covered int
	// Calls counts the calls among the covered entries: they stay with
	// their callers (a handoff forwards them after its commit).
	Calls int
	// Notices counts the ExitMsg and Down notices among them: links and
	// monitors do not cross.
	Notices int
	// Step is the step a Continue left pending, handled first.
	Step *EncodedMessage
}

// Export reads pid's state and queue as bytes, in its version's codec,
// without changing anything: the process must be suspended (SuspendAll)
// and stays so. It fails with ErrNoCodec for a version without a codec,
// with ErrUnknownType for a queued message its version does not list in
// Types, and with the codec's error (a panic in it included).
func (s *System) Export(ctx context.Context, pid PID) (Exported, error) {
	p := s.lookup(pid)
	if p == nil {
		return Exported{}, &ExitError{PID: pid, Reason: NoProc}
	}
	var out Exported
	var eerr error
	err := s.onOwner(ctx, p, func() { out, eerr = p.export() })
	if err == nil {
		err = eerr
	}
	if err != nil {
		return Exported{}, err
	}
	out.Name = s.nameOfPID(pid)
	return out, nil
}

// onOwner runs f on p's goroutine, between two messages (a suspended
// process runs it too), through the request Inspect uses.
func (s *System) onOwner(ctx context.Context, p *process, f func()) error {
	return s.request(ctx, p.pid(), &inspectReq{f: func(any) { f() }, done: make(chan struct{})})
}

// export runs on the owner.
func (p *process) export() (Exported, error) {
	v := p.cur().v
	if !p.mb.Suspended() {
		return Exported{}, fmt.Errorf("%w: %v", ErrNotSuspended, p.pid())
	}
	if v.codec == nil {
		return Exported{}, fmt.Errorf("%w: %v (set Funcs.Codec)", ErrNoCodec, v)
	}
	out := Exported{PID: p.pid(), Module: p.module().name, Version: v.name, Parent: p.parent(),
		TrapExit: p.is(bitTrapExit), Codec: v.codec.Name()}
	state, err := encodeState(v, v.plain(p.state))
	if err != nil {
		return Exported{}, err
	}
	out.State = state
	if p.continuing() {
		m, err := EncodeMessage(v, p.ext.Load().cont)
		if err != nil {
			return Exported{}, fmt.Errorf("pending Continue step: %w", err)
		}
		out.Step = &m
	}
	queued := p.mb.Queued()
	out.Covered = len(queued)
	for _, msg := range queued {
		switch msg.(type) {
		case *callEnv:
			out.Calls++
			continue
		case ExitMsg, Down:
			out.Notices++
			continue
		}
		m, err := EncodeMessage(v, msg)
		if err != nil {
			return Exported{}, fmt.Errorf("queued message of %v: %w", p.pid(), err)
		}
		out.Queued = append(out.Queued, m)
	}
	return out, nil
}

// encodeState encodes a plain state with v's codec, recovering a panic.
func encodeState(v *Version, plain any) (data []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("actor: encode the state of %v: codec %s panicked: %w", v, v.codec.Name(), newPanicError(r))
		}
	}()
	if e, ok := plain.(EncodedValue); ok && e.Codec != nil && e.Codec.Name() == v.codec.Name() {
		return e.Data, nil // still as it arrived
	}
	data, err = v.codec.Encode(plain)
	if err != nil {
		return nil, fmt.Errorf("actor: encode the state of %v: %w", v, SafeError(err))
	}
	return data, nil
}

// Letter is a message taken from a queue to be passed on: a message, or a
// call whose caller still waits for the answer through Reply.
type Letter struct {
	Msg   any
	Reply ReplyTo // valid for a call
}

// Evict ends pid once its state lives on elsewhere: on its goroutine, its
// mailbox closes (every later send is refused, as to any exited process)
// and it exits with ErrHandedOver without Terminate (it has not stopped:
// it moved). Its queued user messages are not dead letters: Evict returns
// them, in order, for the caller to pass on, calls with their callers
// still waiting (answer through Letter.Reply, or Undeliverable). Runtime
// notices (ExitMsg, Down) are dropped: links and monitors do not cross.
// Evict returns once the process has finished exiting (it is not Alive,
// its links and monitors have fired), or when ctx ends after the eviction
// (the letters are returned all the same).
func (s *System) Evict(ctx context.Context, pid PID) ([]Letter, error) {
	return s.EvictTo(ctx, pid, PID{})
}

// EvictTo is Evict that first moves pid's registered name, if it has one,
// to heir (a process without a name), in one step: a send by name finds
// one or the other, never neither. (A send that looked the name up just
// before the move and reaches pid's closed mailbox after it is refused,
// as to any exited process: its sender is told.)
func (s *System) EvictTo(ctx context.Context, pid, heir PID) ([]Letter, error) {
	p := s.lookup(pid)
	if p == nil {
		return nil, &ExitError{PID: pid, Reason: NoProc}
	}
	var h *process
	if !heir.IsZero() {
		if h = s.lookup(heir); h == nil {
			return nil, &ExitError{PID: heir, Reason: NoProc}
		}
	}
	var letters []Letter
	var nerr error
	r := s.evictReq(p, h, &letters, &nerr)
	err := s.request(ctx, pid, r)
	if err == nil {
		awaitExit(ctx, r)
		err = nerr
	}
	return letters, err
}

// evictReq is the request that moves p's name to heir h (if not nil) and
// evicts p, leaving its letters and the name's error for the caller.
func (s *System) evictReq(p, h *process, letters *[]Letter, nerr *error) *inspectReq {
	return &inspectReq{done: make(chan struct{}), exited: make(chan struct{}), f: func(any) {
		if h != nil {
			if *nerr = s.moveName(p, h); *nerr != nil {
				return
			}
		}
		*letters = p.evict()
	}}
}

// awaitExit waits until the process r evicted has finished exiting (its
// exit runs no user code: no Terminate), or ctx ends: when Evict returns,
// the process is not Alive and its links and monitors have fired.
func awaitExit(ctx context.Context, r *inspectReq) {
	select {
	case <-r.exited:
	case <-ctx.Done():
	}
}

// EvictAll is EvictTo for many processes at once: every request is sent
// without waiting for the others, then EvictAll waits for all. heirs is
// parallel to pids (a zero PID: no heir). letters[i] and errs[i] are
// pids[i]'s outcome; a process not served when ctx ends has errs[i] set
// (its request may still be served later).
func (s *System) EvictAll(ctx context.Context, pids, heirs []PID) (letters [][]Letter, errs []error) {
	letters, errs = make([][]Letter, len(pids)), make([]error, len(pids))
	type result struct {
		letters []Letter
		err     error
	}
	reqs := make([]*inspectReq, len(pids))
	results := make([]*result, len(pids)) // each written by its process, read after done
	for i, pid := range pids {
		p := s.lookup(pid)
		var h *process
		if i < len(heirs) && !heirs[i].IsZero() {
			if h = s.lookup(heirs[i]); h == nil {
				errs[i] = &ExitError{PID: heirs[i], Reason: NoProc}
				continue
			}
		}
		if p == nil || s.isSelf(pid) {
			errs[i] = &ExitError{PID: pid, Reason: NoProc}
			continue
		}
		res := &result{}
		r := s.evictReq(p, h, &res.letters, &res.err)
		if !p.signal(r) {
			errs[i] = &ExitError{PID: pid, Reason: NoProc}
			continue
		}
		reqs[i], results[i] = r, res
	}
	for i, r := range reqs {
		if r == nil {
			continue
		}
		select {
		case <-r.done:
			if r.err == nil {
				awaitExit(ctx, r)
			}
			letters[i], errs[i] = results[i].letters, r.err
			if errs[i] == nil {
				errs[i] = results[i].err
			}
		case <-ctx.Done():
			errs[i] = fmt.Errorf("actor: evict %v: %w", pids[i], ctx.Err())
		}
	}
	return letters, errs
}

// moveName gives p's registered name, if any, to heir.
func (s *System) moveName(p, heir *process) error {
	s.namesMu.Lock()
	defer s.namesMu.Unlock()
	name, ok := s.nameOf[p.pid()]
	if !ok {
		return nil
	}
	if old, has := s.nameOf[heir.pid()]; has {
		return fmt.Errorf("%w: %v is already registered as %q", ErrInvalidName, heir.pid(), old)
	}
	heir.setNamed()
	// As in register: an exit of heir that began meanwhile may have
	// missed the name; then the name stays where it was.
	if heir.isExiting() {
		return &ExitError{PID: heir.pid(), Reason: NoProc}
	}
	delete(s.nameOf, p.pid())
	s.names[name], s.nameOf[heir.pid()] = heir.pid(), name
	return nil
}

// evict runs on the owner.
func (p *process) evict() []Letter {
	system, user := p.mb.Close()
	for _, m := range system {
		p.refuseSignal(m, ErrHandedOver)
	}
	letters := make([]Letter, 0, len(user))
	for _, m := range user {
		switch m := m.(type) {
		case *callEnv:
			m.deferred.Store(true) // answered later: never recycled
			letters = append(letters, Letter{Msg: m.req, Reply: ReplyTo{c: m}})
		case ExitMsg:
			p.sys().undeliverableAll(m.From, m.Queued, m.Reason)
		case Down:
		default:
			letters = append(letters, Letter{Msg: m})
		}
	}
	p.stop(ErrHandedOver, false)
	return letters
}

// Restore is the state of a process exported by another system, from
// which Spawn builds the new process instead of calling Init (see
// WithRestore).
type Restore struct {
	// Version is the version that built State; the module must know it
	// (loaded or staged) and have a route of declared steps from it to
	// its current version.
	Version string
	Codec   string
	State   []byte
	// Queued are handled first, in order, before anything sent to the
	// new process; Step before them (a pending Continue).
	Queued   []EncodedMessage
	Step     *EncodedMessage
	TrapExit bool
}

// WithRestore makes Spawn build the process from r instead of calling
// Init: the state is decoded by the version that built it, migrated along
// the lineage to the module's current version (each step's CodeChange or
// Downgrade, as in an upgrade), and r's queued messages are queued ahead
// of everything else. A state that does not decode, a missing route or a
// failing migration makes Spawn fail, as an Init error would.
func WithRestore(r *Restore) SpawnOption {
	return spawnOptionFunc(func(o *spawnOptions) { o.restore = r })
}

// CheckRestore reports whether a process of module built by version can
// be restored here (WithRestore), without spawning anything: the module
// is loaded, the version is known and speaks the codec named, and a route
// of declared steps leads from it to the current version. The error names
// what is missing.
func (s *System) CheckRestore(module, version, codec string) error {
	from, cur, err := s.restoreCodes(module, version)
	if err != nil {
		return err
	}
	if from.v.codec == nil {
		return fmt.Errorf("%w: %v", ErrNoCodec, from.v)
	}
	if from.v.codec.Name() != codec {
		return fmt.Errorf("actor: %v declares codec %s here, the state is in %s", from.v, from.v.codec.Name(), codec)
	}
	_, err = cur.routeFrom(from)
	return err
}

// restoreCodes finds the code of module's version and its current release.
func (s *System) restoreCodes(module, version string) (*code, *release, error) {
	mod := s.moduleFor(module, false)
	var cur *release
	if mod != nil {
		cur = mod.current.Load()
	}
	if cur == nil {
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownModule, module)
	}
	mod.mu.Lock()
	defer mod.mu.Unlock()
	for v, c := range mod.loaded {
		if v.name == version {
			return c, cur, nil
		}
	}
	known := mod.versionsLocked()
	names := make([]string, len(known))
	for i, v := range known {
		names[i] = v.name
	}
	return nil, nil, fmt.Errorf("%w: %s@%s is not known here (known: %s); its state has no route to %s",
		ErrNoRoute, module, version, strings.Join(names, ", "), cur.code.v)
}

// restore builds the process's state from r, on the owner before the
// process is shared (in place of Init): decoded by r's version, migrated
// to the process's version (the current one, acquired by Spawn), its
// messages queued first.
func (p *process) restore(r *Restore) (state any, err error) {
	from, cur, err := p.sys().restoreCodes(p.module().name, r.Version)
	if err != nil {
		return nil, err
	}
	v := from.v
	if v.codec == nil || v.codec.Name() != r.Codec {
		return nil, fmt.Errorf("actor: restore %s: the state is in codec %q, %v declares %v", p.module().name, r.Codec, v, v.codec)
	}
	st, err := v.own(EncodedValue{Codec: v.codec, Data: r.State})
	if err != nil {
		return nil, err
	}
	if from != p.cur() {
		steps, err := cur.routeFrom(from)
		if err != nil {
			return nil, err
		}
		if cur.code != p.cur() { // the current version changed since Spawn took it
			return nil, fmt.Errorf("%w: %s", ErrChanged, p.module().name)
		}
		if st, err = migrate(v, p.cur().v, steps, st, cur.extra); err != nil {
			return nil, err
		}
	}
	msgs := make([]any, 0, len(r.Queued))
	for _, m := range r.Queued {
		msg, err := DecodeMessage(v, m)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, msg)
	}
	if r.Step != nil {
		step, err := DecodeMessage(v, *r.Step)
		if err != nil {
			return nil, err
		}
		p.x().cont = step
	}
	for _, msg := range msgs {
		if _, _, err := p.mb.PushUser(msg); err != nil {
			_, _ = p.mb.PushUserAlways(msg) // a bound does not refuse what was queued before
		}
	}
	p.set(bitTrapExit, r.TrapExit)
	if ce := p.sys().log.Check(zap.DebugLevel, "process restored"); ce != nil {
		ce.Write(zap.Stringer("pid", p.pid()), zap.String("module", p.module().name),
			zap.String("from", v.name), zap.String("to", p.cur().v.name), zap.Int("queued", len(msgs)))
	}
	return st, nil
}

// SpawnSettings are the spawn options that describe a process as data,
// so that it can be spawned again elsewhere with the same name, mailbox
// and flags: what DescribeSpawn reads from options and Options turns back
// into options.
type SpawnSettings struct {
	Name     string          `json:"name,omitempty"`
	Mailbox  mailbox.Options `json:"mailbox"`
	TrapExit bool            `json:"trap_exit,omitempty"`
	Handoff  bool            `json:"handoff,omitempty"`
}

// DescribeSpawn reads the settings opts make. Options that belong to one
// spawn only (WithBacklog, WithStartInfo, WithRestore) are not settings
// and are left out.
func DescribeSpawn(opts []SpawnOption) SpawnSettings {
	var o spawnOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applySpawn(&o)
		}
	}
	return SpawnSettings{Name: o.name, Mailbox: o.mailbox, TrapExit: o.trapExit, Handoff: o.handoff}
}

// Options returns spawn options that make these settings.
func (s SpawnSettings) Options() []SpawnOption {
	var out []SpawnOption
	if s.Name != "" {
		out = append(out, WithName(s.Name))
	}
	if s.Mailbox != (mailbox.Options{}) {
		out = append(out, WithMailbox(s.Mailbox.Capacity, s.Mailbox.Overflow))
	}
	if s.TrapExit {
		out = append(out, WithTrapExit())
	}
	if s.Handoff {
		out = append(out, WithHandoff())
	}
	return out
}
