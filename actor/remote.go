package actor

import (
	"context"
	"errors"
	"fmt"
)

// NoConnection is the exit reason links and monitors see when the node
// the other process lives on can no longer be reached (OTP's
// noconnection), and the reason of a call to a process there.
var NoConnection = errors.New("noconnection")

// ErrRemoteAttached is returned by AttachRemote when a Remote is attached
// already.
var ErrRemoteAttached = errors.New("actor: a remote is attached already")

// NewPID returns the PID of process id on node. Node 0 is the local node;
// other numbers are given out by a Remote (package cluster) to the nodes
// it reaches, as Erlang numbers the nodes a node knows of. For bridges
// and tests; a PID made up this way names a process only if one exists.
func NewPID(node uint32, id uint64) PID { return PID{node: node, id: id} }

// Node returns the number of the node the process lives on: 0 for the
// local node.
func (p PID) Node() uint32 { return p.node }

// ID returns the process's number on its node.
func (p PID) ID() uint64 { return p.id }

// NewRef returns the Ref id made on node (0: this system). A Remote uses
// it for the monitors processes of other nodes hold on local ones.
func NewRef(node uint32, id uint64) Ref { return Ref{node: node, id: id} }

// Node returns the number of the node whose process made the Ref.
func (r Ref) Node() uint32 { return r.node }

// ID returns the Ref's number on the node that made it.
func (r Ref) ID() uint64 { return r.id }

// Remote carries what a System does to processes of other nodes: those
// whose PID has a non-zero Node. A System with a Remote attached
// (AttachRemote) hands it every Send, Call, link, monitor and exit signal
// addressed to such a PID, and what its own processes' exits owe to
// remote links and monitors; without one, such PIDs are dead (NoProc).
// The other direction goes through System.RemoteLink, RemoteUnlink,
// RemoteMonitor, RemoteDemonitor, RemoteExit and RemoteDown.
//
// Methods are called on the goroutine of whoever acted (a process's
// receive loop, often): they must not block on the network for long, and
// must not call back into the System in a way that waits on the calling
// process.
type Remote interface {
	// Send sends msg to the remote process to. An error means the message
	// was not taken (refused at send): an unregistered message type, no
	// connection to the node, a process known to be gone.
	Send(to PID, msg any) error
	// Call calls the remote process to and waits for its answer, the
	// context's end or the connection's loss.
	Call(ctx context.Context, to PID, req any) (any, error)
	// Link asks to's node to link to with from (a local process that has
	// recorded the link already). An error means the request could not
	// be sent; the caller then takes to as disconnected (NoConnection).
	Link(from, to PID) error
	// Unlink removes the link between from (local) and to.
	Unlink(from, to PID)
	// Monitor asks to's node to report to's exit to from with a Down
	// carrying ref.
	Monitor(from, to PID, ref Ref) error
	// Demonitor withdraws the monitor ref that from holds on to.
	Demonitor(from, to PID, ref Ref)
	// Exit sends an exit signal from from (local, or zero) to to; link
	// says it is sent because from exited while linked to to.
	Exit(from, to PID, reason error, link bool) error
	// Down tells to, which monitors the local process from with ref, that
	// from exited with reason.
	Down(from, to PID, ref Ref, reason error)
}

// remoteBox holds the attached Remote (an interface cannot be stored in
// an atomic.Pointer directly).
type remoteBox struct{ r Remote }

// AttachRemote makes r the System's way to other nodes' processes. One
// Remote at a time: a second fails with ErrRemoteAttached until the first
// is detached. After detach, PIDs of other nodes are dead again.
func (s *System) AttachRemote(r Remote) (detach func(), err error) {
	if r == nil {
		return nil, errors.New("actor: nil remote")
	}
	b := &remoteBox{r: r}
	if !s.remote.CompareAndSwap(nil, b) {
		return nil, ErrRemoteAttached
	}
	return func() { s.remote.CompareAndSwap(b, nil) }, nil
}

