package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ergo.services/ergo"
	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
	"ergo.services/ergo/net/edf"
	"ergo.services/ergo/net/handshake"
	"ergo.services/ergo/net/registrar"
	enode "ergo.services/ergo/node"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
)

// Errors of package cluster. Use errors.Is.
var (
	ErrBadOptions   = errors.New("cluster: bad options")
	ErrBadType      = errors.New("cluster: type cannot be registered")
	ErrUnregistered = errors.New("cluster: message type not registered")
	ErrDecode       = errors.New("cluster: message cannot be decoded")
	ErrUnknownNode  = errors.New("cluster: unknown node")
	ErrStopped      = errors.New("cluster: node stopped")
	ErrJoined       = errors.New("cluster: the system is attached to a node already")
)

// bridgeName is the name of the Ergo process through which a node's
// Graft traffic goes, on every node.
const bridgeName gen.Atom = "graft"

// DefaultRegistrarPort is the port of Ergo's embedded registrar (its
// default).
const DefaultRegistrarPort = 4499

// Options configure Join. Name and Cookie are required; the zero value of
// every other field is a default.
type Options struct {
	// Name is the node's name, "name@host" (Ergo's and Erlang's form).
	// Other nodes reach it through the host part, resolved by the
	// registrar (or a static route).
	Name string
	// Cookie is the shared secret of the cluster: a connection between
	// two nodes is accepted only if both have the same (Ergo's handshake
	// checks it without sending it).
	Cookie string
	// Listen is the address incoming connections are accepted on,
	// "host:port". Default: "localhost" and the first free port from
	// Ergo's default, 11144, up.
	Listen string
	// Registrar says how node names are resolved to addresses.
	Registrar Registrar
	// TLS, when set, makes every connection of this node TLS.
	TLS *TLS
	// ShutdownTimeout bounds Stop's wait for Ergo's node (default 5 s).
	ShutdownTimeout time.Duration
	// NetTickTime is how long a connection may stay silent before it is
	// declared lost (Erlang's net_ticktime): each node ticks the other
	// every quarter of it, and the far node answers; whatever Ergo's reader
	// takes from a connection counts as heard (handled yet or not), so a
	// busy node stays connected and one that hangs without closing its
	// sockets is found. Default 20 s; negative: never (a connection is lost
	// only when TCP says so).
	NetTickTime time.Duration

	// ergoOnly makes the node take every packet through its bridge
	// process, with Ergo's protocol as it comes (see inline.go), as
	// builds of Graft before this one did: for tests of the two together.
	ergoOnly bool
}

// Registrar says how nodes find each other. The default is Ergo's
// embedded registrar on port 4499: the first node on a host serves it
// (TCP on loopback, UDP for lookups), the others register with it, and
// one of them takes over if that node goes away.
type Registrar struct {
	// Port of the embedded registrar (default DefaultRegistrarPort). Nodes
	// that should find each other use the same port; tests use a free
	// port each, so that parallel runs never meet.
	Port uint16
	// ClientOnly never serves the registrar from this node.
	ClientOnly bool
	// Routes are static routes, node name → "host:port", tried before the
	// registrar.
	Routes map[string]string
	// External is another registrar (Ergo's etcd or Saturn clients); it
	// replaces the embedded one.
	External gen.Registrar
	// TakenWait is how long Join tries again while the registrar still
	// holds the node's name (default 5 s; negative: it does not): a node
	// started again at once after a crash can find its old registration,
	// until the registrar notices that the old connection has closed.
	TakenWait time.Duration
}

// TLS configures the node's connections.
type TLS struct {
	// Certificate is presented to peers.
	Certificate tls.Certificate
	// InsecureSkipVerify accepts any peer certificate (tests with
	// self-signed certificates).
	InsecureSkipVerify bool
}

// Node is a System attached to an Ergo node (Join). It is the System's way
// to processes of other nodes: once joined, Send, Call, Context.Link,
// Monitor and Exit accept their PIDs. A Node is safe for concurrent use.
// Stop detaches it; System.Shutdown stops it too.
type Node struct {
	sys    *actor.System
	name   gen.Atom
	log    *zap.Logger
	en     gen.Node
	core   gen.Core
	bridge gen.PID
	ready  atomic.Bool // the bridge is up: packets are taken (see inline.go)
	// bridged counts the packets taken through the bridge process.
	bridged atomic.Int64
	// dialProto is the protocol version this node's dials name.
	dialProto gen.Version
	creation  int64
	// incarnation tells this run of the node from any other under its
	// name (Ergo's creation counts seconds: a node restarted within the
	// second would share it). Peers learn it from the handshake (the
	// node's Version) and from every message.
	incarnation uint64
	codecs      *codecs
	shapes      *shapes
	detach      func()

	refs atomic.Uint64

	mu           sync.Mutex
	peers        []*peer                          // guarded by mu; peer idx is its position + 1
	byName       map[gen.Atom]*peer               // guarded by mu; the newest incarnation of each node
	incarnations map[incarnation]*peer            // guarded by mu; every incarnation met
	orphans      []orphan                         // guarded by mu; see reap
	handoffs     map[gen.Atom]map[string]gen.Atom // guarded by mu; see Leave
	dials        map[gen.Atom]*sync.Mutex         // guarded by mu; see getNode
	stopped      bool                             // guarded by mu

	// served are the goroutines serving remote calls and spawns, and
	// those reaching peers (reach); ctx ends the first at Stop, Ergo's
	// stop the others.
	served sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	// flushers are the goroutines shipping outboxes (see outbox); each
	// ends when its outbox is empty or its session over.
	flushers sync.WaitGroup

	stopOnce sync.Once
	stopErr  error
	stopDone chan struct{}

	// The ticker (see Options.NetTickTime) runs until tickStop closes.
	tickTime           time.Duration
	tickStop, tickDone chan struct{}
}

