package handoff

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
)

// Target says where the next build is: its executable and that file's
// SHA-256 (hex), from the build pipeline.
type Target struct {
	Path, Checksum string
}

// OnSIGHUP makes SIGHUP trigger a handoff (opt-in, for systemd's
// ExecReload habits): on each signal, next tells where the new build is
// (read, say, from a file the deployment writes), Upgrade runs, and done
// gets its report and error. A panic in next or done is recovered and
// logged. stop ends the subscription and waits for a handoff under way.
func (n *Node) OnSIGHUP(next func() (Target, error), done func(*Report, error)) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
			}
			var t Target
			if err := recovered(func() error {
				var err error
				t, err = next()
				return err
			}); err != nil {
				n.log.Error("handoff: SIGHUP: no target", zap.Error(err))
				n.report(done, nil, err)
				continue
			}
			rep, err := n.Upgrade(ctx, t.Path, t.Checksum)
			n.report(done, rep, err)
		}
	}()
	return func() {
		signal.Stop(sig)
		cancel()
		<-finished
	}
}

func (n *Node) report(done func(*Report, error), rep *Report, err error) {
	if done == nil {
		return
	}
	if perr := recovered(func() error { done(rep, err); return nil }); perr != nil {
		n.log.Error("handoff: SIGHUP callback panicked", zap.Error(perr))
	}
}
