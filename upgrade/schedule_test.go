package upgrade_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/internal/script"
	"github.com/graftrt/graft/upgrade"
)

// TestSchedules plans every script in testdata/schedules without a system:
// a snapshot described line by line, a plan, and the exact schedule (or
// refusal) NewSchedule computes. go test -run TestSchedules -args -rewrite
// writes the actual output back.
//
//	version m v3 follows=v2 down upfrom=v1 downto=v1 [unloaded]
//	current m v2                      the module's current version
//	proc m v1 [n=3] [level=2] [pinned]  processes of the tree
//	outside m v1=2                    activations outside the tree
//	plan m=v3 [n=v2] [mode=lazy] [waves=0.5,1] [stragglers=kill] [dry] [deferred]
//	reset
func TestSchedules(t *testing.T) {
	files, err := filepath.Glob("testdata/schedules/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			s := &planner{}
			s.reset()
			script.Run(t, f, s.run)
		})
	}
}

type planner struct {
	versions map[string]map[string]*actor.Version // module → name → version
	unloaded map[*actor.Version]bool
	current  map[string]string
	outside  map[string]map[string]int64
	procs    []upgrade.Proc
}

func (s *planner) reset() {
	*s = planner{versions: map[string]map[string]*actor.Version{}, unloaded: map[*actor.Version]bool{},
		current: map[string]string{}, outside: map[string]map[string]int64{}}
}

func (s *planner) run(cmd string) string {
	f := strings.Fields(cmd)
	kv := map[string]string{}
	var flags []string
	for _, a := range f[1:] {
		if k, v, ok := strings.Cut(a, "="); ok {
			kv[k] = v
		} else {
			flags = append(flags, a)
		}
	}
	switch f[0] {
	case "reset":
		s.reset()
	case "version":
		mod, name := f[1], f[2]
		spec := vs{follows: kv["follows"], down: slices.Contains(flags, "down")}
		if kv["upfrom"] != "" {
			spec.upFrom = strings.Split(kv["upfrom"], ",")
		}
		if kv["downto"] != "" {
			spec.downTo = strings.Split(kv["downto"], ",")
		}
		v := ver(mod, name, spec)
		if s.versions[mod] == nil {
			s.versions[mod] = map[string]*actor.Version{}
		}
		s.versions[mod][name] = v
		s.unloaded[v] = slices.Contains(flags, "unloaded")
	case "current":
		s.current[f[1]] = f[2]
	case "proc":
		n := 1
		if kv["n"] != "" {
			n, _ = strconv.Atoi(kv["n"])
		}
		level := 1
		if kv["level"] != "" {
			level, _ = strconv.Atoi(kv["level"])
		}
		for range n {
			s.procs = append(s.procs, upgrade.Proc{Module: f[1], Version: f[2], Level: level, Pinned: slices.Contains(flags, "pinned")})
		}
	case "outside":
		if s.outside[f[1]] == nil {
			s.outside[f[1]] = map[string]int64{}
		}
		for k, v := range kv {
			n, _ := strconv.ParseInt(v, 10, 64)
			s.outside[f[1]][k] = n
		}
	case "plan":
		return s.plan(kv, flags)
	default:
		return "unknown command " + f[0]
	}
	return ""
}

func (s *planner) plan(kv map[string]string, flags []string) string {
	var p upgrade.Plan
	for _, m := range slices.Sorted(func(yield func(string) bool) {
		for k := range kv {
			if s.versions[k] != nil && !yield(k) {
				return
			}
		}
	}) {
		p.Changes = append(p.Changes, upgrade.Change{Module: m, To: s.versions[m][kv[m]]})
	}
	switch kv["mode"] {
	case "lazy":
		p.Mode = upgrade.Lazy
	case "rolling":
		p.Mode = upgrade.Rolling
	}
	if w := kv["waves"]; w != "" {
		for _, x := range strings.Split(w, ",") {
			f, _ := strconv.ParseFloat(x, 64)
			p.Waves = append(p.Waves, f)
		}
	}
	switch kv["stragglers"] {
	case "refuse":
		p.Stragglers = upgrade.RefuseStragglers
	case "kill":
		p.Stragglers = upgrade.KillStragglers
	}
	p.DryRun = slices.Contains(flags, "dry")
	snap := upgrade.Snapshot{Modules: map[string]upgrade.ModuleState{}, Procs: s.procs}
	if slices.Contains(flags, "deferred") {
		snap.Procs, snap.Deferred = nil, true
	}
	for mod, vs := range s.versions {
		ms := upgrade.ModuleState{Current: vs[s.current[mod]], Activations: map[string]int64{}}
		for _, v := range vs {
			if !s.unloaded[v] {
				ms.Versions = append(ms.Versions, v)
			}
		}
		for _, pr := range s.procs {
			if pr.Module == mod {
				ms.Activations[pr.Version]++
			}
		}
		for v, n := range s.outside[mod] {
			ms.Activations[v] += n
		}
		snap.Modules[mod] = ms
	}
	sched, err := upgrade.NewSchedule(p, snap)
	if err != nil {
		return fmt.Sprintf("refused: %v", err)
	}
	return strings.TrimSuffix(sched.String(), "\n")
}
