package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/graftrt/graft/actor"
)

// This file holds what a handoff (package handoff) needs of supervisors:
// the tree as data — flags, child specs in start order, which child runs
// as which process — read from suspended supervisors, and a tree started
// again from that data in another system, each child's process restored
// from its exported state instead of started by Init.

// Tree is a supervisor and its children as data.
type Tree struct {
	PID   actor.PID `json:"pid"` // in the system it was read from
	Path  string    `json:"path"`
	Flags Flags     `json:"flags"`
	// Spawn are the supervisor's own spawn settings (its name).
	Spawn actor.SpawnSettings `json:"spawn"`
	// Template is a simple_one_for_one supervisor's child spec; Children
	// are then its instances.
	Template *Child  `json:"template,omitempty"`
	Children []Child `json:"children"`
}

// Child is one child spec, with its process.
type Child struct {
	ID     string                `json:"id"`
	Path   string                `json:"path"`
	Module string                `json:"module"`
	Args   *actor.EncodedMessage `json:"args,omitempty"`
	// ArgsVersion is the version whose codec and Types encoded Args.
	ArgsVersion string              `json:"args_version,omitempty"`
	Spawn       actor.SpawnSettings `json:"spawn"`
	Restart     Restart             `json:"restart"`
	Shutdown    Shutdown            `json:"shutdown"`
	Type        ChildType           `json:"type"`
	Modules     []string            `json:"modules,omitempty"`
	Significant bool                `json:"significant,omitempty"`
	Handoff     bool                `json:"handoff,omitempty"`
	Restarts    int                 `json:"restarts,omitempty"`
	// PID is the child's process, zero when it is not running (or is
	// restarting: it starts afresh).
	PID actor.PID `json:"pid,omitempty"`
	// Sub is a nested supervisor's tree.
	Sub *Tree `json:"sub,omitempty"`
}

// Workers lists the processes of the tree's workers (every running child
// but supervisors), in the tree's order.
func (t *Tree) Workers() []actor.PID {
	var out []actor.PID
	for _, c := range t.Children {
		switch {
		case c.Sub != nil:
			out = append(out, c.Sub.Workers()...)
		case !c.PID.IsZero():
			out = append(out, c.PID)
		}
	}
	return out
}

// ErrNotExportable reports a tree that cannot be read as data: a nested
// supervisor that is not running, say.
var ErrNotExportable = errors.New("supervisor: tree cannot be exported")

// snapshot is what one supervisor's state says, read on its goroutine.
type snapshot struct {
	flags    Flags
	template *ChildSpec
	children []childCopy
}

type childCopy struct {
	spec       ChildSpec
	own        []actor.SpawnOption
	pid        actor.PID
	restarting bool
	restarts   int
}

// read reads a supervisor's state on its goroutine (Inspect), whether it
// is suspended or not.
func read(ctx context.Context, sys *actor.System, pid actor.PID) (snapshot, error) {
	var snap snapshot
	var bad bool
	err := sys.Inspect(ctx, pid, func(st any) {
		s, ok := st.(*state)
		if !ok {
			bad = true
			return
		}
		snap.flags = s.flags
		if s.flags.Strategy == SimpleOneForOne {
			t := s.template
			snap.template = &t
		}
		for _, c := range s.children {
			snap.children = append(snap.children, childCopy{spec: c.spec, own: slices.Clone(c.own),
				pid: c.pid, restarting: c.restarting, restarts: c.restarts})
		}
	})
	if err == nil && bad {
		err = fmt.Errorf("%w: %v is not a supervisor", ErrNotExportable, pid)
	}
	return snap, err
}

// TreePIDs lists the processes of the tree under h: each supervisor, then
// its running children in start order, nested supervisors' trees in
// place. It reads the supervisors' states without calls, so it works
// while they are suspended.
func TreePIDs(ctx context.Context, sys *actor.System, h *Handle) ([]actor.PID, error) {
	var out []actor.PID
	var walk func(pid actor.PID) error
	walk = func(pid actor.PID) error {
		out = append(out, pid)
		snap, err := read(ctx, sys, pid)
		if err != nil {
			return err
		}
		for _, c := range snap.children {
			if c.pid.IsZero() {
				continue
			}
			if c.spec.Type == Supervisor && c.spec.Start.Module == ModuleName {
				if err := walk(c.pid); err != nil {
					return err
				}
				continue
			}
			out = append(out, c.pid)
		}
		return nil
	}
	return out, walk(h.pid)
}

