package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/graftrt/graft/upgrade"
)

// U1–U3 (see upgrade.go): one fresh system per b.N iteration; run them
// with -benchtime=1x and -count=N like the other workloads. The metrics
// are the mean over the iterations of each run's figure:
//
//	total-ms      the Upgrade call, from call to return
//	commit-ms     from the call to the UpgradeCommitted event (U1, U3)
//	elapsed-ms    Report.Elapsed (U3: until every actor has migrated)
//	pause-p50-ms  median of Report.Processes[i].Pause
//	pause-max-ms  Report.MaxPause
//	dip           msg/s handled during the call ÷ msg/s just before it
//	lost          messages sent − messages handled (must be 0)
//
// Under -short they run 1,000 actors at 10k msg/s.

func BenchmarkU1(b *testing.B) {
	benchUpgrade(b, UpgradeConfig{Mode: upgrade.Atomic}, upgrade.Committed)
}

func BenchmarkU2(b *testing.B) {
	benchUpgrade(b, UpgradeConfig{Mode: upgrade.Atomic, Fail: true}, upgrade.RolledBack)
}

func BenchmarkU3(b *testing.B) {
	benchUpgrade(b, UpgradeConfig{Mode: upgrade.Lazy}, upgrade.Converged)
}

// UpgradeStragglers is how many actors U1s and U3s leave idle on v1.
const UpgradeStragglers = 2_000

func BenchmarkU1s(b *testing.B) {
	benchUpgrade(b, UpgradeConfig{Mode: upgrade.Atomic, Stragglers: UpgradeStragglers}, upgrade.Committed)
}

func BenchmarkU3s(b *testing.B) {
	benchUpgrade(b, UpgradeConfig{Mode: upgrade.Lazy, Stragglers: UpgradeStragglers}, upgrade.Converged)
}

func benchUpgrade(b *testing.B, cfg UpgradeConfig, want upgrade.Outcome) {
	cfg.Actors, cfg.Senders, cfg.Rate = UpgradeActors, UpgradeSenders, UpgradeRate
	if testing.Short() {
		cfg.Actors, cfg.Rate = 1_000, 10_000
		cfg.Stragglers /= 10
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var total, commit, elapsed, p50, pmax, dip, lost float64
	for range b.N {
		r, err := graftUpgrade(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := checkUpgradeRun(&r, cfg, want); err != "" {
			b.Fatal(err)
		}
		total += ms(r.Total)
		commit += ms(r.Commit)
		elapsed += ms(r.Report.Elapsed)
		p50 += ms(r.PausePercentile(50))
		pmax += ms(r.Report.MaxPause)
		dip += r.Dip()
		lost += float64(r.Lost())
	}
	n := float64(b.N)
	b.ReportMetric(total/n, "total-ms")
	if want != upgrade.RolledBack {
		b.ReportMetric(commit/n, "commit-ms")
	}
	b.ReportMetric(elapsed/n, "elapsed-ms")
	b.ReportMetric(p50/n, "pause-p50-ms")
	b.ReportMetric(pmax/n, "pause-max-ms")
	b.ReportMetric(dip/n, "dip")
	b.ReportMetric(lost/n, "lost")
}

// checkUpgradeRun returns what is wrong with a run, or "".
func checkUpgradeRun(r *UpgradeRun, cfg UpgradeConfig, want upgrade.Outcome) string {
	rep := r.Report
	switch {
	case rep.Outcome != want:
		return "outcome " + rep.Outcome.String() + ", want " + want.String() + errSuffix(r.Err)
	case len(rep.Processes) != cfg.Actors:
		return "report lists the wrong number of processes"
	case r.Lost() != 0:
		return "messages lost or duplicated"
	case r.Sent == 0 || r.RateBefore == 0:
		return "no load"
	}
	failed := rep.Failed()
	if cfg.Fail {
		if len(failed) != 1 || r.Err == nil || r.Commit != 0 {
			return "want exactly one failed migration, an error and no commit"
		}
	} else {
		if len(failed) != 0 || r.Err != nil || r.Commit <= 0 {
			return "want no failed migration, no error and a commit" + errSuffix(r.Err)
		}
	}
	if cfg.Mode == upgrade.Lazy && cfg.Stragglers == 0 && rep.MaxPause != 0 {
		return "a lazy upgrade paused a process"
	}
	if n := rep.Count(upgrade.Migrated); cfg.Stragglers > 0 && n != cfg.Actors {
		return fmt.Sprintf("%d of %d actors migrated", n, cfg.Actors)
	}
	return ""
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// TestUpgradeWorkloads runs U1–U3 at a small size, so that a plain `go
// test` checks that each completes with the outcome it should and loses
// nothing.
func TestUpgradeWorkloads(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  UpgradeConfig
		want upgrade.Outcome
	}{
		{"U1", UpgradeConfig{Mode: upgrade.Atomic}, upgrade.Committed},
		{"U2", UpgradeConfig{Mode: upgrade.Atomic, Fail: true}, upgrade.RolledBack},
		{"U3", UpgradeConfig{Mode: upgrade.Lazy}, upgrade.Converged},
		{"U1s", UpgradeConfig{Mode: upgrade.Atomic, Stragglers: 50}, upgrade.Committed},
		{"U3s", UpgradeConfig{Mode: upgrade.Lazy, Stragglers: 50}, upgrade.Converged},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Actors, cfg.Senders, cfg.Rate, cfg.Warmup, cfg.Baseline = 200, 2, 20_000, 500, 500
			r, err := graftUpgrade(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("total %v, commit %v, elapsed %v, pause p50 %v max %v, dip %.2f, sent %d, handled %d",
				r.Total, r.Commit, r.Report.Elapsed, r.PausePercentile(50), r.Report.MaxPause, r.Dip(), r.Sent, r.Handled)
			if msg := checkUpgradeRun(&r, cfg, c.want); msg != "" {
				t.Fatal(msg)
			}
			if c.cfg.Fail && r.Report.Failed()[0].Err == nil {
				t.Fatal("the failed migration carries no error")
			}
		})
	}
}

func TestPausePercentile(t *testing.T) {
	r := UpgradeRun{Pauses: []time.Duration{1, 2, 3, 4}}
	for p, want := range map[float64]time.Duration{0: 1, 25: 1, 50: 2, 51: 3, 100: 4} {
		if got := r.PausePercentile(p); got != want {
			t.Errorf("PausePercentile(%v) = %v, want %v", p, got, want)
		}
	}
	if got := (&UpgradeRun{}).PausePercentile(50); got != 0 {
		t.Errorf("no pauses: %v, want 0", got)
	}
}