// peer is one incarnation of another node, as this node knows it. Its
// index is the node number in the PIDs of its processes here.
//
// A session is one Ergo connection to the peer: everything crossing to it
// is recorded under the session it was sent in (links, monitors, calls,
// unacknowledged sends), and when the connection changes — lost, or
// replaced by a new one before the loss was reported — that record is
// what ends with noconnection. Messages carry their sender's session; a
// message from an older session than one already seen from the same
// node was overtaken by the new connection and is dropped (its sender
// reports it), so nothing arrives out of order.
//
// The sends of a session that ended unacknowledged wait in limbo until
// the peer says how far it took them. The peer can say so exactly only
// session by session: it takes a prefix of each of this node's sessions
// (in the order sent), and nothing of one once it has seen a newer one,
// but its own sessions need not line up with this node's (it may have
// taken a session's sends with no connection of its own left, or never
// seen a session at all). So this node asks, for each session in limbo,
// on every new session and at every tick until answered (kTakenAsk), and
// the peer answers with the newest send it took in that session
// (kTaken), from the record it keeps of the sessions it took sends in
// (took).
type peer struct {
	// recv is held while a packet of the peer is taken (see receive).
	recv        sync.Mutex
	idx         uint32
	name        gen.Atom
	creation    int64  // Ergo's, in seconds: orders incarnations
	incarnation uint64 // tells this run of the node from others
	gone        bool   // a newer incarnation replaced it: its PIDs are dead

	// Guarded by Node.mu.
	conn     gen.RemoteNode           // the connection of the current session; nil: none
	session  uint64                   // sessions so far: this node's, numbered per peer
	rsession uint64                   // the peer's newest session seen
	rdead    uint64                   // the peer's sessions up to this one are over
	watched  bool                     // the bridge monitors the connection
	links    map[pidPair]struct{}     // local, remote
	monitors map[actor.Ref]pidPair    // local ref → local owner, remote target
	watchers map[actor.Ref]actor.PID  // a remote process's ref → local target
	calls    map[uint64]chan callDone // calls and spawns waiting for an answer
	unacked  sentQueue                // sends not yet acknowledged, oldest first
	// limbo holds the unacknowledged sends of ended sessions, oldest
	// session first, until the peer says how far it took each session's
	// (askTaken), or until the tick time passes with no connection to the
	// peer, none to be made (it is taken for dead, see reach): then they
	// are dead letters.
	limbo    []limboSends
	limboAt  time.Time // when the newest session ended
	reaching bool      // reach is connecting to ask
	// took is, for each of the peer's sessions this node took sends in
	// before its newest (tookSession), the newest send taken in it;
	// tookSeq is the newest taken in tookSession. The peer's asks say
	// which sessions it may still ask about.
	took        map[uint64]uint64
	tookSession uint64
	tookSeq     uint64
	seq         uint64    // sends so far
	lastHeard   time.Time // when this node last heard from the peer (see ticker)
	lastIn      uint64    // the connection's count of packets in, then
	ackSeq      uint64    // the newest send taken from the peer
	ackSent     uint64    // the newest acknowledged
	ackPending  bool      // a flushAcks is queued
	out         outbox    // frames for the current session, not yet sent
}

// limboSends are the sends of an ended session not acknowledged when it
// ended.
type limboSends struct {
	session uint64
	sends   []sent
}

// dropLimboLocked empties the limbo and returns its sends.
func (p *peer) dropLimboLocked() []sent {
	var all []sent
	for _, l := range p.limbo {
		all = append(all, l.sends...)
	}
	p.limbo = nil
	return all
}

// tookLocked records that this node took send seq of the peer's session.
func (p *peer) tookLocked(session, seq uint64) {
	if session != p.tookSession {
		if p.tookSession != 0 {
			p.took[p.tookSession] = p.tookSeq
		}
		p.tookSession = session
	}
	p.tookSeq = seq
}

// takenInLocked is the newest send taken in the peer's session (0: none).
// Final once a newer session of the peer has been seen: nothing of an
// older one is taken after that (see taking).
func (p *peer) takenInLocked(session uint64) uint64 {
	if session == p.tookSession {
		return p.tookSeq
	}
	return p.took[session]
}

// lost is what a session left when it ended.
type lost struct {
	links    map[pidPair]struct{}
	monitors map[actor.Ref]pidPair
	watchers map[actor.Ref]actor.PID
	calls    map[uint64]chan callDone
	unacked  []sent
}

// forgetTakenLocked drops the record of the peer's sessions before
// oldest: it will not ask about them.
func (p *peer) forgetTakenLocked(oldest uint64) {
	for s := range p.took {
		if s < oldest {
			delete(p.took, s)
		}
	}
}

// takeLocked ends the current session's record and returns it. Its
// unacknowledged sends wait in limbo for the peer's word (see peer),
// unless final: the peer is gone, or this node stops.
func (p *peer) takeLocked(final bool) lost {
	l := lost{links: p.links, monitors: p.monitors, watchers: p.watchers, calls: p.calls}
	if unacked := p.unacked.take(); len(unacked) > 0 {
		p.limbo = append(p.limbo, limboSends{session: p.session, sends: unacked})
	}
	p.limboAt = time.Now()
	if final {
		l.unacked = p.dropLimboLocked()
	}
	p.links, p.monitors = make(map[pidPair]struct{}), make(map[actor.Ref]pidPair)
	p.watchers, p.calls = make(map[actor.Ref]actor.PID), make(map[uint64]chan callDone)
	p.watched = false
	return l
}

type pidPair struct{ local, remote actor.PID }

type sent struct {
	seq uint64
	to  actor.PID
	msg any
}

type callDone struct {
	w   wire
	err error // set when no answer came: the connection was lost
}