// remoteFor returns the Remote that reaches pid, or nil when pid is local
// or no Remote is attached.
func (s *system) remoteFor(pid PID) Remote {
	if pid.node == 0 {
		return nil
	}
	if b := s.remote.Load(); b != nil {
		return b.r
	}
	return nil
}

// remoteLink is how Context.Link reaches a process of another node: the
// link is recorded here first, so that an exit of p after this point
// tells the remote end. A request that cannot be sent undoes the link: a
// process trapping exits gets an ExitMsg with NoConnection, as for a lost
// connection; otherwise Link fails with NoConnection.
func (p *process) remoteLink(r Remote, pid PID) error {
	if !p.addLink(pid) {
		return ErrAbandoned
	}
	if err := r.Link(p.pid(), pid); err != nil {
		p.removeLink(pid)
		if p.is(bitTrapExit) {
			p.notify(ExitMsg{From: pid, Reason: NoConnection})
			return nil
		}
		return fmt.Errorf("actor: link %v: %w", pid, NoConnection)
	}
	return nil
}

// RemoteLink records a link that the remote process from asks for with the
// local process to (the remote end has recorded it). If to is not alive,
// from is told at once with an exit signal carrying NoProc, as in OTP, and
// RemoteLink returns an error wrapping NoProc.
func (s *System) RemoteLink(from, to PID) error {
	r := s.remoteFor(from)
	if r == nil {
		return fmt.Errorf("actor: remote link from %v: not a remote PID", from)
	}
	if t := s.lookup(to); t != nil && t.signal(linkSig{from: from}) {
		return nil // a process that exits meanwhile answers it (refuseSignal)
	}
	_ = r.Exit(to, from, NoProc, true)
	return fmt.Errorf("actor: link %v: %w", to, NoProc)
}

// RemoteUnlink removes the link the remote process from had with to.
func (s *System) RemoteUnlink(from, to PID) {
	if t := s.lookup(to); t != nil {
		t.signal(unlinkSig{from: from})
	}
}

// RemoteMonitor makes the local process to report its exit to the remote
// process from, with ref (made by from's node: see NewRef). If to is not
// alive, from gets a Down with NoProc at once.
func (s *System) RemoteMonitor(from, to PID, ref Ref) {
	r := s.remoteFor(from)
	if r == nil {
		return
	}
	if t := s.lookup(to); t != nil && t.signal(monitorSig{ref: ref, from: from}) {
		return
	}
	r.Down(to, from, ref, NoProc)
}

// RemoteDemonitor withdraws the monitor ref a remote process held on to.
func (s *System) RemoteDemonitor(to PID, ref Ref) {
	if t := s.lookup(to); t != nil {
		t.signal(demonitorSig{ref: ref})
	}
}

// RemoteExit delivers an exit signal from the remote process from to the
// local process to, with OTP's rules (see System.Exit); link says from
// exited while linked to to (a stale one, after an unlink, is ignored).
// It fails with NoProc if to is not alive.
func (s *System) RemoteExit(from, to PID, reason error, link bool) error {
	if reason == nil {
		reason = Normal
	}
	reason = SafeError(reason)
	if t := s.lookup(to); t != nil && t.signal(exitSig{from: from, reason: reason, link: link}) {
		return nil
	}
	return fmt.Errorf("actor: exit %v: %w", to, NoProc)
}

// RemoteDown delivers the Down of the monitor ref that the local process
// to holds on the remote process from. A Down for a monitor withdrawn
// meanwhile is dropped, as demonitor(Ref, [flush]) does.
func (s *System) RemoteDown(from, to PID, ref Ref, reason error) {
	if reason == nil {
		reason = Normal
	}
	if t := s.lookup(to); t != nil {
		t.notify(Down{Ref: ref, PID: from, Reason: SafeError(reason)})
	}
}
