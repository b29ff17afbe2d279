package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/bench/internal/w6"
	"github.com/graftrt/graft/upgrade"
	"github.com/graftrt/graft/upgrade/plugin"
	"github.com/graftrt/graft/upgrade/plugin/codec"
)

// W6: throughput and latency through one plugin-backed actor, Graft only
// (the peers have no out-of-process versions). One process runs module "w6"
// v1, served by the plugin executable cmd/w6plugin in its own OS process
// (go-plugin, gRPC, JSON codec). Every message carries 64 bytes of payload
// (see package w6). One goroutine sends, either as fast as Send returns or
// paced at a fixed rate, then calls OpStats; mailboxes are FIFO, so when
// the reply comes every message sent before it has been handled. The
// plugin answers with its own count and the latency percentiles it
// measured, per message, from the host's send to its handler.
//
// The host sends a process's queued messages to the plugin in batches of up
// to the loader's MaxBatch, one gRPC call per batch: batching is what W6
// measures, against one call per message (MaxBatch 1).
const (
	// PluginMessages are sent as fast as possible with the default
	// MaxBatch (256); PluginUnbatchedMessages with MaxBatch 1, fewer
	// because each one is a gRPC round trip.
	PluginMessages          = 200_000
	PluginUnbatchedMessages = 20_000
	// PluginPacedRate msg/s for PluginPacedFor, below saturation, for the
	// latency of a plugin that keeps up.
	PluginPacedRate = 25_000
	PluginPacedFor  = 2 * time.Second
	// pluginTick is the paced sender's period: each tick, it catches up
	// with the rate (25 messages per tick at 25k msg/s).
	pluginTick = time.Millisecond
)

// PluginConfig is one W6 run. Either Messages are sent as fast as Send
// returns, or, if Rate is set, Rate msg/s for For.
type PluginConfig struct {
	// Ref is the cmd/w6plugin executable, as module w6.Module at
	// w6.Version.
	Ref upgrade.Ref
	// MaxBatch is the loader's WithMaxBatch; 0 leaves its default (256).
	MaxBatch int
	Messages int
	Rate     float64
	For      time.Duration
}

// PluginRun is what one W6 run measured.
type PluginRun struct {
	// Sent is the number of data messages sent; Stats what the plugin
	// answered once they were all handled.
	Sent  int
	Stats w6.Stats
	// Elapsed runs from the first send to the reply to OpStats.
	Elapsed time.Duration
}

// Throughput is messages handled per second over Elapsed.
func (r PluginRun) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Stats.Handled) / r.Elapsed.Seconds()
}

// graftPlugin runs W6 once on a fresh system: load the plugin (starting its
// process), spawn one process on it, send, ask for the stats, and shut the
// system down, which stops the plugin process. Only sending up to the stats
// reply is timed. A message lost (Handled != Sent) fails the run.
func graftPlugin(cfg PluginConfig) (r PluginRun, err error) {
	sys := actor.NewSystem()
	defer func() { err = errors.Join(err, shutdownGraft(sys)) }()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	var opts []plugin.Option
	if cfg.MaxBatch > 0 {
		opts = append(opts, plugin.WithMaxBatch(cfg.MaxBatch))
	}
	v, err := plugin.NewLoader(opts...).Load(ctx, sys, cfg.Ref)
	if err != nil {
		return r, fmt.Errorf("w6: load plugin: %w", err)
	}
	if err := sys.Load(v); err != nil {
		return r, fmt.Errorf("w6: make %v current: %w", v, err)
	}
	pid, err := sys.Spawn(w6.Module, nil)
	if err != nil {
		return r, fmt.Errorf("w6: spawn: %w", err)
	}
	// One untimed round trip first, so that the run starts with the gRPC
	// connection in use and the plugin's handler path exercised.
	if _, err := pluginStats(ctx, sys, pid); err != nil {
		return r, fmt.Errorf("w6: warm-up: %w", err)
	}

	send := func() error {
		return sys.Send(pid, w6.Msg{Sent: time.Now().UnixNano(), Pad: w6.Pad})
	}
	var run Run
	run.Begin()
	if cfg.Rate > 0 {
		r.Sent, err = sendPaced(send, cfg.Rate, cfg.For)
	} else {
		for r.Sent < cfg.Messages {
			if err = send(); err != nil {
				break
			}
			r.Sent++
		}
	}
	if err != nil {
		return r, fmt.Errorf("w6: send %d: %w", r.Sent, err)
	}
	// The deadline is the context's (waitLimit), not the system's default
	// call timeout of 5 s: at saturation the call waits behind every
	// message still queued, which can take seconds.
	r.Stats, err = pluginStats(ctx, sys, pid)
	run.End()
	r.Elapsed = run.Elapsed
	if err != nil {
		return r, fmt.Errorf("w6: stats: %w", err)
	}
	if r.Stats.Handled != int64(r.Sent) {
		return r, fmt.Errorf("w6: sent %d messages, the plugin handled %d", r.Sent, r.Stats.Handled)
	}
	return r, nil
}

// pluginStats calls OpStats. A plugin's reply reaches the caller encoded,
// as a codec.Raw.
func pluginStats(ctx context.Context, sys *actor.System, pid actor.PID) (w6.Stats, error) {
	reply, err := sys.Call(ctx, pid, w6.Msg{Op: w6.OpStats})
	if err != nil {
		return w6.Stats{}, err
	}
	raw, ok := reply.(codec.Raw)
	if !ok {
		return w6.Stats{}, fmt.Errorf("reply is a %T, want a codec.Raw", reply)
	}
	return codec.Decode[w6.Stats](raw)
}

// sendPaced sends rate messages per second for d, rate·d in all, and
// returns how many it sent. On each tick it sends what is due since it
// started, so a late tick is caught up with rather than lost and the
// average rate holds whatever the ticker's jitter.
func sendPaced(send func() error, rate float64, d time.Duration) (int, error) {
	total := int(rate * d.Seconds())
	tick := time.NewTicker(pluginTick)
	defer tick.Stop()
	start, n := time.Now(), 0
	for n < total {
		<-tick.C
		due := min(total, int(rate*time.Since(start).Seconds()))
		for ; n < due; n++ {
			if err := send(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}