// startErgo starts the Ergo node, then its network with a registrar of
// its own for each attempt, and tries again while the registrar holds the
// name (Ergo says so only in its error's text), for up to wait (default
// 5 s; negative: once), backing off from 10 ms to 500 ms. The network
// starts after the node so that a failed attempt can be undone: Ergo
// leaves the acceptors of a network that failed to start open.
func startErgo(name gen.Atom, nopts gen.NodeOptions, newRegistrar func() gen.Registrar, wait time.Duration) (gen.Node, error) {
	if wait == 0 {
		wait = 5 * time.Second
	}
	netOpts := nopts.Network
	nopts.Network = gen.NetworkOptions{Mode: gen.NetworkModeDisabled}
	deadline, pause := time.Now().Add(wait), 10*time.Millisecond
	for {
		en, err := enode.Start(name, nopts, ergo.FrameworkVersion)
		if err != nil {
			return nil, err
		}
		netOpts.Registrar = newRegistrar()
		err = en.NetworkStart(netOpts)
		if err == nil {
			return en, nil
		}
		_ = en.NetworkStop()
		en.StopForce()
		if !strings.Contains(err.Error(), gen.ErrTaken.Error()) || time.Now().Add(pause).After(deadline) {
			return nil, err
		}
		time.Sleep(pause)
		pause = min(2*pause, 500*time.Millisecond)
	}
}

// Join attaches sys to a new Ergo node: it starts the node with its
// network (acceptor, registrar, handshake with the cookie) and a bridge
// process, and attaches itself to sys as its Remote (see actor.Remote).
// A System joins one node at a time (ErrJoined).
func Join(sys *actor.System, opts Options) (*Node, error) {
	if sys == nil {
		return nil, fmt.Errorf("%w: nil system", ErrBadOptions)
	}
	if err := checkName(opts.Name); err != nil {
		return nil, err
	}
	if opts.Cookie == "" {
		return nil, fmt.Errorf("%w: empty cookie", ErrBadOptions)
	}
	acc := gen.AcceptorOptions{Host: "localhost"}
	if opts.Listen != "" {
		host, port, err := net.SplitHostPort(opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("%w: listen %q: %v", ErrBadOptions, opts.Listen, err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("%w: listen %q: want a port in 1..65535", ErrBadOptions, opts.Listen)
		}
		if host != "" {
			acc.Host = host
		}
		acc.Port, acc.PortRange = uint16(p), uint16(p)
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 5 * time.Second
	}
	if opts.NetTickTime == 0 {
		opts.NetTickTime = 20 * time.Second
	}
	if err := registerWire(); err != nil {
		return nil, err
	}

	n := &Node{
		incarnation:  randIncarnation(),
		tickTime:     opts.NetTickTime,
		tickStop:     make(chan struct{}),
		tickDone:     make(chan struct{}),
		sys:          sys,
		name:         gen.Atom(opts.Name),
		log:          sys.Logger().With(zap.String("node", opts.Name)),
		codecs:       newCodecs(),
		byName:       make(map[gen.Atom]*peer),
		incarnations: make(map[incarnation]*peer),
		handoffs:     make(map[gen.Atom]map[string]gen.Atom),
		dials:        make(map[gen.Atom]*sync.Mutex),
		stopDone:     make(chan struct{}),
	}
	for _, v := range []any{upgradeReq{}, upgradeAns{}} {
		if err := n.codecs.register(v); err != nil {
			return nil, err
		}
	}
	n.shapes = newShapes(n.wireName)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	detach, err := sys.AttachRemote(remote{n})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJoined, err)
	}
	n.detach = detach

	newRegistrar := func() gen.Registrar {
		if opts.Registrar.External != nil {
			return opts.Registrar.External
		}
		port := opts.Registrar.Port
		if port == 0 {
			port = DefaultRegistrarPort
		}
		return registrar.Create(registrar.Options{Port: port, DisableServer: opts.Registrar.ClientOnly})
	}
	nopts := gen.NodeOptions{
		Version:         gen.Version{Name: "graft", Release: releaseOf(n.incarnation)},
		ShutdownTimeout: opts.ShutdownTimeout,
		Network: gen.NetworkOptions{
			Mode:   gen.NetworkModeEnabled,
			Cookie: opts.Cookie,
			// One TCP connection per pair of nodes, not Ergo's pool of
			// three: Ergo picks a pool member by the sender, modulo the
			// pool's size, and the pool grows after the first message, so
			// two messages from one sender could take two connections and
			// overtake each other. With one, what a node sends to another
			// arrives in the order sent.
			Handshake: handshake.Create(handshake.Options{PoolSize: 1}),
			Acceptors: []gen.AcceptorOptions{acc},
		},
		Log: gen.LogOptions{
			Level:         gen.LogLevelWarning,
			DefaultLogger: gen.DefaultLoggerOptions{Disable: true},
			Loggers:       []gen.Logger{{Name: "graft", Logger: zapLogger{n.log}}},
		},
	}
	if !opts.ergoOnly {
		nopts.Network.Proto = newInlineProto(n, false) // see inline.go
	}
	if opts.TLS != nil {
		nopts.CertManager = gen.CreateCertManager(opts.TLS.Certificate)
		nopts.Network.InsecureSkipVerify = opts.TLS.InsecureSkipVerify
	}
	en, err := startErgo(n.name, nopts, newRegistrar, opts.Registrar.TakenWait)
	if err != nil {
		detach()
		return nil, fmt.Errorf("cluster: start node %s: %w", opts.Name, err)
	}
	n.en = en
	if err := n.routeDials(opts.ergoOnly); err != nil {
		n.stopErgo()
		detach()
		return nil, fmt.Errorf("cluster: start node %s: %w", opts.Name, err)
	}
	core, ok := en.(gen.Core)
	if !ok {
		en.StopForce()
		detach()
		return nil, errors.New("cluster: this Ergo node does not route messages as gen.Core")
	}
	n.core = core
	n.creation = core.Creation()
	if got, ok := incarnationOf(en.Version()); !ok || got != n.incarnation {
		n.stopErgo()
		detach()
		return nil, errors.New("cluster: the node's version does not carry its incarnation")
	}
	for name, addr := range opts.Registrar.Routes {
		host, port, err := net.SplitHostPort(addr)
		p, perr := strconv.ParseUint(port, 10, 16)
		if err != nil || perr != nil {
			n.stopErgo()
			return nil, fmt.Errorf("%w: route %s → %q: want host:port", ErrBadOptions, name, addr)
		}
		route := gen.NetworkRoute{Route: gen.Route{Host: host, Port: uint16(p), TLS: opts.TLS != nil,
			ProtoVersion: n.dialProto}, Cookie: opts.Cookie}
		if err := en.Network().AddRoute(name, route, 100); err != nil {
			n.stopErgo()
			return nil, fmt.Errorf("%w: route %s: %v", ErrBadOptions, name, err)
		}
	}
	pid, err := en.SpawnRegister(bridgeName, func() gen.ProcessBehavior { return &bridge{n: n} }, gen.ProcessOptions{})
	if err != nil {
		n.stopErgo()
		return nil, fmt.Errorf("cluster: start the bridge process: %w", err)
	}
	n.bridge = pid
	n.ready.Store(true)
	if err := loadOnce(sys, remoteChildVersion); err != nil {
		n.stopErgo()
		return nil, fmt.Errorf("cluster: load %s: %w", RemoteChildModule, err)
	}
	if n.tickTime > 0 {
		go n.ticker()
	} else {
		close(n.tickDone)
	}
	slotOf(sys).n.Store(n)
	sys.OnShutdown(func(ctx context.Context) { _ = n.Stop(ctx) })
	// Ergo's node may stop on its own (its SIGINT/SIGTERM handler, see
	// docs/cluster.md): the Node then stops too, so that what crossed to
	// other nodes ends with noconnection instead of waiting forever.
	go func() {
		en.Wait()
		_ = n.Stop(context.Background())
	}()
	n.log.Info("joined", zap.Stringer("ergo", pid))
	return n, nil
}