// ExportTree reads the tree under h as data. Its supervisors must not
// change while it is read: suspend the tree first (TreePIDs, then
// actor.System.SuspendAll). Spawn arguments are encoded with the codec of
// the version each child runs (the module's current version for a child
// without a process); an argument its version does not list in Types is
// refused.
func ExportTree(ctx context.Context, sys *actor.System, h *Handle) (*Tree, error) {
	return exportTree(ctx, sys, h.pid, "")
}

func exportTree(ctx context.Context, sys *actor.System, pid actor.PID, path string) (*Tree, error) {
	snap, err := read(ctx, sys, pid)
	if err != nil {
		return nil, err
	}
	t := &Tree{PID: pid, Path: path, Flags: snap.flags}
	if name := nameOf(sys, pid); name != "" {
		t.Spawn.Name = name
	}
	if snap.template != nil {
		c, err := exportChild(ctx, sys, childCopy{spec: *snap.template}, path+"/"+snap.template.ID)
		if err != nil {
			return nil, err
		}
		t.Template = &c
	}
	for i, cc := range snap.children {
		p := path + "/" + cc.spec.ID
		if snap.template != nil {
			p = path + "/#" + strconv.Itoa(i)
		}
		c, err := exportChild(ctx, sys, cc, p)
		if err != nil {
			return nil, err
		}
		t.Children = append(t.Children, c)
	}
	return t, nil
}

func nameOf(sys *actor.System, pid actor.PID) string {
	st, ok := sys.Stat(pid)
	if !ok {
		return ""
	}
	return st.Name
}

func exportChild(ctx context.Context, sys *actor.System, cc childCopy, path string) (Child, error) {
	spec := cc.spec
	c := Child{ID: spec.ID, Path: path, Module: spec.Start.Module,
		Spawn:   actor.DescribeSpawn(slices.Concat(spec.Start.Options, cc.own)),
		Restart: spec.Restart, Shutdown: spec.Shutdown, Type: spec.Type, Modules: slices.Clone(spec.Modules),
		Significant: spec.Significant, Handoff: spec.Handoff, Restarts: cc.restarts}
	if !cc.restarting {
		c.PID = cc.pid
	}
	if spec.Type == Supervisor && spec.Start.Module == ModuleName {
		if c.PID.IsZero() {
			return Child{}, fmt.Errorf("%w: nested supervisor %s is not running", ErrNotExportable, path)
		}
		sub, err := exportTree(ctx, sys, c.PID, path)
		if err != nil {
			return Child{}, err
		}
		sub.Spawn = c.Spawn
		c.Sub = sub
		return c, nil
	}
	if spec.Start.Args == nil {
		return c, nil
	}
	v, ok := sys.Current(spec.Start.Module)
	if pv, running := sys.VersionOf(c.PID); running && !c.PID.IsZero() {
		for _, m := range sys.Modules() {
			if m.Name != pv.Module {
				continue
			}
			for _, kv := range m.Versions {
				if kv.Name() == pv.Version {
					v, ok = kv, true
				}
			}
		}
	}
	if !ok {
		return Child{}, fmt.Errorf("%w: %s: module %s is not loaded", ErrNotExportable, path, spec.Start.Module)
	}
	args, err := actor.EncodeMessage(v, spec.Start.Args)
	if err != nil {
		return Child{}, fmt.Errorf("%s: spawn arguments: %w", path, err)
	}
	c.Args, c.ArgsVersion = &args, v.Name()
	return c, nil
}

// Restorer gives the restore of an exported process (by its PID in the
// system it was exported from), or nil to start it afresh with Init.
type Restorer func(old actor.PID) *actor.Restore

