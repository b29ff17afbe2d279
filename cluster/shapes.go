package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/graftrt/graft/actor"
)

// ErrNotAccepted is the reason of a message that crossed nodes and was not
// delivered because the version its target process runs does not accept
// its type (see Node.RegisterMessages). The error itself is a
// *NotAcceptedError on the node that refused the message; a caller on
// another node gets one that errors.Is matches, with the same text.
var ErrNotAccepted = errors.New("cluster: message not accepted by the version its process runs")

// NotAcceptedError says which message a process's version refused: the
// reason of its dead letter on the process's node, or the error of a call.
type NotAcceptedError struct {
	// Module and Version are the target process's module and the version
	// that would have handled the message.
	Module, Version string
	// Type is the message's type as named on the wire (package path and
	// type name for a type registered by sample).
	Type string
	// Declared lists the versions of Module that declare the type (in
	// their Types, or through RegisterMessages) as this node knows them
	// or, where none does here, as the sender's declaration says
	// (BySender); empty when no version of Module declares it.
	Declared []string
	BySender bool
	// From is the node the message came from.
	From string
}

func (e *NotAcceptedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster: %s@%s does not accept %s from %s: ", e.Module, e.Version, e.Type, e.From)
	switch len(e.Declared) {
	case 0:
		fmt.Fprintf(&b, "no version of %s declares it", e.Module)
	case 1:
		fmt.Fprintf(&b, "it is a message of %s@%s, and %s does not come after %s in the lineage",
			e.Module, e.Declared[0], e.Version, e.Declared[0])
	default:
		fmt.Fprintf(&b, "it is a message of %s versions %s, and %s comes after none of them in the lineage",
			e.Module, strings.Join(e.Declared, ", "), e.Version)
	}
	if e.BySender {
		b.WriteString(" (as the sender declares it)")
	}
	return b.String()
}

func (e *NotAcceptedError) Unwrap() error { return ErrNotAccepted }

// shapes holds a node's declarations of message shapes
// (RegisterMessages): for each module declared here, the versions that
// declare each message type, and the lineage of each declared version.
//
// The rule is the lineage's, as for states: a version accepts the types
// it declares and those of every version it comes after — the versions
// it follows or upgrades from, at any distance (a version accepts the
// message shapes of the version it replaces). So a shape v2 introduced
// reaches a process on v2 or later, never one still on v1; a shape of v1
// reaches both. A version declares what RegisterMessages was given for
// it and what it lists in its Types (actor.Funcs.Types, the declaration a
// handoff uses); basic types need no declaration and are taken by every
// version, as in the core (see actor.Version.Types).
type shapes struct {
	// declared is set by the first declaration: until then no message is
	// checked, and the receive path pays one atomic load.
	declared atomic.Bool
	// nameOf names a type as it crosses nodes (its codec's name).
	nameOf func(reflect.Type) string

	mu      sync.RWMutex
	modules map[string]*moduleShapes // guarded by mu

	// views caches what a version accepts (see view). Cleared by every
	// declaration, and when it grows past cacheCap (each new current
	// version of a module adds entries).
	viewMu sync.Mutex
	views  map[viewKey]*view // guarded by viewMu
	// gen counts declarations: a view computed while one was made is not
	// kept. Guarded by viewMu.
	gen uint64

	// decls caches senders' declarations as read (parseDecl): a few
	// distinct texts, one per declared type and sender build, arrive with
	// every message of such a type, and most go to processes of modules
	// they do not mention. Cleared when it grows past cacheCap.
	declMu sync.Mutex
	decls  map[string]map[string][]string // guarded by declMu
}

type moduleShapes struct {
	types     map[string][]string      // wire name of a type → versions that declare it
	byVersion map[string][]string      // a version → the wire names it declares
	lineage   map[string]actor.Lineage // the declared versions' lineage
}

// view is what one version of a module accepts, as this node knows the
// module's versions.
type view struct {
	after map[string]bool // the version and every version it comes after
	// types are the wire names those versions declare, and the basic
	// types.
	types map[string]bool
	// checked: the module is declared here (RegisterMessages).
	checked bool
}

type viewKey struct {
	module, version string
	// current is the module's current version when the entry was made: a
	// new one may fill a gap in what the system knows of the lineage.
	current *actor.Version
}

const cacheCap = 256

func newShapes(nameOf func(reflect.Type) string) *shapes {
	return &shapes{nameOf: nameOf, modules: make(map[string]*moduleShapes), views: make(map[viewKey]*view),
		decls: make(map[string]map[string][]string)}
}

// basic are the types every version takes without declaring them: the
// core's basic types (actor.Version.Types), by the names they cross under.
var basic = func() map[string]bool {
	m := map[string]bool{}
	for _, v := range []any{false, "", 0, int8(0), int16(0), int32(0), int64(0), uint(0), uint8(0),
		uint16(0), uint32(0), uint64(0), float32(0), float64(0), []byte(nil), []string(nil)} {
		m[actor.TypeName(reflect.TypeOf(v))] = true
	}
	return m
}()