var wireOnce = sync.OnceValue(func() error {
	if err := edf.RegisterTypeOf(packet{}); err != nil && !errors.Is(err, gen.ErrTaken) {
		return fmt.Errorf("cluster: register the packet type with EDF: %w", err)
	}
	return nil
})

func registerWire() error { return wireOnce() }

// Name returns the node's name.
func (n *Node) Name() string { return string(n.name) }

// System returns the System the node is attached to.
func (n *Node) System() *actor.System { return n.sys }

// Register makes the types of samples able to cross nodes, with Ergo's
// EDF codec: a named type (struct fields exported, of native or
// registered types; register nested types first), never a pointer. Every
// node that sends or receives a type registers it; a Send of an
// unregistered type fails at the sender with ErrUnregistered. Strings,
// bools, int, int32, int64, uint32, uint64, float64 and []byte need no
// registration. A type registered this way belongs to no version: to
// declare it a message shape of a module's version, use RegisterMessages.
func (n *Node) Register(samples ...any) error {
	for _, v := range samples {
		if err := n.codecs.register(v); err != nil {
			return err
		}
	}
	return nil
}

// RegisterCodec makes the type of sample cross nodes under name, encoded
// by c.
func (n *Node) RegisterCodec(sample any, name string, c Codec) error {
	if sample == nil || name == "" || c == nil {
		return fmt.Errorf("%w: RegisterCodec needs a sample, a name and a codec", ErrBadType)
	}
	return n.codecs.add(codecEntry{name: name, typ: reflectType(sample), c: c})
}

// NodeOf returns the name of the node pid lives on.
func (n *Node) NodeOf(pid actor.PID) (string, error) {
	if pid.Node() == 0 {
		return string(n.name), nil
	}
	p, err := n.peerAt(pid.Node())
	if err != nil {
		return "", err
	}
	return string(p.name), nil
}

// Nodes returns the names of the nodes this node is connected to.
func (n *Node) Nodes() []string {
	var out []string
	for _, a := range n.en.Network().Nodes() {
		out = append(out, string(a))
	}
	return out
}

// Disconnect closes the connection to node, as a network failure would:
// both ends see it lost (links and monitors across it fire with
// noconnection), and the next request to node connects again.
func (n *Node) Disconnect(node string) error {
	rn, err := n.en.Network().Node(gen.Atom(node))
	if err != nil {
		return fmt.Errorf("cluster: disconnect %s: %w", node, actor.NoConnection)
	}
	rn.Disconnect()
	return nil
}

// Stop detaches the node from its System and stops the Ergo node. Links
// and monitors across nodes fire with noconnection, on this node and on
// the others; calls waiting for other nodes fail. It may be called more
// than once, and waits until the node has stopped or ctx ends.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() {
		go func() {
			defer close(n.stopDone)
			n.detach()
			slotOf(n.sys).n.CompareAndSwap(n, nil)
			n.mu.Lock()
			n.stopped = true
			peers := append([]*peer(nil), n.peers...)
			n.mu.Unlock()
			for _, p := range peers {
				n.switchConn(p, nil, false)
				n.mu.Lock()
				limbo := p.dropLimboLocked()
				n.mu.Unlock()
				n.lostSends(p, limbo)
			}
			n.cancel()
			select {
			case <-n.tickStop:
			default:
				close(n.tickStop)
			}
			<-n.tickDone
			n.stopErgo()
			n.served.Wait()
			n.flushers.Wait()
		}()
	})
	select {
	case <-n.stopDone:
		return n.stopErr
	case <-ctx.Done():
		return fmt.Errorf("cluster: stop %s: %w", n.name, ctx.Err())
	}
}

func (n *Node) stopErgo() {
	n.en.Stop()
	n.en.Wait()
}

