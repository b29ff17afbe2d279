// Package metrics exposes a Graft system to Prometheus: one Collector per
// system, registered like any other (the admin package serves it at
// /metrics). Every series is read cheaply at scrape time or counted from
// the system's events; no scrape sends a message to a process. The
// series are listed in docs/operations.md.
package metrics

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// Collector is a prometheus.Collector of one system's series. New starts
// following the system's events; Close stops it.
type Collector struct {
	sys    *actor.System
	cancel func()

	handled, processes, queued, queuedMax *prometheus.Desc

	deadLetters       *prometheus.CounterVec
	restarts, giveUps prometheus.Counter
	upgrades          *prometheus.CounterVec
	pause, elapsed    prometheus.Histogram
	migrationFailures *prometheus.CounterVec
	pluginProcs       *prometheus.GaugeVec
	pluginStarts      *prometheus.CounterVec
	versionsLoaded    *prometheus.CounterVec
	versionsRetired   *prometheus.CounterVec
	abandoned         *prometheus.Desc
	processExits      *prometheus.CounterVec
	maxHandled        uint64 // guarded by mu: Taken may dip while a process exits
	mu                sync.Mutex
	events            []prometheus.Collector
}

// New returns the collector of sys. It follows the system's events from
// now on (SubscribeAsync: no process waits for it).
func New(sys *actor.System) *Collector {
	c := &Collector{sys: sys,
		handled: prometheus.NewDesc("graft_messages_handled_total",
			"User messages processes took from their mailboxes to handle.", nil, nil),
		processes: prometheus.NewDesc("graft_processes",
			"Live processes per module and the version that built their state.", []string{"module", "version"}, nil),
		queued: prometheus.NewDesc("graft_mailbox_queued_messages",
			"User messages waiting in mailboxes, per module.", []string{"module"}, nil),
		queuedMax: prometheus.NewDesc("graft_mailbox_queued_max",
			"The deepest mailbox of a module.", []string{"module"}, nil),
		abandoned: prometheus.NewDesc("graft_abandoned_goroutines",
			"Goroutines of abandoned processes still in user code.", nil, nil),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_dead_letters_total",
			Help: "Messages not delivered, by reason: noproc, mailbox_full, exit (queued when the process exited), other."}, []string{"reason"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "graft_supervisor_restarts_total",
			Help: "Children restarted by their supervisors."}),
		giveUps: prometheus.NewCounter(prometheus.CounterOpts{Name: "graft_supervisor_give_ups_total",
			Help: "Supervisors that reached their restart intensity and gave up."}),
		processExits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_process_exits_total",
			Help: "Processes that exited, by module and kind of reason: normal, shutdown, killed, error."}, []string{"module", "reason"}),
		upgrades: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_upgrades_total",
			Help: "Upgrade plans that ended, by mode (atomic, lazy, rolling, dry_run) and outcome."}, []string{"mode", "outcome"}),
		pause: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "graft_upgrade_max_pause_seconds",
			Help: "Per upgrade, the longest time a process was suspended.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}),
		elapsed: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "graft_upgrade_duration_seconds",
			Help: "Per upgrade, the time from plan to outcome.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
		migrationFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_migration_failures_total",
			Help: "State migrations that failed (on pickup or in an upgrade), by module."}, []string{"module"}),
		versionsLoaded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_versions_loaded_total",
			Help: "Versions made current, by module."}, []string{"module"}),
		versionsRetired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_versions_retired_total",
			Help: "Versions retired (no longer current, last activation ended), by module."}, []string{"module"}),
		pluginProcs: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "graft_plugin_processes",
			Help: "Plugin processes running, by module and version."}, []string{"module", "version"}),
		pluginStarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_plugin_starts_total",
			Help: "Plugin processes started (restarts included), by module and version."}, []string{"module", "version"}),
	}
	c.events = []prometheus.Collector{c.deadLetters, c.restarts, c.giveUps, c.processExits, c.upgrades, c.pause,
		c.elapsed, c.migrationFailures, c.versionsLoaded, c.versionsRetired, c.pluginProcs, c.pluginStarts}
	c.cancel = sys.SubscribeAsync(c.observe)
	return c
}

