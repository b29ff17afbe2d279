// Command tally is a plugin version of the test module "tally", built by
// the tests with -ldflags "-X main.version=v3 ..." to vary the version, the
// module it claims to serve, its codec and its faults.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/sdk"
)

// Set by -ldflags -X.
var (
	module    = "tally"
	version   = "v2"
	codecName = "json"
	// fault: "exit-on-code-change" exits in CodeChange; "" is none.
	fault = ""
	// lineage: "none" declares no lineage at all (no step from any other
	// version); "" the usual one.
	lineage = ""
)

// Msg is every message of the module. Op "" counts; the others:
// "get" (call) replies Stats; "env" (call) replies the environment; "park" creates the file Path and blocks until
// the process dies; "hang" blocks; "fail" returns an error; "panic"
// panics; "stop" stops normally.
type Msg struct {
	Sender int
	Seq    uint64
	Op     string
	Path   string
}

// Stats is the reply to "get".
type Stats struct {
	Version    string
	Handled    int64
	OutOfOrder int64
	Migrations []string
}

// State is this version's state; the compiled-in v1's has Count and Last
// instead of Handled and Next.
type State struct {
	Handled    int64
	OutOfOrder int64
	Next       map[int]uint64
	Migrations []string
}

type v1State struct {
	Count      int
	Last       map[int]uint64
	OutOfOrder int
}

func main() {
	c, err := codec.ByName(codecName)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// vN follows vN-1, and migrates from and returns to the compiled-in
	// v1 directly.
	var n int
	_, _ = fmt.Sscanf(version, "v%d", &n)
	follows, from, to := fmt.Sprintf("v%d", n-1), []string{"v1"}, []string{"v1"}
	if lineage == "none" {
		follows, from, to = "", nil, nil
	}
	sdk.Serve(sdk.Module[State, Msg]{
		Name: module, Version: version, Codec: c,
		Follows: follows, UpgradesFrom: from, DowngradesTo: to,
		Init:       func(codec.Raw) (State, error) { return State{Next: map[int]uint64{}}, nil },
		Handle:     handle,
		CodeChange: codeChange,
		Downgrade:  downgrade,
	})
}

func handle(ctx *sdk.Context, s State, m Msg) (State, error) {
	switch m.Op {
	case "":
		s.Handled++
		if m.Seq != s.Next[m.Sender] && s.Next[m.Sender] != 0 || (s.Next[m.Sender] == 0 && m.Seq != 1) {
			s.OutOfOrder++
		}
		if m.Seq >= s.Next[m.Sender] {
			s.Next[m.Sender] = m.Seq + 1
		}
	case "get":
		return s, ctx.Reply(Stats{Version: version, Handled: s.Handled, OutOfOrder: s.OutOfOrder, Migrations: s.Migrations})
	case "park":
		if err := os.WriteFile(m.Path, nil, 0o600); err != nil {
			return s, err
		}
		select {}
	case "hang":
		select {}
	case "env":
		return s, ctx.Reply(os.Environ())
	case "fail":
		return s, errors.New("asked to fail")
	case "panic":
		panic("asked to panic")
	case "stop":
		return s, sdk.Normal
	}
	return s, nil
}

func codeChange(from string, old, extra codec.Raw) (State, error) {
	if fault == "exit-on-code-change" {
		os.Exit(3)
	}
	var s State
	if from == "v1" {
		v1, err := codec.DecodeStrict[v1State](old)
		if err != nil {
			return s, err
		}
		s = State{Handled: int64(v1.Count), OutOfOrder: int64(v1.OutOfOrder), Next: map[int]uint64{}}
		for sender, last := range v1.Last {
			s.Next[sender] = last + 1
		}
	} else if err := old.DecodeStrict(&s); err != nil {
		return s, err
	}
	s.Migrations = append(s.Migrations, from+">"+version)
	return s, nil
}

func downgrade(to string, s State, extra codec.Raw) (any, error) {
	if to != "v1" {
		s.Migrations = append(s.Migrations, version+">"+to)
		return s, nil
	}
	v1 := v1State{Count: int(s.Handled), OutOfOrder: int(s.OutOfOrder), Last: map[int]uint64{}}
	for sender, next := range s.Next {
		v1.Last[sender] = next - 1
	}
	return v1, nil
}