// peerAt returns the peer numbered idx.
func (n *Node) peerAt(idx uint32) (*peer, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if idx == 0 || int(idx) > len(n.peers) {
		return nil, fmt.Errorf("%w: no node numbered %d", ErrUnknownNode, idx)
	}
	return n.peers[idx-1], nil
}

// peerOfLocked returns the peer for node name in incarnation inc (started
// at creation),
// numbering it if it is new; a newer incarnation makes the older one gone.
//
// A node met in a newer incarnation means the older one is gone: what
// crossed to it ends as a lost connection does, once the caller has let go
// of the lock (reap).
func (n *Node) peerOfLocked(name gen.Atom, creation int64, inc uint64) *peer {
	if p := n.incarnations[incarnation{name, inc}]; p != nil {
		return p
	}
	p := n.newPeerLocked(name, creation, inc)
	n.incarnations[incarnation{name, inc}] = p
	old := n.byName[name]
	if old != nil && old.creation > creation {
		p.gone = true // an older incarnation, met late: dead already
		return p
	}
	n.byName[name] = p
	delete(n.handoffs, name) // it joined again: its names are its own
	if old != nil {
		old.gone = true
		if old.conn != nil {
			old.conn = nil
			n.orphans = append(n.orphans, orphan{old, old.takeLocked(true)})
		}
	}
	return p
}

type incarnation struct {
	name gen.Atom
	inc  uint64
}

type orphan struct {
	p *peer
	l lost
}

// reap ends what crossed to node incarnations found gone.
func (n *Node) reap() {
	n.mu.Lock()
	orphans := n.orphans
	n.orphans = nil
	n.mu.Unlock()
	for _, o := range orphans {
		n.connectionLost(o.p, o.l)
	}
}

func (n *Node) newPeerLocked(name gen.Atom, creation int64, inc uint64) *peer {
	p := &peer{
		idx: uint32(len(n.peers) + 1), name: name, creation: creation, incarnation: inc,
		links: make(map[pidPair]struct{}), monitors: make(map[actor.Ref]pidPair),
		watchers: make(map[actor.Ref]actor.PID), calls: make(map[uint64]chan callDone),
		took: make(map[uint64]uint64),
	}
	p.out.room = sync.NewCond(&n.mu)
	n.peers = append(n.peers, p)
	return p
}

// connect returns the peer for node name, connecting if needed (through
// the registrar or a route), and has the bridge watch the connection.
func (n *Node) connect(name gen.Atom) (*peer, error) {
	if name == n.name {
		return nil, fmt.Errorf("cluster: %s is this node", name)
	}
	n.mu.Lock()
	stopped := n.stopped
	n.mu.Unlock()
	if stopped {
		return nil, ErrStopped
	}
	rn, err := n.getNode(name)
	if err != nil {
		return nil, fmt.Errorf("cluster: node %s: %w (%v)", name, actor.NoConnection, err)
	}
	inc, ok := incarnationOf(rn.Version())
	if !ok {
		return nil, fmt.Errorf("cluster: node %s is not a Graft node that reads packets (its version is %v)", name, rn.Version())
	}
	n.mu.Lock()
	p := n.peerOfLocked(name, rn.Creation(), inc)
	n.mu.Unlock()
	n.reap()
	n.switchConn(p, rn, false)
	n.mu.Lock()
	ask := !p.watched
	p.watched = true
	n.mu.Unlock()
	if ask {
		// The bridge monitors the connection from its own goroutine (Ergo
		// allows no other); if it is lost before, the bridge finds out
		// when it asks. Nothing goes until it has (see watchNow).
		n.watchNow(nil, name)
	}
	return p, nil
}

// getNode returns Ergo's connection to name, dialing if there is none,
// one dial at a time per node. Ergo does not serialize them: two dials at
// once can each complete a handshake, the far node keeping the first
// connection and refusing the second's link, while this node keeps the
// second, which then redials without end and carries nothing until the
// tick ends it (senders after a lost connection all dial at once;
// TestConcurrentDials). Dials from both ends at once can still cross;
// the tick ends those too. The bridge never dials (see bridge.watch).
func (n *Node) getNode(name gen.Atom) (gen.RemoteNode, error) {
	if rn, err := n.en.Network().Node(name); err == nil {
		return rn, nil
	}
	n.mu.Lock()
	d := n.dials[name]
	if d == nil {
		d = new(sync.Mutex)
		n.dials[name] = d
	}
	n.mu.Unlock()
	d.Lock()
	defer d.Unlock()
	return n.en.Network().GetNode(name)
}

// switchConn makes cur (nil: none) the connection of p's session. If it
// replaces another, that session is over: what it carried ends as a lost
// connection does (connectionLost). With renew, the session ends and a
// new one starts even if cur is the connection it had: the peer has
// ended its side of the session (see endedAtPeer).
func (n *Node) switchConn(p *peer, cur gen.RemoteNode, renew bool) {
	n.switchSession(p, cur, renew, nil)
}

// endedBy says that the peer holds this node's sessions up to over
// ended: it ended the session it had with one of them (see askTaken).
// The peer's session live, which said so, is not over.
type endedBy struct{ over, live uint64 }

