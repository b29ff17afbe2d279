package upgrade_test

import (
	"context"
	"testing"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade"
)

// BenchmarkExecute10k measures one plan over 10,000 idle processes, without
// load (bench/ measures the same under load, against its goals): what the
// engine itself costs per plan, in time and memory.
func BenchmarkExecute10k(b *testing.B) {
	for _, mode := range []upgrade.Mode{upgrade.Atomic, upgrade.Lazy} {
		b.Run(mode.String(), func(b *testing.B) {
			sys := actor.NewSystem()
			defer sys.Shutdown(context.Background())
			vs := chain("m", 2)
			if err := sys.Load(vs[0]); err != nil {
				b.Fatal(err)
			}
			pids := make([]actor.PID, 10_000)
			for i := range pids {
				pids[i], _ = sys.Spawn("m", nil)
			}
			tree := upgrade.Processes(sys, pids...)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				to := vs[(i+1)%2]
				p := upgrade.Plan{Mode: mode, Changes: []upgrade.Change{{Module: "m", To: to}}}
				if mode == upgrade.Lazy {
					p.Timeout = time.Nanosecond // the commit, then no wait: nobody is sent a message
				}
				rep, err := upgrade.Execute(context.Background(), sys, p, tree)
				if err != nil || (rep.Outcome != upgrade.Committed && rep.Outcome != upgrade.Unconverged && rep.Outcome != upgrade.Converged) {
					b.Fatal(rep.Outcome, err)
				}
			}
		})
	}
}