// declare records that v declares the message types named types.
func (s *shapes) declare(v *actor.Version, types []string) {
	s.mu.Lock()
	ms := s.modules[v.Module()]
	if ms == nil {
		ms = &moduleShapes{types: make(map[string][]string), byVersion: make(map[string][]string),
			lineage: make(map[string]actor.Lineage)}
		s.modules[v.Module()] = ms
	}
	ms.lineage[v.Name()] = v.Lineage()
	if _, ok := ms.byVersion[v.Name()]; !ok {
		ms.byVersion[v.Name()] = nil
	}
	for _, t := range types {
		if !slices.Contains(ms.types[t], v.Name()) {
			ms.types[t] = append(ms.types[t], v.Name())
			ms.byVersion[v.Name()] = append(ms.byVersion[v.Name()], t)
		}
	}
	s.mu.Unlock()
	s.viewMu.Lock()
	clear(s.views)
	s.gen++
	s.viewMu.Unlock()
	s.declared.Store(true)
}

// senderDecl is what a sender says of a message's type on the wire: for
// each module that declares the type here, the versions that do (JSON of
// a map, module → versions; "" when none does). It is computed when a
// type is declared, not per message.
func (s *shapes) senderDecl(typ string) string {
	s.mu.RLock()
	m := make(map[string][]string)
	for name, ms := range s.modules {
		if vs := ms.types[typ]; len(vs) > 0 {
			m[name] = slices.Clone(vs)
		}
	}
	s.mu.RUnlock()
	if len(m) == 0 {
		return ""
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "" // a map of strings always encodes
	}
	return string(b)
}

// parseDecl reads a sender's declaration: module → versions; bad text is
// no declaration (the receiver's own rules then apply).
func parseDecl(decl string) map[string][]string {
	if decl == "" {
		return nil
	}
	var m map[string][]string
	if json.Unmarshal([]byte(decl), &m) != nil {
		return nil
	}
	return m
}

// senderDeclares returns the versions of module a sender's declaration
// names.
func (s *shapes) senderDeclares(decl, module string) []string {
	if decl == "" {
		return nil
	}
	s.declMu.Lock()
	defer s.declMu.Unlock()
	m, ok := s.decls[decl]
	if !ok {
		if len(s.decls) >= cacheCap {
			clear(s.decls)
		}
		m = parseDecl(decl)
		s.decls[decl] = m
	}
	return m[module]
}

// view returns what version of module accepts: the versions it comes
// after (itself included) and the types they declare. A version's lineage
// and Types are read from the system's module table (what its processes
// run) or, for a version the system no longer knows (retired), from its
// declaration here; a version known in neither is included by name and
// ends its branch. cur is the module's current version in sys (nil:
// none).
func (s *shapes) view(sys *actor.System, module, version string, cur *actor.Version) *view {
	key := viewKey{module, version, cur}
	s.viewMu.Lock()
	if vw, ok := s.views[key]; ok {
		s.viewMu.Unlock()
		return vw
	}
	gen := s.gen
	s.viewMu.Unlock()

	lineage := make(map[string]actor.Lineage)
	declared := make(map[string][]string)
	vw := &view{after: map[string]bool{version: true}, types: maps.Clone(basic)}
	s.mu.RLock()
	if ms := s.modules[module]; ms != nil {
		vw.checked = true
		for name, l := range ms.lineage {
			lineage[name] = l
		}
		for name, ts := range ms.byVersion {
			declared[name] = slices.Clone(ts)
		}
	}
	s.mu.RUnlock()
	loaded := s.loaded(sys, module)
	for name, v := range loaded {
		lineage[name] = v.Lineage()
	}
	queue := []string{version}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		for _, t := range declared[name] {
			vw.types[t] = true
		}
		if v := loaded[name]; v != nil {
			for _, t := range v.Types() {
				vw.types[s.nameOf(t)] = true
			}
		}
		l, ok := lineage[name]
		if !ok {
			continue
		}
		for _, up := range append([]string{l.Follows}, l.UpgradesFrom...) {
			if up != "" && !vw.after[up] {
				vw.after[up] = true
				queue = append(queue, up)
			}
		}
	}

	s.viewMu.Lock()
	if len(s.views) >= cacheCap {
		clear(s.views)
	}
	if s.gen == gen {
		s.views[key] = vw
	}
	s.viewMu.Unlock()
	return vw
}

// loaded returns the versions of module sys knows, by name.
func (s *shapes) loaded(sys *actor.System, module string) map[string]*actor.Version {
	out := make(map[string]*actor.Version)
	if info, ok := sys.Module(module); ok {
		for _, v := range info.Versions {
			out[v.Name()] = v
		}
	}
	return out
}