// switchSession is switchConn; with e, it renews only if this node's
// current session is one the peer holds ended (e.over), and the peer's
// session e.live stays live.
func (n *Node) switchSession(p *peer, cur gen.RemoteNode, renew bool, e *endedBy) {
	n.mu.Lock()
	if p.conn == cur && (!renew || cur == nil) || e != nil && (p.conn == nil || p.session > e.over) {
		n.mu.Unlock()
		return
	}
	old := p.conn
	var l lost
	if old != nil {
		// The peer's session on the old connection is over too: what
		// still arrives from it is stale (its sender reports it).
		dead := p.rsession
		if e != nil {
			dead = min(dead, e.live-1)
		}
		p.rdead = max(p.rdead, dead)
		// Before the next session is numbered: its sends in limbo go by
		// the session they were sent in.
		l = p.takeLocked(n.stopped)
	}
	// What waits in the outbox was for the session that ends (see
	// outbox.discardLocked): its sends are in that session's record,
	// now in limbo, and the peer never takes them.
	p.out.discardLocked()
	p.conn = cur
	if cur != nil {
		p.session++
		p.lastHeard, p.lastIn = time.Now(), 0
	}
	session := p.session
	limbo, ackSeq := len(p.limbo), p.ackSeq
	n.mu.Unlock()
	if ce := n.log.Check(zap.DebugLevel, "session"); ce != nil {
		ce.Write(zap.String("peer", string(p.name)), zap.Uint64("session", session), zap.Bool("connected", cur != nil),
			zap.Int("limbo", limbo), zap.Uint64("taken", ackSeq))
	}
	if old != nil {
		n.connectionLost(p, l)
	}
	if cur != nil {
		// A new session: this node asks how far the peer took the sends
		// in limbo.
		n.askTaken(p)
	}
}

// route returns the peer of a remote PID, connected: at once when its
// connection is up, else through connect.
func (n *Node) route(pid actor.PID) (*peer, error) {
	idx := pid.Node()
	n.mu.Lock()
	if idx == 0 || int(idx) > len(n.peers) {
		n.mu.Unlock()
		return nil, fmt.Errorf("%w: no node numbered %d", ErrUnknownNode, idx)
	}
	p := n.peers[idx-1]
	gone, up, stopped := p.gone, p.conn != nil && p.watched, n.stopped
	n.mu.Unlock()
	switch {
	case stopped:
		return nil, ErrStopped
	case gone:
		// Its node restarted since: the process is gone with it.
		return nil, actor.NoProc
	case up:
		return p, nil
	}
	q, err := n.connect(p.name)
	if err != nil {
		return nil, err
	}
	if q != p {
		return nil, actor.NoProc
	}
	return p, nil
}

// send queues w for p's node, in session (0: the current one), and
// flushes it in line when no flusher runs (see outbox); a session that
// has ended sends nothing (what it recorded was ended as a lost
// connection), and without a connection nothing is sent: answers
// (replies, acknowledgements) never connect, so that the two ends of a
// lost connection do not dial each other at once (Ergo may then keep a
// connection one end has refused). Everything this node sends another
// goes through the peer's outbox, in packets from the bridge, with
// Ergo's network order kept, on the one connection between the two
// nodes, and Ergo's receiving end queues it by that order: it arrives in
// the order sent.
func (n *Node) send(p *peer, session uint64, w wire) error {
	n.mu.Lock()
	if p.conn == nil || n.stopped || (session != 0 && session != p.session) {
		n.mu.Unlock()
		return fmt.Errorf("cluster: node %s: %w", p.name, actor.NoConnection)
	}
	inLine := n.enqueueLocked(p, &w, flushInLine)
	n.mu.Unlock()
	if inLine {
		n.flush(p, true)
	}
	return nil
}

// connectionLost ends what a session of p carried: links get exit signals
// and monitors Downs with noconnection, monitors held from there are
// dropped, calls waiting for an answer fail, and (when the session's
// unacknowledged sends are final) those sends are dead letters with
// reason noconnection.
func (n *Node) connectionLost(p *peer, l lost) {
	if len(l.links)+len(l.monitors)+len(l.watchers)+len(l.calls) > 0 {
		n.log.Warn("connection lost", zap.String("peer", string(p.name)), zap.Int("links", len(l.links)),
			zap.Int("monitors", len(l.monitors)), zap.Int("calls", len(l.calls)))
	}
	n.sys.Emit(ConnectionLost{Node: string(p.name), Links: len(l.links), Monitors: len(l.monitors) + len(l.watchers), Calls: len(l.calls)})
	n.lostSends(p, l.unacked)
	for k := range l.links {
		_ = n.sys.RemoteExit(k.remote, k.local, actor.NoConnection, true)
	}
	for ref, m := range l.monitors {
		n.sys.RemoteDown(m.remote, m.local, ref, actor.NoConnection)
	}
	for ref, to := range l.watchers {
		n.sys.RemoteDemonitor(to, ref)
	}
	for _, ch := range l.calls {
		ch <- callDone{err: actor.NoConnection}
	}
}

// nodeDown is the bridge's report that a connection to name is lost. If
// Ergo has connected again meanwhile and this node's session already uses
// the new connection, the report is about an earlier session, ended
// already.
func (n *Node) nodeDown(name gen.Atom) {
	n.mu.Lock()
	p := n.byName[name]
	n.mu.Unlock()
	if p == nil {
		return
	}
	var cur gen.RemoteNode
	if rn, err := n.en.Network().Node(name); err == nil {
		cur = rn
	}
	n.switchConn(p, cur, false)
}

// watchNode asks the bridge to monitor a connection, and closes done once
// it has.
type watchNode struct {
	name gen.Atom
	done chan struct{}
}

// bridge is the node's Ergo process: the address other nodes send their
// packets to (taken where Ergo decodes them, see inline.go, but for
// connections with Ergo's plain protocol, whose packets it takes), the
// watcher of connections, the sender of acknowledgements. It handles one
// message at a time, in arrival order, and never blocks: calls go to
// their processes as requests, spawns and lookups are served on
// goroutines of their own.
type bridge struct {
	act.Actor
	n *Node
}

func (b *bridge) HandleMessage(from gen.PID, message any) error {
	switch m := message.(type) {
	case packet:
		b.n.bridged.Add(1)
		b.n.receive(b, from, m)
	case watchNode:
		b.watch(m.name)
		close(m.done)
	case gen.MessageDownNode:
		b.n.nodeDown(m.Name)
	case flushAcks:
		b.n.flushAcks(m.p)
	}
	return nil
}

