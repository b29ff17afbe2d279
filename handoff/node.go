package handoff

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
)

// Steps of a handoff, in order. A StepError names the one that failed.
// Up to and including StepCommit a failure aborts: the new process exits
// and the old one resumes every process with its original state. Once the
// new process has answered the commit, there is no return.
const (
	StepVerify   = "verify"   // the new executable's checksum
	StepStart    = "start"    // start it with the sockets; wait for its hello
	StepPrepare  = "prepare"  // codecs here, lineage there: refused before anything is suspended
	StepSuspend  = "suspend"  // every process of the trees, all at once
	StepTransfer = "transfer" // trees, states, queues, as bytes
	StepRebuild  = "rebuild"  // the new process rebuilds the trees, migrating each state
	StepHealth   = "health"   // its readiness and the user's check
	StepCommit   = "commit"   // the point of no return
	StepForward  = "forward"  // timers and late messages go over; the old process lets go
	StepDrain    = "drain"    // the old process's HTTP servers finish in-flight requests
)

// Errors. Use errors.Is; a failed step is a *StepError.
var (
	ErrChecksum     = errors.New("handoff: the executable's checksum does not match")
	ErrBusy         = errors.New("handoff: a handoff is under way")
	ErrNotInherited = errors.New("handoff: this process was not started by a handoff")
	ErrHandedOver   = errors.New("handoff: this node has handed over to a new process")
	ErrAborted      = errors.New("handoff: aborted by the old process")
	ErrNoTrees      = errors.New("handoff: no supervision tree to hand over")
)

// StepError is a step that failed. Remote: it failed in the other process.
type StepError struct {
	Step   string
	Err    error
	Remote bool
}

func (e *StepError) Error() string {
	where := ""
	if e.Remote {
		where = " (in the other process)"
	}
	return "handoff: " + e.Step + where + ": " + e.Err.Error()
}

func (e *StepError) Unwrap() error { return e.Err }

// Event reports a step of a handoff on the system's event bus
// (actor.System.Subscribe); each is also a log line.
type Event struct {
	Step    string
	Status  string // "begin", "done" or "failed"
	Err     error
	Elapsed time.Duration // since the handoff began
}

// Options configure a Node. The zero value works: no HTTP servers to
// drain, no user check, the defaults below.
type Options struct {
	// Trees are the supervision trees to hand over, top supervisors
	// each. A node started by a handoff gets those it rebuilt.
	Trees []*supervisor.Handle
	// Waves, if set, suspends and transfers the trees one at a time, in
	// order, instead of all at once: the trees not yet reached keep
	// serving while the earlier ones cross, and the new process rebuilds
	// each as it arrives. A tree stays suspended from its wave until the
	// commit (or the abort, which resumes every wave). A call from a
	// tree of a later wave to one already suspended waits until the
	// commit, or its own timeout: use waves for trees that do not call
	// each other.
	Waves bool
	// Servers are drained after the commit (http.Server.Shutdown, bounded
	// by DrainTimeout): they finish the requests they are serving while
	// the new process takes the new connections.
	Servers []*http.Server
	// Check is the user's health check, run in the new process after the
	// rebuild and before the commit; an error (or a panic) aborts.
	Check func(ctx context.Context) error
	// Args are the new executable's arguments (default: this process's,
	// os.Args[1:]); Env is added to its environment (this process's).
	Args []string
	Env  []string
	// StartTimeout bounds the new process's start, to its hello (default
	// 10 s); StepTimeout each later step until the commit (default 30 s);
	// DrainTimeout the drain of the HTTP servers (default 10 s).
	StartTimeout, StepTimeout, DrainTimeout time.Duration
	// Stdout and Stderr of the new process (default: this process's).
	Stdout, Stderr *os.File
}

func (o Options) withDefaults() Options {
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 30 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Second
	}
	if o.Args == nil && len(os.Args) > 1 {
		o.Args = os.Args[1:]
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	return o
}

// Node is a service's end of handoffs: in the running process, Upgrade
// hands it over to a new build; in the new build, Receive takes over. It
// hangs off one actor.System.
type Node struct {
	sys  *actor.System
	opts Options
	log  *zap.Logger

	mu        sync.Mutex
	trees     []*supervisor.Handle // guarded by mu
	listeners []listener           // guarded by mu
	busy      bool                 // guarded by mu
	served    func(*Report)        // guarded by mu: UpgradeServed's, while busy
	over      bool                 // guarded by mu: handed over
	link      *channel             // guarded by mu: after the commit, to forward
	calls     map[uint64]pendingCall
	nextCall  uint64

	done  chan struct{} // closed once the node has handed over and drained
	wg    sync.WaitGroup
	conns connCount // connections the node's listeners accepted
}

type listener struct {
	network, addr string
	ln            net.Listener
}

type pendingCall struct {
	reply actor.ReplyTo
	v     *actor.Version // decodes the answer
}

// New returns the node of sys.
func New(sys *actor.System, opts Options) *Node {
	opts = opts.withDefaults()
	return &Node{sys: sys, opts: opts, log: sys.Logger().Named("handoff"),
		trees: append([]*supervisor.Handle(nil), opts.Trees...), done: make(chan struct{}),
		calls: map[uint64]pendingCall{}}
}

// Listen is the package's Listen (the inherited socket, or a new one),
// and remembers the listener so that the next handoff passes it on. Serve
// the Options.Servers on listeners from here: the drain after a commit
// waits for every connection they accepted to be closed.
func (n *Node) Listen(network, addr string) (net.Listener, error) {
	ln, err := Listen(network, addr)
	if err != nil {
		return nil, err
	}
	ln = &trackedListener{Listener: ln, n: n}
	n.mu.Lock()
	n.listeners = append(n.listeners, listener{network, addr, ln})
	n.mu.Unlock()
	return ln, nil
}

// Trees returns the trees the node hands over.
func (n *Node) Trees() []*supervisor.Handle {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*supervisor.Handle(nil), n.trees...)
}

// SetTrees replaces the trees the node hands over.
func (n *Node) SetTrees(trees ...*supervisor.Handle) {
	n.mu.Lock()
	n.trees = append([]*supervisor.Handle(nil), trees...)
	n.mu.Unlock()
}

// Done is closed once the node has handed over and its HTTP servers have
// drained: the old process's main returns then (its system's Shutdown
// ends the forwarding).
func (n *Node) Done() <-chan struct{} { return n.done }

// Inherited reports whether this process was started by a handoff.
func Inherited() bool { return os.Getenv(EnvChannel) != "" }

// event emits a step's event and logs it.
func (n *Node) event(start time.Time, step, status string, err error) {
	e := Event{Step: step, Status: status, Err: err, Elapsed: time.Since(start)}
	fields := []zap.Field{zap.String("step", step), zap.String("status", status), zap.Duration("elapsed", e.Elapsed)}
	if err != nil {
		n.log.Error("handoff step", append(fields, zap.Error(err))...)
	} else {
		n.log.Info("handoff step", fields...)
	}
	n.sys.Emit(e)
}

// recovered runs user code, turning a panic into an error.
func recovered(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return actor.SafeError(f())
}

// Close ends the node's part in a handoff that committed: in the old
// process, the channel closes (calls still waiting for an answer get an
// error); in the new one, it stops passing late messages on. It waits for
// the node's goroutines. Close it after the system's Shutdown; calling it
// twice is fine.
func (n *Node) Close() {
	n.mu.Lock()
	ch := n.link
	n.mu.Unlock()
	if ch != nil {
		_ = ch.close()
	}
	n.wg.Wait()
}