// declaring lists the versions of module that declare the type named typ,
// here or in what sys has loaded, sorted.
func (s *shapes) declaring(sys *actor.System, module, typ string) []string {
	var out []string
	s.mu.RLock()
	if ms := s.modules[module]; ms != nil {
		out = append(out, ms.types[typ]...)
	}
	s.mu.RUnlock()
	for name, v := range s.loaded(sys, module) {
		if slices.Contains(out, name) {
			continue
		}
		for _, t := range v.Types() {
			if s.nameOf(t) == typ {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// checksShapes reports whether a message with the sender's declaration
// decl may be refused here: something is declared on this node, or by the
// sender. Otherwise nothing is checked (one atomic load per message).
func (n *Node) checksShapes(decl string) bool {
	return decl != "" || n.shapes.declared.Load()
}

// notAccepted checks a message of the type named typ, which arrived from
// node from with the sender's declaration decl, against the version the
// local process to runs; nil means deliver it. Only modules declared here
// (RegisterMessages), or for this type by the sender, are checked; a
// process that is gone (its send reports noproc) or still in its Init
// (its version is not published yet) is not.
//
// The version checked is the one that will handle the message: the
// process's pinned version during a rolling upgrade, otherwise its
// module's current version, which the receive loop moves every process to
// before its next message. This node's declarations decide; where none of
// its versions declares the type, the sender's declaration does.
func (n *Node) notAccepted(to actor.PID, typ, decl, from string) error {
	if !n.checksShapes(decl) {
		return nil
	}
	pv, ok := n.sys.VersionOf(to)
	if !ok {
		return nil
	}
	version := pv.Version
	cur, _ := n.sys.Current(pv.Module)
	if !pv.Pinned && cur != nil {
		version = cur.Name()
	}
	vw := n.shapes.view(n.sys, pv.Module, version, cur)
	if vw.types[typ] || (!vw.checked && decl == "") {
		return nil
	}
	refused := func(declared []string, bySender bool) error {
		return &NotAcceptedError{Module: pv.Module, Version: version, Type: typ, From: from,
			Declared: declared, BySender: bySender}
	}
	if vw.checked {
		if own := n.shapes.declaring(n.sys, pv.Module, typ); len(own) > 0 {
			return refused(own, false)
		}
	}
	bySender := n.shapes.senderDeclares(decl, pv.Module)
	if len(bySender) == 0 {
		if vw.checked {
			return refused(nil, false) // no version declares it
		}
		return nil
	}
	for _, d := range bySender {
		if vw.after[d] {
			return nil
		}
	}
	return refused(slices.Clone(bySender), true)
}

// RegisterMessages declares the message types version v of its module
// takes: those it lists in its Types (actor.Funcs.Types, the declaration
// a handoff uses) and the types of samples. It makes them cross nodes
// too: with EDF, as Register does, unless a codec is registered for the
// type already (RegisterCodec first for another codec). Basic types
// (bool, string, the integers and floats, []byte, []string) need no
// declaring: every version takes them, as in the core. A pointer type v
// lists (a spawn argument, say) is declared but cannot cross.
//
// Once a module is declared on a node, a message from another node to one
// of its processes there is checked against the version the process
// runs: it is delivered if that version, or one it comes after in the
// lineage (the versions it follows or upgrades from, at any distance),
// declares its type; otherwise it is a dead letter on that node with a
// *NotAcceptedError naming the module, the versions and the type (a call
// gets the error). So during a cluster-wide upgrade a shape of v2 sent to
// a process still on v1 is refused, and a shape of v1 reaches v1 and v2
// alike. Declare on every node every version that may run or be sent to
// there, with no samples when its Types say it all: the lineage and types
// of a version its System has retired are known only from the
// declaration.
//
// A module nothing is declared for is not checked: its processes receive
// any registered type, as before. Messages between processes of one node
// are never checked (the runtime does not check message shapes locally).
func (n *Node) RegisterMessages(v *actor.Version, samples ...any) error {
	if v == nil || v.Module() == "" || v.Name() == "" {
		return fmt.Errorf("%w: RegisterMessages needs a version with a module and a name", ErrBadType)
	}
	var types []reflect.Type
	for _, s := range samples {
		if s == nil {
			return fmt.Errorf("%w: nil sample for %v", ErrBadType, v)
		}
		t := reflect.TypeOf(s)
		if _, ok := n.codecs.nameOf(t); !ok {
			if err := n.codecs.register(s); err != nil {
				return err
			}
		}
		types = append(types, t)
	}
	listed := v.Types()
	for _, name := range slices.Sorted(maps.Keys(listed)) {
		t := listed[name]
		if _, ok := n.codecs.nameOf(t); !ok && t.Kind() != reflect.Pointer {
			if err := n.codecs.register(reflect.Zero(t).Interface()); err != nil {
				return fmt.Errorf("%w (%v lists it in its Types; RegisterCodec it first for a codec of its own)", err, v)
			}
		}
		types = append(types, t)
	}
	var names []string
	for _, t := range types {
		if name := n.wireName(t); !basic[name] && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	n.shapes.declare(v, names)
	for _, t := range types {
		n.codecs.setDecl(t, n.shapes.senderDecl(n.wireName(t)))
	}
	return nil
}

// wireName is the name t crosses nodes under: its codec's, or for a type
// without one, the core's name for it (actor.TypeName).
func (n *Node) wireName(t reflect.Type) string {
	if name, ok := n.codecs.nameOf(t); ok {
		return name
	}
	return actor.TypeName(t)
}