// RestoreTree starts the tree again in sys, as Start would, from its
// data: the same flags, child specs in the same order, the same names.
// Each child that ran a process gets one built from restore(its old PID)
// (see actor.WithRestore: the state migrated along the lineage to the
// current version, its queue handled first); later restarts start the
// child with Init as usual. A child that was not running stays so. Spawn
// arguments are decoded by the version of the same name here. The result
// maps each old PID to the new one (by the child's path). Any failure
// stops what was started and returns the error.
func RestoreTree(ctx context.Context, sys *actor.System, t *Tree, restore Restorer) (*Handle, map[actor.PID]actor.PID, error) {
	if t == nil {
		return nil, nil, fmt.Errorf("%w: no tree", ErrNotExportable)
	}
	cfg, err := restoreConfig(sys, t, restore)
	if err != nil {
		return nil, nil, err
	}
	if err := validateAll(cfg.flags, cfg.specs); err != nil {
		return nil, nil, err
	}
	if err := sys.Load(Version); err != nil {
		return nil, nil, err
	}
	pid, err := sys.Spawn(ModuleName, cfg, t.Spawn.Options()...)
	if err != nil {
		return nil, nil, err
	}
	h := &Handle{sys: sys, pid: pid}
	pids := map[actor.PID]actor.PID{}
	if err := mapTree(ctx, sys, t, pid, pids); err != nil {
		_ = sys.StopWith(ctx, pid, actor.Shutdown)
		return nil, nil, err
	}
	return h, pids, nil
}

// restoreConfig builds a supervisor's config from its tree.
func restoreConfig(sys *actor.System, t *Tree, restore Restorer) (*config, error) {
	cfg := &config{flags: t.Flags}
	if t.Template != nil {
		spec, _, err := restoreSpec(sys, *t.Template, restore)
		if err != nil {
			return nil, err
		}
		cfg.specs = []ChildSpec{spec}
	}
	for _, c := range t.Children {
		spec, first, err := restoreSpec(sys, c, restore)
		if err != nil {
			return nil, err
		}
		if t.Template != nil {
			cfg.instances = append(cfg.instances, restoredChild{spec: spec, first: first, restarts: c.Restarts})
			continue
		}
		cfg.specs = append(cfg.specs, spec)
		cfg.restored = append(cfg.restored, restoredChild{first: first, stopped: c.PID.IsZero(), restarts: c.Restarts})
	}
	return cfg, nil
}

// restoreSpec turns a child back into a spec, and the options of its
// first start.
func restoreSpec(sys *actor.System, c Child, restore Restorer) (ChildSpec, []actor.SpawnOption, error) {
	spec := ChildSpec{ID: c.ID, Start: StartSpec{Module: c.Module, Options: c.Spawn.Options()},
		Restart: c.Restart, Shutdown: c.Shutdown, Type: c.Type, Modules: slices.Clone(c.Modules),
		Significant: c.Significant, Handoff: c.Handoff}
	if c.Sub != nil {
		sub, err := restoreConfig(sys, c.Sub, restore)
		if err != nil {
			return ChildSpec{}, nil, err
		}
		spec.Start.Args = sub
		return spec, nil, nil
	}
	if c.Args != nil {
		v, err := versionNamed(sys, c.Module, c.ArgsVersion)
		if err != nil {
			return ChildSpec{}, nil, fmt.Errorf("%s: spawn arguments: %w", c.Path, err)
		}
		args, err := actor.DecodeMessage(v, *c.Args)
		if err != nil {
			return ChildSpec{}, nil, fmt.Errorf("%s: spawn arguments: %w", c.Path, err)
		}
		spec.Start.Args = args
	}
	var first []actor.SpawnOption
	if !c.PID.IsZero() && restore != nil {
		if r := restore(c.PID); r != nil {
			first = []actor.SpawnOption{actor.WithRestore(r)}
		}
	}
	return spec, first, nil
}

func versionNamed(sys *actor.System, module, version string) (*actor.Version, error) {
	m, ok := sys.Module(module)
	if !ok {
		return nil, fmt.Errorf("%w: %q", actor.ErrUnknownModule, module)
	}
	for _, v := range m.Versions {
		if v.Name() == version {
			return v, nil
		}
	}
	return nil, fmt.Errorf("%w: %s@%s is not known here", actor.ErrNoRoute, module, version)
}

// mapTree pairs the old tree's processes with the new one's, by path.
func mapTree(ctx context.Context, sys *actor.System, t *Tree, pid actor.PID, out map[actor.PID]actor.PID) error {
	out[t.PID] = pid
	snap, err := read(ctx, sys, pid)
	if err != nil {
		return err
	}
	if len(snap.children) != len(t.Children) {
		return fmt.Errorf("%w: %s has %d children here, %d there", ErrNotExportable, t.Path, len(snap.children), len(t.Children))
	}
	for i, c := range t.Children {
		n := snap.children[i]
		if c.PID.IsZero() {
			continue
		}
		if c.Sub != nil {
			if err := mapTree(ctx, sys, c.Sub, n.pid, out); err != nil {
				return err
			}
			continue
		}
		out[c.PID] = n.pid
	}
	return nil
}