// watch monitors the connection to name. Ergo's MonitorNode dials when
// there is none, which must not happen here, beside getNode's one at a time:
// a connection gone before the bridge could watch it ends the session,
// and the next request connects again.
func (b *bridge) watch(name gen.Atom) {
	if _, err := b.n.en.Network().Node(name); err != nil {
		b.n.nodeDown(name)
		return
	}
	if err := b.MonitorNode(name); err != nil && !errors.Is(err, gen.ErrTargetExist) {
		b.n.nodeDown(name)
	}
}

func (b *bridge) Terminate(reason error) {}

// zapLogger writes Ergo's log into the System's logger.
type zapLogger struct{ log *zap.Logger }

func (z zapLogger) Log(m gen.MessageLog) {
	msg := fmt.Sprintf(m.Format, m.Args...)
	switch m.Level {
	case gen.LogLevelError, gen.LogLevelPanic:
		z.log.Error("ergo: " + msg)
	case gen.LogLevelWarning:
		z.log.Warn("ergo: " + msg)
	default:
		z.log.Debug("ergo: " + msg)
	}
}

func (zapLogger) Terminate() {}

// ticker checks the connections every quarter of the tick time: each is
// sent a tick, which the far node's bridge answers ahead of the messages
// queued for it (both go with Ergo's high priority), and one from which
// nothing has been heard for the whole tick time is declared lost
// (closed, and its session ended). A node that is merely busy still
// answers its ticks; one that hangs does not. Wall-clock time: the
// network's, not the System's clock.
func (n *Node) ticker() {
	defer close(n.tickDone)
	t := time.NewTicker(n.tickTime / 4)
	defer t.Stop()
	for {
		select {
		case <-n.tickStop:
			return
		case now := <-t.C:
			n.tick(now)
		}
	}
}

func (n *Node) tick(now time.Time) {
	var dead, alive, ask, reach []*peer
	type limboOf struct {
		p *peer
		s []sent
	}
	var expired []limboOf
	n.mu.Lock()
	for _, p := range n.peers {
		// Sends in limbo wait for the peer's word, asked for on every new
		// connection and again at every tick while one is up; without a
		// connection, this node connects to ask (reach), and if none is
		// made for the tick time, the peer is taken for dead.
		if len(p.limbo) > 0 && p.conn == nil {
			switch {
			case now.Sub(p.limboAt) > n.tickTime:
				expired = append(expired, limboOf{p, p.dropLimboLocked()})
			case !p.reaching && !p.gone && !n.stopped:
				p.reaching = true
				reach = append(reach, p)
			}
		}
		if p.conn != nil {
			// Anything Ergo's reader has taken from the connection counts,
			// decoded or not: a node whose packets wait behind a backlog
			// here is not silent.
			if in := p.conn.Info().MessagesIn; in != p.lastIn {
				p.lastIn, p.lastHeard = in, now
			}
		}
		switch {
		case p.conn == nil || p.gone:
		case now.Sub(p.lastHeard) > n.tickTime:
			dead = append(dead, p)
		default:
			alive = append(alive, p)
			if len(p.limbo) > 0 {
				ask = append(ask, p)
			}
		}
	}
	n.mu.Unlock()
	for _, e := range expired {
		n.lostSends(e.p, e.s)
	}
	for _, p := range reach {
		n.served.Add(1)
		go n.reach(p)
	}
	for _, p := range dead {
		n.log.Warn("connection silent: declared lost", zap.String("peer", string(p.name)), zap.Duration("net_tick_time", n.tickTime))
		n.mu.Lock()
		conn := p.conn
		n.mu.Unlock()
		if conn != nil {
			conn.Disconnect()
		}
		n.switchConn(p, nil, false)
	}
	for _, p := range alive {
		_ = n.sendUrgent(p, wire{Kind: kTick})
	}
	for _, p := range ask {
		n.askTaken(p)
	}
}

// reach connects to p, which has sends of this node in limbo and no
// connection: the new session asks for its word. Otherwise a node that
// nothing else connects to again would be taken for dead at the tick
// time even if it is alive, and what it took of the sends in limbo would
// be counted twice: handled there, dead letters here. On a goroutine of
// its own (a dial can take seconds), ended at Stop as those serving
// calls are.
func (n *Node) reach(p *peer) {
	defer n.served.Done()
	if _, err := n.connect(p.name); err != nil {
		if ce := n.log.Check(zap.DebugLevel, "cannot reach a node to ask about sends in limbo"); ce != nil {
			ce.Write(zap.String("peer", string(p.name)), zap.Error(err))
		}
	}
	n.mu.Lock()
	p.reaching = false
	n.mu.Unlock()
}

// sendUrgent sends w in the current session with Ergo's high priority, in
// a packet of its own, past the outbox: the far bridge takes it ahead of
// the messages queued for it. Only for what carries no order with them
// (ticks and their answers).
func (n *Node) sendUrgent(p *peer, w wire) error {
	n.mu.Lock()
	conn, cur := p.conn, p.session
	n.mu.Unlock()
	if conn == nil {
		return fmt.Errorf("cluster: node %s: %w", p.name, actor.NoConnection)
	}
	var fw frameWriter
	fw.add(&w)
	err := n.transmit(p, conn, cur, fw.b, gen.MessagePriorityHigh)
	if err != nil {
		n.transmitFailed(p, conn, err)
	}
	return err
}

// lostSends reports sends lost with a connection as dead letters with
// reason noconnection.
func (n *Node) lostSends(p *peer, ss []sent) {
	count := 0
	for _, s := range ss {
		if s.msg != nil {
			n.sys.Undeliverable(s.to, s.msg, actor.NoConnection)
			count++
		}
	}
	if count > 0 {
		n.log.Warn("sends lost with a connection", zap.String("peer", string(p.name)), zap.Int("dead_letters", count))
		n.sys.Emit(SendsLost{Node: string(p.name), Count: count})
	}
}

