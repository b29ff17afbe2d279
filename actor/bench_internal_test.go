package actor

import (
	"context"
	"sync"
	"testing"
)

// BenchmarkPickup measures the receive loop with and without per-message
// version pickup: one sender, one process, small messages. The difference
// per message is what picking up the current version costs.
func BenchmarkPickup(b *testing.B) {
	b.Run("pickup", func(b *testing.B) { benchFanIn(b) })
	b.Run("no-pickup", func(b *testing.B) { benchFanIn(b, withoutPickup()) })
}

func benchFanIn(b *testing.B, opts ...Option) {
	sys := NewSystem(opts...)
	defer func() { _ = sys.Shutdown(context.Background()) }()
	var wg sync.WaitGroup
	v := Define("sink", "v1", Funcs[int]{
		Handle: func(_ *Context, n int, msg any) (int, error) {
			if msg == nil {
				wg.Done()
			}
			return n + 1, nil
		},
	})
	if err := sys.Load(v); err != nil {
		b.Fatal(err)
	}
	pid, err := sys.Spawn("sink", nil)
	if err != nil {
		b.Fatal(err)
	}
	p := sys.lookup(pid)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := p.deliver(i & 0xff); err != nil {
			b.Fatal(err)
		}
	}
	wg.Add(1)
	_ = p.deliver(nil) // the handler marks the end
	wg.Wait()
}

// BenchmarkSend measures System.Send, lookup included.
func BenchmarkSend(b *testing.B) {
	sys := NewSystem()
	defer func() { _ = sys.Shutdown(context.Background()) }()
	var wg sync.WaitGroup
	v := Define("sink", "v1", Funcs[int]{
		Handle: func(_ *Context, n int, msg any) (int, error) {
			if msg == "end" {
				wg.Done()
			}
			return n + 1, nil
		},
	})
	if err := sys.Load(v); err != nil {
		b.Fatal(err)
	}
	pid, _ := sys.Spawn("sink", nil)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := sys.Send(pid, i&0xff); err != nil {
			b.Fatal(err)
		}
	}
	wg.Add(1)
	_ = sys.Send(pid, "end")
	wg.Wait()
}

// BenchmarkCall measures a sequential Call round trip.
// BenchmarkCall measures a Call round trip, with the system's default
// timeout armed on every call (a context without a deadline) and without
// it (WithCallTimeout(0)): the difference is what the timer costs.
func BenchmarkCall(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{{"default-timeout", nil}, {"no-timeout", []Option{WithCallTimeout(0)}}} {
		b.Run(tc.name, func(b *testing.B) {
			sys := NewSystem(tc.opts...)
			defer func() { _ = sys.Shutdown(context.Background()) }()
			v := Define("echo", "v1", Funcs[int]{
				Handle: func(ctx *Context, n int, msg any) (int, error) {
					ctx.Reply(msg)
					return n, nil
				},
			})
			if err := sys.Load(v); err != nil {
				b.Fatal(err)
			}
			pid, _ := sys.Spawn("echo", nil)
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := sys.Call(ctx, pid, i&0xff); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
