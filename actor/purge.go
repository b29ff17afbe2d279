package actor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
)

// PurgePolicy says what LoadAll does when it would leave more than two
// versions of a module in use (OTP keeps at most two: current and old).
// Processes prepared to leave their version at the commit (see Prepare)
// do not count.
type PurgePolicy uint8

const (
	// RefuseIfInUse (the default) fails the Load with ErrNotPurged while a
	// version other than the current one and the one being loaded still
	// holds activations, as OTP's code:load_file refuses with not_purged.
	RefuseIfInUse PurgePolicy = iota
	// PurgeFirst kills the processes still holding such versions (a
	// brutal purge, OTP's code:purge/1) and then loads.
	PurgeFirst
)

// DefaultPurgeTimeout bounds a purge that sets no deadline.
const DefaultPurgeTimeout = 5 * time.Second

// ErrNotPurged is returned by Load under RefuseIfInUse.
var ErrNotPurged = errors.New("actor: an older version is still in use (not purged)")

// WithPurge sets the purge policy of a Load.
func WithPurge(p PurgePolicy) LoadOption {
	return loadOptionFunc(func(o *loadOptions) { o.purge = p })
}

// holdsReq asks a process whether it holds an activation of code, and,
// with kill, to exit with Killed if it does (brutal purge).
type holdsReq struct {
	code  *code
	kill  bool
	holds chan<- PID // gets the PID if the process holds code
	done  chan<- struct{}
}

func (p *process) onHolds(r holdsReq) {
	if p.cur() == r.code && p.is(bitActive) {
		r.holds <- p.pid()
		if r.kill {
			p.stop(Killed, false)
		}
	}
	r.done <- struct{}{}
}

// holders asks every process of the module whether it holds c; with kill
// they exit. It returns the holders' PIDs, sorted.
func (s *System) holders(ctx context.Context, c *code, kill bool) ([]PID, error) {
	var ps []*process
	s.procs.each(func(p *process) {
		if p.module() == c.mod {
			ps = append(ps, p)
		}
	})
	holds := make(chan PID, len(ps))
	done := make(chan struct{}, len(ps))
	asked := 0
	for _, p := range ps {
		if p.signal(holdsReq{code: c, kill: kill, holds: holds, done: done}) {
			asked++
		}
	}
	// A process that exits before answering answers from its exit (see
	// refuseSignal), so every ask is answered.
	for range asked {
		select {
		case <-done:
		case <-ctx.Done():
			return nil, fmt.Errorf("actor: purge of %v: %w", c.v, ctx.Err())
		}
	}
	close(holds)
	var out []PID
	for pid := range holds {
		out = append(out, pid)
	}
	slices.SortFunc(out, func(a, b PID) int { return cmp.Compare(a.id, b.id) })
	return out, nil
}

// StragglersError is returned by Purge when activations outlive the
// deadline: the processes still running the version.
type StragglersError struct {
	Module, Version string
	PIDs            []PID
	Err             error
}

func (e *StragglersError) Error() string {
	return fmt.Sprintf("actor: %s@%s still in use by %d processes %v: %v", e.Module, e.Version, len(e.PIDs), e.PIDs, e.Err)
}
func (e *StragglersError) Unwrap() error { return e.Err }

// Purge retires a version that is not current. Soft (brutal false), it
// waits until the last activation has ended, on the system clock's
// deadline `within`; if some outlive it, it fails with a
// *StragglersError listing their PIDs (OTP's soft_purge reports instead of
// killing). Brutal, it kills the processes still holding the version and
// waits for them. Purging the current version or an unknown one fails.
func (s *System) Purge(ctx context.Context, v *Version, brutal bool, within time.Duration) error {
	mod := s.moduleFor(v.module, false)
	var c *code
	if mod != nil {
		mod.mu.Lock()
		c = mod.loaded[v]
		cur := mod.current.Load()
		mod.mu.Unlock()
		if c != nil && cur != nil && cur.code == c {
			return fmt.Errorf("actor: purge %v: it is the current version", v)
		}
	}
	if c == nil {
		return fmt.Errorf("%w: %v", ErrNotStaged, v)
	}
	if c.retired.Load() || c.active.Load() == 0 {
		s.maybeRetire(c)
		return nil
	}
	if brutal {
		pids, err := s.holders(ctx, c, true)
		if err != nil {
			return err
		}
		s.log.Warn("brutal purge", zap.String("module", c.mod.name), zap.String("version", c.v.name), zap.Int("killed", len(pids)))
	}
	// Wait for the count to reach zero: retirement closes c's channel.
	if within <= 0 {
		within = DefaultPurgeTimeout
	}
	timer := s.clock.NewTimer(within)
	defer timer.Stop()
	retired := s.retiredCh(c)
	select {
	case <-retired:
		return nil
	case <-timer.C():
	case <-ctx.Done():
	}
	pids, err := s.holders(context.WithoutCancel(ctx), c, false)
	if err == nil && len(pids) == 0 {
		return nil // retired just now
	}
	return &StragglersError{Module: c.mod.name, Version: c.v.name, PIDs: pids, Err: errors.New("purge deadline passed")}
}

// retiredCh returns a channel closed when c retires (at once if it has).
func (s *System) retiredCh(c *code) <-chan struct{} {
	ch := make(chan struct{})
	c.mod.mu.Lock()
	defer c.mod.mu.Unlock()
	if c.retired.Load() {
		close(ch)
		return ch
	}
	c.waiters = append(c.waiters, ch)
	return ch
}