// askTaken asks p, for each session of this node whose sends are in
// limbo, how far it took them (kTakenAsk: Ref the session, To the oldest
// session this node may still ask about; p forgets what it recorded of
// those before, and answers with kTaken). With nothing in limbo, it only
// tells p what to forget. Every ask also says which of p's sessions this
// node holds ended (From, see endedAtPeer), and goes in the session it
// was made for only: every new session asks. Answers are idempotent: an
// ask or an answer lost with a connection is asked again on the next,
// and at every tick.
// Not ahead of the messages queued at p, as ticks go: p takes nothing of
// a session once it has seen a newer one, so an ask that overtook them
// would have p drop the sends of the ended session still queued there.
func (n *Node) askTaken(p *peer) {
	n.mu.Lock()
	session, over := p.session, p.rdead
	oldest := session
	sessions := make([]uint64, 0, len(p.limbo))
	for _, l := range p.limbo {
		sessions = append(sessions, l.session)
	}
	if len(sessions) > 0 {
		oldest = sessions[0]
	}
	n.mu.Unlock()
	if len(sessions) == 0 {
		if oldest > 1 {
			_ = n.send(p, session, wire{Kind: kTakenAsk, From: over, To: oldest})
		}
		return
	}
	for _, s := range sessions {
		err := n.send(p, session, wire{Kind: kTakenAsk, From: over, Ref: s, To: oldest})
		if ce := n.log.Check(zap.DebugLevel, "asked how far sends were taken"); ce != nil {
			ce.Write(zap.String("peer", string(p.name)), zap.Uint64("session", s), zap.Error(err))
		}
	}
}

// endedAtPeer ends this node's current session with p if p holds it
// ended (w, p's kTakenAsk, says which of this node's sessions p holds
// ended: p drops what they send), even if Ergo has the same connection
// for the next: p ended the session it had with it (it saw that
// connection lost, or silent). p's session w came in is p's next, not
// over. A session p started because it saw a new one of this node's
// holds only this node's sessions before that one ended: it ends
// nothing here, however late it arrives.
func (n *Node) endedAtPeer(p *peer, w wire) {
	if w.From == 0 {
		return
	}
	n.mu.Lock()
	ended := p.conn != nil && p.session <= w.From
	n.mu.Unlock()
	if !ended {
		return
	}
	if rn, err := n.en.Network().Node(p.name); err == nil {
		n.switchSession(p, rn, true, &endedBy{over: w.From, live: w.Session})
	}
}

// answerTaken answers p's kTakenAsk w: the newest send taken in the
// session asked about. w arrived in a newer session of p (see taking),
// so the answer is final.
func (n *Node) answerTaken(p *peer, w wire) {
	n.mu.Lock()
	p.forgetTakenLocked(w.To)
	seq := p.takenInLocked(w.Ref)
	n.mu.Unlock()
	if w.Ref != 0 {
		_ = n.send(p, 0, wire{Kind: kTaken, Ref: seq, To: w.Ref})
	}
}

// settleLimbo settles the sends in limbo for p from this node's session:
// those up to seq were taken by p (handled there, or dead letters there);
// the rest are lost.
func (n *Node) settleLimbo(p *peer, session, seq uint64) {
	n.mu.Lock()
	var sends []sent
	for i, l := range p.limbo {
		if l.session == session {
			sends = l.sends
			p.limbo = append(p.limbo[:i:i], p.limbo[i+1:]...)
			break
		}
	}
	n.mu.Unlock()
	var lostOnes []sent
	for _, s := range sends {
		if s.seq > seq {
			lostOnes = append(lostOnes, s)
		}
	}
	if ce := n.log.Check(zap.DebugLevel, "limbo settled"); ce != nil {
		ce.Write(zap.String("peer", string(p.name)), zap.Uint64("session", session), zap.Uint64("seq", seq),
			zap.Int("taken", len(sends)-len(lostOnes)), zap.Int("lost", len(lostOnes)))
	}
	n.lostSends(p, lostOnes)
}

// Events the node reports through its System (actor.System.Subscribe).
type (
	// ConnectionLost: a connection to Node ended (lost, closed, replaced,
	// or the node stopped); Links, Monitors and Calls crossed it and were
	// ended with noconnection.
	ConnectionLost struct {
		Node                   string
		Links, Monitors, Calls int
	}
	// SendsLost: Count messages sent to Node were reported as dead
	// letters with reason noconnection: the connection they were sent on
	// was lost before Node took them.
	SendsLost struct {
		Node  string
		Count int
	}
)

// loadOnce makes v current in sys unless it is already.
func loadOnce(sys *actor.System, v *actor.Version) error {
	if cur, ok := sys.Current(v.Module()); ok && cur == v {
		return nil
	}
	return sys.Load(v)
}

// A Graft node's Ergo version carries its incarnation, and the wire
// protocol of its bridge: "incarnation <hex> packets" (frames in packets,
// see packet). A node of an earlier build, which sent a wire struct per
// Ergo message, reads neither way: each refuses to talk to the other (it
// takes it for a node that is not a Graft one) instead of dropping what
// the other sends.
const (
	incarnationPrefix = "incarnation "
	protocolSuffix    = " packets"
)

func releaseOf(inc uint64) string {
	return incarnationPrefix + strconv.FormatUint(inc, 16) + protocolSuffix
}

// randIncarnation draws a node's incarnation: random, never 0.
func randIncarnation() uint64 {
	for {
		if v := mrand.Uint64(); v != 0 {
			return v
		}
	}
}

// incarnationOf reads the incarnation a Graft node puts in its version.
func incarnationOf(v gen.Version) (uint64, bool) {
	hex, ok := strings.CutPrefix(v.Release, incarnationPrefix)
	hex, ok2 := strings.CutSuffix(hex, protocolSuffix)
	if !ok || !ok2 || v.Name != "graft" {
		return 0, false
	}
	inc, err := strconv.ParseUint(hex, 16, 64)
	return inc, err == nil && inc != 0
}