// Close stops following the system's events.
func (c *Collector) Close() { c.cancel() }

func (c *Collector) observe(ev actor.Event) {
	switch e := ev.(type) {
	case actor.DeadLetter:
		c.deadLetters.WithLabelValues(deadLetterReason(e.Reason)).Inc()
	case actor.ProcessExited:
		c.processExits.WithLabelValues(e.Module, exitKind(e.Reason)).Inc()
	case actor.MigrationFailed:
		c.migrationFailures.WithLabelValues(e.Module).Inc()
	case actor.VersionLoaded:
		c.versionsLoaded.WithLabelValues(e.Module).Inc()
	case actor.VersionRetired:
		c.versionsRetired.WithLabelValues(e.Module).Inc()
	case supervisor.ChildStarted:
		if e.Restart {
			c.restarts.Inc()
		}
	case supervisor.MaxIntensityReached:
		c.giveUps.Inc()
	case upgrade.ProcessFailed:
		c.migrationFailures.WithLabelValues(e.Module).Inc()
	case upgrade.UpgradeFinished:
		mode := e.Mode.String()
		if e.DryRun {
			mode = "dry_run"
		}
		c.upgrades.WithLabelValues(mode, e.Outcome.String()).Inc()
		if !e.DryRun && e.Outcome != upgrade.Refused {
			c.pause.Observe(e.MaxPause.Seconds())
		}
		c.elapsed.Observe(e.Elapsed.Seconds())
	case upgrade.LoaderProcessStarted:
		c.pluginProcs.WithLabelValues(e.Module, e.Version).Inc()
		c.pluginStarts.WithLabelValues(e.Module, e.Version).Inc()
	case upgrade.LoaderProcessStopped:
		c.pluginProcs.WithLabelValues(e.Module, e.Version).Dec()
	}
}

func deadLetterReason(err error) string {
	switch {
	case errors.Is(err, actor.NoProc):
		return "noproc"
	case errors.Is(err, actor.ErrMailboxFull):
		return "mailbox_full"
	case err != nil:
		return "exit"
	}
	return "other"
}

func exitKind(err error) string {
	switch {
	case err == nil || errors.Is(err, actor.Normal):
		return "normal"
	case errors.Is(err, actor.Shutdown):
		return "shutdown"
	case errors.Is(err, actor.Killed):
		return "killed"
	}
	return "error"
}

// Describe sends the descriptions of every series.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.handled
	ch <- c.processes
	ch <- c.queued
	ch <- c.queuedMax
	ch <- c.abandoned
	for _, e := range c.events {
		e.Describe(ch)
	}
}

// Collect reads the system (Snapshot: no message to any process) and the
// counted events.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	c.maxHandled = max(c.maxHandled, c.sys.Taken())
	handled := c.maxHandled
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.handled, prometheus.CounterValue, float64(handled))
	type key struct{ module, version string }
	procs := map[key]int{}
	queued, deepest := map[string]int{}, map[string]int{}
	for _, st := range c.sys.Snapshot() {
		procs[key{st.Module, st.Version}]++
		queued[st.Module] += st.Queued
		deepest[st.Module] = max(deepest[st.Module], st.Queued)
	}
	for k, n := range procs {
		ch <- prometheus.MustNewConstMetric(c.processes, prometheus.GaugeValue, float64(n), k.module, k.version)
	}
	for m, n := range queued {
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(n), m)
		ch <- prometheus.MustNewConstMetric(c.queuedMax, prometheus.GaugeValue, float64(deepest[m]), m)
	}
	ch <- prometheus.MustNewConstMetric(c.abandoned, prometheus.GaugeValue, float64(c.sys.Abandoned()))
	for _, e := range c.events {
		e.Collect(ch)
	}
}
