package actortest

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/graftrt/graft/actor"
)

// System is an actor.System bound to a test: it logs through the test, runs
// on a FakeClock, and is shut down and leak-checked when the test ends.
type System struct {
	*actor.System
	Clock *FakeClock
	t     testing.TB
}

// Option configures NewSystem.
type Option interface{ apply(*config) }

type config struct {
	opts           []actor.Option
	goroutineCheck bool
	level          zap.AtomicLevel
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithSystemOptions passes options to actor.NewSystem (after the test
// kit's own logger and clock, so they can be overridden).
func WithSystemOptions(opts ...actor.Option) Option {
	return optionFunc(func(c *config) { c.opts = append(c.opts, opts...) })
}

// WithoutGoroutineCheck turns off the check that no goroutine started
// during the test outlives it; use it in tests that run in parallel, where
// other tests' goroutines would be counted.
func WithoutGoroutineCheck() Option {
	return optionFunc(func(c *config) { c.goroutineCheck = false })
}

// WithLogLevel sets the level logged to the test's output (default Info;
// crashes are logged at Error).
func WithLogLevel(l zap.AtomicLevel) Option {
	return optionFunc(func(c *config) { c.level = l })
}

// NewSystem returns a System for t. At cleanup it shuts the system down
// (failing the test if that takes more than 10 s), checks that no process
// is left, and, unless WithoutGoroutineCheck, that no goroutine started
// since NewSystem is still running.
func NewSystem(t testing.TB, opts ...Option) *System {
	t.Helper()
	c := config{goroutineCheck: true, level: zap.NewAtomicLevelAt(zap.InfoLevel)}
	for _, o := range opts {
		o.apply(&c)
	}
	var ignore goleak.Option
	if c.goroutineCheck {
		ignore = goleak.IgnoreCurrent()
	}
	clock := NewFakeClock()
	all := append([]actor.Option{
		actor.WithLogger(zaptest.NewLogger(t, zaptest.Level(c.level))),
		actor.WithClock(clock),
	}, c.opts...)
	s := &System{System: actor.NewSystem(all...), Clock: clock, t: t}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("actortest: shutdown: %v", err)
		}
		if n := s.ProcessCount(); n != 0 {
			t.Errorf("actortest: %d processes left after shutdown", n)
		}
		if c.goroutineCheck {
			if err := goleak.Find(ignore); err != nil {
				t.Errorf("actortest: goroutines left after shutdown: %v", err)
			}
		}
	})
	return s
}
