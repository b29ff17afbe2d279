package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/admin/client"
)

func newEventsCmd(a *app) *cobra.Command {
	var (
		follow bool
		id     string
	)
	cmd := &cobra.Command{
		Use:   "events [--follow] [--upgrade ID]",
		Short: "Show the steps of upgrades, or follow the node's event stream live",
		Long: `Without --follow, print the recorded steps of the upgrades started through the
API (of one with --upgrade ID), oldest first.

With --follow, print the node's events as they happen (supervisors' children
started and stopped, upgrade steps, process by process) until interrupted;
with --upgrade ID as well, the steps of that upgrade so far and then live,
ending when the upgrade ends.

One line per event: time, upgrade, type and fields. With -o json, one JSON
document (admin.Event) per line.`,
		Args: args(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			p := &eventPrinter{a: a, seen: map[uint64]bool{}, withUpgrade: id == ""}
			if !follow {
				return a.printRecorded(ctx, c, id, p)
			}
			s, err := c.Subscribe(ctx, id)
			if err != nil {
				return err
			}
			defer s.Close()
			fmt.Fprintf(a.stderr, "graft: following the events of %s (Ctrl-C to stop)\n", c.Addr())
			if id != "" {
				u, err := c.Upgrade(ctx, id)
				if err != nil {
					return err
				}
				for _, ev := range u.Steps {
					p.print(ev)
				}
				if u.Done() {
					return nil
				}
				if _, err := a.follow(ctx, c, s, id, p.print); err != nil && ctx.Err() == nil {
					return err
				}
				return nil
			}
			for {
				ev, err := s.Next()
				switch {
				case ctx.Err() != nil:
					return nil // interrupted: the way a follow ends
				case errors.Is(err, io.EOF):
					return fmt.Errorf("the node at %s ended the event stream", c.Addr())
				case err != nil:
					return err
				}
				p.print(ev)
			}
		}),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the event stream live until interrupted")
	cmd.Flags().StringVar(&id, "upgrade", "", "only the events of the upgrade with this ID")
	return cmd
}

// printRecorded prints the recorded steps of one upgrade, or of all.
func (a *app) printRecorded(ctx context.Context, c *client.Client, id string, p *eventPrinter) error {
	var steps []admin.Event
	if id != "" {
		u, err := c.Upgrade(ctx, id)
		if err != nil {
			return err
		}
		steps = u.Steps
	} else {
		us, err := c.Upgrades(ctx)
		if err != nil {
			return err
		}
		for _, u := range us {
			steps = append(steps, u.Steps...)
		}
	}
	slices.SortStableFunc(steps, func(x, y admin.Event) int {
		switch {
		case x.Seq < y.Seq:
			return -1
		case x.Seq > y.Seq:
			return 1
		}
		return 0
	})
	for _, ev := range steps {
		p.print(ev)
	}
	return nil
}

// pollEvery is how often follow asks whether an upgrade has ended. Its
// last event, UpgradeFinished, says every step is in; the upgrade's
// document (GET /api/v1/upgrades/{id}) says it ended a moment later, with
// its report. follow asks at that event and then on this tick, which also
// covers a stream that broke (a node drops a stream that falls far behind).
const pollEvery = 200 * time.Millisecond

// finishGrace bounds how long follow waits for the last steps of an
// upgrade whose document already says it ended.
const finishGrace = 2 * time.Second

// follow prints (through print) the events of upgrade id that s delivers,
// until the upgrade has ended, and returns its document. If the stream
// breaks, it goes on asking until the end. ctx's end stops it (ctx's
// error).
func (a *app) follow(ctx context.Context, c *client.Client, s *client.Stream, id string, print func(admin.Event)) (admin.Upgrade, error) {
	events := make(chan admin.Event, 256)
	broken := make(chan error, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(events)
		for {
			ev, err := s.Next()
			if err != nil {
				broken <- err
				return
			}
			select {
			case events <- ev:
			case <-stop:
				return
			}
		}
	})
	defer func() {
		close(stop)
		_ = s.Close() // ends a Next in progress
		wg.Wait()
	}()

	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var (
		last  bool           // this upgrade's UpgradeFinished was printed: every step is in
		ended *admin.Upgrade // its document, once that says it ended
		grace <-chan time.Time
	)
	for {
		check := false
		select {
		case <-ctx.Done():
			return admin.Upgrade{}, ctx.Err()
		case err := <-broken:
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				fmt.Fprintf(a.stderr, "graft: the event stream broke (%s); waiting for upgrade %s to end\n", oneLine(err.Error()), id)
			}
			check = true
		case ev, ok := <-events:
			if !ok {
				events = nil // the stream ended: the tick alone tells the end
				if ended != nil {
					return *ended, nil
				}
				continue
			}
			if ev.Upgrade != id {
				continue
			}
			print(ev)
			if ev.Type == "UpgradeFinished" {
				last = true
				if ended != nil {
					return *ended, nil
				}
				check = true
			}
		case <-tick.C:
			check = true
		case <-grace:
			return *ended, nil // the last steps never came: the report has them
		}
		if !check || ended != nil {
			continue
		}
		u, err := c.Upgrade(ctx, id)
		if err != nil {
			return admin.Upgrade{}, err
		}
		if !u.Done() {
			continue
		}
		if last || events == nil {
			return u, nil
		}
		// The document can say the upgrade ended while its last steps are
		// still on their way on the stream: they are printed before the
		// report.
		ended = &u
		t := time.NewTimer(finishGrace)
		defer t.Stop()
		grace = t.C
	}
}

// eventPrinter prints events once each (by Seq): a line for people, or
// a JSON document per line.
type eventPrinter struct {
	a           *app
	seen        map[uint64]bool
	withUpgrade bool // a column for the upgrade an event belongs to
}

func (p *eventPrinter) print(ev admin.Event) {
	if ev.Seq != 0 {
		if p.seen[ev.Seq] {
			return
		}
		p.seen[ev.Seq] = true
	}
	if !p.a.table() {
		b, err := json.Marshal(ev)
		if err == nil {
			fmt.Fprintf(p.a.stdout, "%s\n", b)
		}
		return
	}
	fmt.Fprintln(p.a.stdout, eventLine(ev, p.withUpgrade))
}

// eventLine is an event for a person: "15:04:05.000  [upgrade]  Type
// key=value ...", keys sorted.
func eventLine(ev admin.Event, withUpgrade bool) string {
	var b strings.Builder
	if !ev.Time.IsZero() {
		b.WriteString(ev.Time.Local().Format("15:04:05.000"))
		b.WriteString("  ")
	}
	if withUpgrade && ev.Upgrade != "" {
		b.WriteString(ev.Upgrade)
		b.WriteString("  ")
	}
	b.WriteString(ev.Type)
	keys := make([]string, 0, len(ev.Data))
	for k := range ev.Data {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := keyRank(keys[i]), keyRank(keys[j])
		if ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	for i, k := range keys {
		if i == 0 {
			b.WriteString(" ")
		}
		b.WriteString(" ")
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(valueText(ev.Data[k]))
	}
	return b.String()
}

// keyRank puts the fields that say which process and which move first.
func keyRank(k string) int {
	switch k {
	case "pid":
		return 0
	case "module":
		return 1
	case "from":
		return 2
	case "to":
		return 3
	case "version":
		return 4
	}
	return 5
}

func valueText(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		if v == "" || strings.ContainsAny(v, " \t\n\"=") {
			return strconv.Quote(v)
		}
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
