package cluster

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

func version(name, follows string, upFrom ...string) *actor.Version {
	return actor.Define("m", name, actor.Funcs[int]{
		Follows: follows, UpgradesFrom: upFrom,
		Handle: func(ctx *actor.Context, s int, msg any) (int, error) { return s, nil },
	})
}

func cur(sys *actortest.System) *actor.Version {
	v, _ := sys.Current("m")
	return v
}

func sorted(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// declared lists the types a view holds but the basic ones.
func declared(vw *view) []string {
	var out []string
	for t := range vw.types {
		if !basic[t] {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// A version comes after the versions it follows or upgrades from, at any
// distance, as the System knows them or, once retired, as declared.
func TestComesAfterFollowsTheLineage(t *testing.T) {
	sys := actortest.NewSystem(t)
	v1, v2, v3, v4 := version("v1", ""), version("v2", "v1"), version("v3", "v2"), version("v4", "v3")
	for _, v := range []*actor.Version{v1, v2, v3, v4} {
		require.NoError(t, sys.Load(v))
	}
	info, ok := sys.Module("m")
	require.True(t, ok)
	var known []string
	for _, v := range info.Versions {
		known = append(known, v.Name())
	}
	require.NotContains(t, known, "v1", "retired")
	require.NotContains(t, known, "v2", "retired")

	s := newShapes(actor.TypeName)
	assert.Equal(t, []string{"v2", "v3", "v4"}, sorted(s.view(sys.System, "m", "v4", cur(sys)).after),
		"v2 is known by name from v3; what it follows is not known")
	s.declare(v2, nil)
	assert.Equal(t, []string{"v1", "v2", "v3", "v4"}, sorted(s.view(sys.System, "m", "v4", cur(sys)).after),
		"a declared version's lineage outlives its retirement")
	assert.Equal(t, []string{"v1", "v2", "v3"}, sorted(s.view(sys.System, "m", "v3", cur(sys)).after))

	// Upgrades from count as well as follows; unknown names end a branch.
	s.declare(version("x", "v9", "v2"), nil)
	assert.Equal(t, []string{"v1", "v2", "v9", "x"}, sorted(s.view(sys.System, "m", "x", cur(sys)).after))
	assert.Equal(t, []string{"nobody"}, sorted(s.view(sys.System, "m", "nobody", cur(sys)).after))

	// A declared lineage that loops (declarations are not checked as
	// loads are) ends.
	s.declare(version("p", "q"), nil)
	s.declare(version("q", "p"), nil)
	assert.Equal(t, []string{"p", "q"}, sorted(s.view(sys.System, "m", "p", cur(sys)).after))
}

type (
	msgA struct{ N int64 }
	msgB struct{ N int64 }
	msgC struct{ N int64 }
)

func TestShapeDeclarations(t *testing.T) {
	sys := actortest.NewSystem(t)
	s := newShapes(actor.TypeName)
	assert.False(t, s.declared.Load())
	assert.False(t, s.view(sys.System, "m", "v1", nil).checked)
	assert.Empty(t, s.senderDecl("T"))

	s.declare(version("v1", ""), []string{"T", "U"})
	s.declare(version("v2", "v1"), []string{"T", "T"})
	assert.True(t, s.declared.Load())
	assert.True(t, s.view(sys.System, "m", "v1", nil).checked, "the cache was cleared by the declaration")
	assert.False(t, s.view(sys.System, "other", "v1", nil).checked)
	assert.True(t, s.view(sys.System, "other", "v1", nil).types["int64"], "basic types, everywhere")
	assert.Equal(t, []string{"v1", "v2"}, s.declaring(sys.System, "m", "T"))
	assert.Empty(t, s.declaring(sys.System, "m", "V"))
	assert.Equal(t, []string{"T", "U"}, declared(s.view(sys.System, "m", "v2", nil)))
	assert.Equal(t, []string{"T", "U"}, declared(s.view(sys.System, "m", "v1", nil)))

	decl := s.senderDecl("T")
	assert.Equal(t, `{"m":["v1","v2"]}`, decl)
	assert.Equal(t, []string{"v1", "v2"}, s.senderDeclares(decl, "m"))
	assert.Equal(t, []string{"v1", "v2"}, s.senderDeclares(decl, "m"), "again, from the cache")
	assert.Empty(t, s.senderDeclares(decl, "other"))
	assert.Empty(t, s.senderDeclares("", "m"))
	assert.Empty(t, s.senderDeclares("{not json", "m"), "bad text is no declaration")
}

// What a version lists in its Types counts as declared, read from the
// System for a loaded version, from the declaration for a retired one.
func TestVersionTypesAreDeclarations(t *testing.T) {
	sys := actortest.NewSystem(t)
	typed := func(name, follows string, types ...any) *actor.Version {
		return actor.Define("m", name, actor.Funcs[int]{
			Follows: follows, Codec: actor.JSON, Types: types,
			Handle: func(ctx *actor.Context, s int, msg any) (int, error) { return s, nil },
		})
	}
	v1, v2, v3 := typed("v1", "", msgA{}), typed("v2", "v1", msgB{}), typed("v3", "v2", msgC{})
	for _, v := range []*actor.Version{v1, v2, v3} {
		require.NoError(t, sys.Load(v))
	}
	a, b, c := actor.TypeName(reflectType(msgA{})), actor.TypeName(reflectType(msgB{})), actor.TypeName(reflectType(msgC{}))
	s := newShapes(actor.TypeName)
	s.declare(v1, []string{a})
	assert.Equal(t, []string{a, b, c}, declared(s.view(sys.System, "m", "v3", cur(sys))),
		"v1 from its declaration (retired), v2 and v3 from the System")
	assert.Equal(t, []string{a, b}, declared(s.view(sys.System, "m", "v2", cur(sys))))
	assert.Equal(t, []string{"v2"}, s.declaring(sys.System, "m", b))
	assert.Equal(t, []string{"v3"}, s.declaring(sys.System, "m", c))
}

func TestNotAcceptedErrorSaysWhy(t *testing.T) {
	e := &NotAcceptedError{Module: "m", Version: "v1", Type: "p.T", From: "a@h", Declared: []string{"v2", "v3"}, BySender: true}
	assert.EqualError(t, e, "cluster: m@v1 does not accept p.T from a@h: it is a message of m versions v2, v3, "+
		"and v1 comes after none of them in the lineage (as the sender declares it)")
	assert.ErrorIs(t, e, ErrNotAccepted)
	// Across nodes (a call's error), it stays ErrNotAccepted.
	k, text := encodeErr(e)
	back := decodeErr("b@h", k, text)
	assert.ErrorIs(t, back, ErrNotAccepted)
	assert.EqualError(t, back, e.Error())
}

// What a node declares of a type goes with its messages, and survives
// registering the type again.
func TestCodecsCarryTheDeclaration(t *testing.T) {
	cs := newCodecs()
	require.NoError(t, cs.register(sample{}))
	typ := reflectType(sample{})
	cs.setDecl(typ, `{"m":["v2"]}`)
	require.NoError(t, cs.register(sample{}))
	name, data, decl, err := cs.encodeMessage(sample{3})
	require.NoError(t, err)
	assert.Equal(t, `{"m":["v2"]}`, decl)
	back, err := cs.decode(name, data)
	require.NoError(t, err)
	assert.Equal(t, sample{3}, back)
	_, _, decl, err = cs.encodeMessage(int64(1))
	require.NoError(t, err)
	assert.Empty(t, decl)
}

// What the check costs the bridge per message (docs/cluster.md): for a
// process of a module with declared shapes, and for one of a module
// without, of a type the sender declares for another module.
func BenchmarkShapeCheck(b *testing.B) {
	sys := actortest.NewSystem(b, actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.ErrorLevel)))
	v1, v2 := version("v1", ""), version("v2", "v1")
	require.NoError(b, sys.Load(v1))
	pid, err := sys.Spawn("m", nil)
	require.NoError(b, err)
	other := actor.Define("other", "v1", actor.Funcs[int]{
		Handle: func(ctx *actor.Context, s int, msg any) (int, error) { return s, nil },
	})
	require.NoError(b, sys.Load(other))
	opid, err := sys.Spawn("other", nil)
	require.NoError(b, err)
	n := &Node{sys: sys.System, shapes: newShapes(actor.TypeName)}
	n.shapes.declare(v1, []string{"p.Get"})
	n.shapes.declare(v2, []string{"p.Reset"})
	decl := n.shapes.senderDecl("p.Get")
	for _, c := range []struct {
		name string
		to   actor.PID
	}{{"declared", pid}, {"undeclared", opid}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if n.notAccepted(c.to, "p.Get", decl, "a@h") != nil {
					b.Fatal("refused")
				}
			}
		})
	}
}

// Checks run on the bridge and on the goroutines serving calls while
// declarations come in: run with -race (the package's other tests cannot
// be, Ergo has races of its own; this one starts no node).
func TestShapeChecksWhileDeclaring(t *testing.T) {
	sys := actortest.NewSystem(t, actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.ErrorLevel)))
	v1, v2 := version("v1", ""), version("v2", "v1")
	require.NoError(t, sys.Load(v1))
	pid, err := sys.Spawn("m", nil)
	require.NoError(t, err)
	n := &Node{sys: sys.System, shapes: newShapes(actor.TypeName)}
	n.shapes.declare(v1, []string{"p.Get"})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				assert.NoError(t, n.notAccepted(pid, "p.Get", "", "a@h"))
				assert.ErrorIs(t, n.notAccepted(pid, "p.Reset", `{"m":["v2"]}`, "a@h"), ErrNotAccepted)
			}
		})
	}
	for i := range 200 {
		n.shapes.declare(v2, []string{fmt.Sprint("p.T", i)})
	}
	wg.Wait()
	assert.Equal(t, []string{"v2"}, n.shapes.declaring(sys.System, "m", "p.T199"))
}
