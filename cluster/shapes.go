package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
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
	// Declared lists the versions of Module the type is a message shape
	// of, by this node's declarations or, where it has none for it, by the
	// sender's (BySender); empty when no version of Module declares it.
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
// (RegisterMessages): for each module that declares any, the versions
// that introduced each message type, and the lineage of each declared
// version.
//
// The rule is the lineage's, as for states: a version accepts the shapes
// it declares and those of every version it comes after — the versions
// it follows or upgrades from, at any distance (DESIGN: a version accepts
// the message shapes of the version it replaces). So a shape v2
// introduced reaches a process on v2 or later, never one still on v1; a
// shape of v1 reaches both.
type shapes struct {
	// declared is set by the first declaration: until then no message is
	// checked, and the receive path pays one atomic load.
	declared atomic.Bool

	mu      sync.RWMutex
	modules map[string]*moduleShapes // guarded by mu

	// after caches, per target version, the versions it comes after (see
	// comesAfter). Cleared by every declaration, and when it grows past
	// afterCap (each new current version of a module adds entries).
	afterMu sync.Mutex
	after   map[afterKey]map[string]bool // guarded by afterMu

	// decls caches senders' declarations as read (parseDecl): a few
	// distinct texts, one per declared type and sender build, arrive with
	// every message of such a type, and most go to processes of modules
	// they do not mention. Cleared when it grows past afterCap.
	declMu sync.Mutex
	decls  map[string]map[string][]string // guarded by declMu
}

type moduleShapes struct {
	types   map[string][]string      // wire name of a type → versions that declare it
	lineage map[string]actor.Lineage // the declared versions' lineage
}

type afterKey struct {
	module, version string
	// current is the module's current version when the entry was made: a
	// new one may fill a gap in what the system knows of the lineage.
	current *actor.Version
}

const afterCap = 256

func newShapes() *shapes {
	return &shapes{modules: make(map[string]*moduleShapes), after: make(map[afterKey]map[string]bool),
		decls: make(map[string]map[string][]string)}
}

// declare records that v introduced the message types named types.
func (s *shapes) declare(v *actor.Version, types []string) {
	s.mu.Lock()
	ms := s.modules[v.Module()]
	if ms == nil {
		ms = &moduleShapes{types: make(map[string][]string), lineage: make(map[string]actor.Lineage)}
		s.modules[v.Module()] = ms
	}
	ms.lineage[v.Name()] = v.Lineage()
	for _, t := range types {
		if !slices.Contains(ms.types[t], v.Name()) {
			ms.types[t] = append(ms.types[t], v.Name())
		}
	}
	s.mu.Unlock()
	s.afterMu.Lock()
	clear(s.after)
	s.afterMu.Unlock()
	s.declared.Store(true)
}

// of returns the versions of module that declare the type named typ, and
// whether module declares any shape at all.
func (s *shapes) of(module, typ string) (versions []string, declares bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ms := s.modules[module]
	if ms == nil {
		return nil, false
	}
	return ms.types[typ], true
}

// senderDecl is what a sender says of a message's type on the wire: for
// each module that declares the type, the versions that do (JSON of a
// map, module → versions; "" when none does). It is computed when a type
// is declared, not per message.
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
		if len(s.decls) >= afterCap {
			clear(s.decls)
		}
		m = parseDecl(decl)
		s.decls[decl] = m
	}
	return m[module]
}

// comesAfter returns the versions of module that version comes after in
// the lineage, version included: the versions it follows or upgrades
// from, at any distance. A version's lineage is read from the system's
// module table (what the process runs) or, for a version the system no
// longer knows (retired), from its declaration; a version known in
// neither is included by name and ends its branch. cur is the module's
// current version in sys (nil: none).
func (s *shapes) comesAfter(sys *actor.System, module, version string, cur *actor.Version) map[string]bool {
	key := afterKey{module, version, cur}
	s.afterMu.Lock()
	if m, ok := s.after[key]; ok {
		s.afterMu.Unlock()
		return m
	}
	s.afterMu.Unlock()

	known := make(map[string]actor.Lineage)
	s.mu.RLock()
	if ms := s.modules[module]; ms != nil {
		for name, l := range ms.lineage {
			known[name] = l
		}
	}
	s.mu.RUnlock()
	if info, ok := sys.Module(module); ok {
		for _, v := range info.Versions {
			known[v.Name()] = v.Lineage()
		}
	}
	out := map[string]bool{version: true}
	queue := []string{version}
	for len(queue) > 0 {
		l, ok := known[queue[0]]
		queue = queue[1:]
		if !ok {
			continue
		}
		for _, up := range append([]string{l.Follows}, l.UpgradesFrom...) {
			if up != "" && !out[up] {
				out[up] = true
				queue = append(queue, up)
			}
		}
	}

	s.afterMu.Lock()
	if len(s.after) >= afterCap {
		clear(s.after)
	}
	s.after[key] = out
	s.afterMu.Unlock()
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
// local process to runs; nil means deliver it. Only modules with declared
// shapes (here, or for this type by the sender) are checked; a process
// that is gone (its send reports noproc) or still in its Init (its
// version is not published yet) is not.
//
// The version checked is the one that will handle the message: the
// process's pinned version during a rolling upgrade, otherwise its
// module's current version, which the receive loop moves every process to
// before its next message.
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
	declared, declares := n.shapes.of(pv.Module, typ)
	bySender := false
	if len(declared) == 0 {
		if d := n.shapes.senderDeclares(decl, pv.Module); len(d) > 0 {
			declared, declares, bySender = d, true, true
		}
	}
	if !declares {
		return nil
	}
	if len(declared) > 0 {
		after := n.shapes.comesAfter(n.sys, pv.Module, version, cur)
		for _, d := range declared {
			if after[d] {
				return nil
			}
		}
	}
	return &NotAcceptedError{Module: pv.Module, Version: version, Type: typ,
		Declared: slices.Clone(declared), BySender: bySender, From: from}
}

// RegisterMessages declares the types of samples as message shapes that
// version v of its module introduces, and makes them cross nodes: with
// EDF, as Register does, unless a codec is registered for the type
// already (RegisterCodec first for another codec; built-in types need
// none).
//
// Once a module has shapes declared on a node, a message from another
// node to one of its processes there is checked against the version the
// process runs: it is delivered if that version, or one it comes after in
// the lineage (the versions it follows or upgrades from, at any
// distance), declares its type; otherwise it is a dead letter on that
// node with a *NotAcceptedError naming the module, the versions and the
// type (a call gets the error). So during a cluster-wide upgrade a shape
// of v2 sent to a process still on v1 is refused, and a shape of v1
// reaches v1 and v2 alike. Declare on every node every version that may
// run or be sent to there, with no samples for a version that introduces
// no shape: the lineage of a version its System has retired is known only
// from its declaration.
//
// A module nothing is declared for is not checked: its processes receive
// any registered type, as before. Messages between processes of one node
// are never checked (the runtime does not check message shapes locally).
func (n *Node) RegisterMessages(v *actor.Version, samples ...any) error {
	if v == nil || v.Module() == "" || v.Name() == "" {
		return fmt.Errorf("%w: RegisterMessages needs a version with a module and a name", ErrBadType)
	}
	types := make([]reflect.Type, 0, len(samples))
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
	names := make([]string, len(types))
	for i, t := range types {
		names[i], _ = n.codecs.nameOf(t)
	}
	n.shapes.declare(v, names)
	for i, t := range types {
		n.codecs.setDecl(t, n.shapes.senderDecl(names[i]))
	}
	return nil
}
