package cluster

import (
	"errors"
	"fmt"
	"strings"

	"github.com/graftrt/graft/actor"
)

// wire is the one message type the bridges of two nodes exchange, each a
// frame of a packet (see packet), carried by Ergo's network stack over
// Ergo's connections, after Ergo's handshake. A user message crosses as
// Data, encoded by the codec registered under Type (see Codecs). Session
// and the incarnations are the packet's: they cross once per packet.
type wire struct {
	Kind uint8
	// From and To are process numbers on the sending and the receiving
	// node (0: none).
	From, To uint64
	// ToIncarnation is the incarnation of the receiving node the sender
	// addresses: a PID of a node that has restarted since names no process
	// of the new one. FromIncarnation is the sender's.
	ToIncarnation, FromIncarnation uint64
	// Session numbers the sender's connections to the receiver (see
	// peer).
	Session uint64
	// Ref is the monitor's ref, or the number of a call or spawn the
	// answer refers to.
	Ref  uint64
	Name string // a registered name, or the module to spawn
	Type string // the codec of Data
	Data []byte
	// An exit reason or an error (see encodeErr).
	ErrKind uint8
	// ErrText is the error's text. On a message (kSend, kSendNamed, kCall,
	// kCallNamed), which carries no error, it is instead what the sender
	// declares of the message's type as a message shape
	// (shapes.senderDecl): the field is free on those kinds, and a new
	// field would change the wire's EDF layout, which nodes of other Graft
	// builds could not decode (old ones ignore it there).
	ErrText string
	// Exit marks an error that is the exit of the process asked (an
	// *actor.ExitError); Link marks an exit signal sent through a link.
	Exit, Link bool
	// Timeout is what is left of a call's deadline, in nanoseconds. The
	// caller keeps the deadline; a far node of this build does not read it
	// (it waits for no answer, see serveCall), earlier builds bound their
	// wait by it.
	Timeout int64
}

const (
	kSend uint8 = iota + 1
	kSendNamed
	kCall
	kCallNamed
	kReply
	kLink
	kUnlink
	kMonitor
	kDemonitor
	kExit
	kDown
	kSpawn
	kSpawnReply
	kWhereis
	kAck
	kTick
	kFinalAck // earlier builds' (see take)
	kHandoff
	kTock
	kInfo
	// kTakenAsk asks how far the receiver took the sender's sends of
	// session Ref (0: none, only forget), and tells it that the sender
	// will not ask about its sessions before To; From is the newest of
	// the receiver's sessions the sender holds ended (see endedAtPeer;
	// 0 from earlier builds, which do not say). kTaken answers: Ref is
	// the newest send taken in session To (0: none). See askTaken.
	kTakenAsk
	kTaken
)

// Errors and exit reasons cross nodes as a kind and a text. The runtime's
// own (these) come back as themselves, wrapped when the text says more; any
// other error comes back as a *RemoteError carrying its text.
var knownErrs = []error{
	nil,
	actor.Normal, actor.Shutdown, actor.Kill, actor.Killed, actor.NoProc, actor.NoConnection,
	actor.ErrMailboxFull, actor.ErrUnknownName, actor.ErrUnknownModule, actor.ErrTimeout,
	actor.ErrNoReply, actor.ErrCallSelf, actor.ErrStopping, actor.ErrNilMessage,
	ErrUnregistered, ErrDecode,
	// Added later, at the end: the kinds above keep their numbers.
	ErrNotAccepted,
}

const kindShutdownReason = 254 // actor.ShutdownReason: {shutdown, Detail}, Detail as text
const kindOther = 255

// RemoteError is an error or exit reason that came from another node and
// is not one of the runtime's own: its text, and the node it came from.
// When the text wraps one of the runtime's errors (NoProc, say), Unwrap
// returns it, so errors.Is works across nodes.
type RemoteError struct {
	Node string
	Text string
	err  error
}

func (e *RemoteError) Error() string { return e.Text }
func (e *RemoteError) Unwrap() error { return e.err }

func encodeErr(err error) (uint8, string) {
	if err == nil {
		return 0, ""
	}
	text := err.Error()
	var sr actor.ShutdownReason
	if errors.As(err, &sr) && err == error(sr) {
		return kindShutdownReason, fmt.Sprint(sr.Detail)
	}
	for i, k := range knownErrs[1:] {
		if err == k {
			return uint8(i + 1), ""
		}
	}
	for i, k := range knownErrs[1:] {
		if errors.Is(err, k) {
			return uint8(i + 1), text
		}
	}
	return kindOther, text
}

func decodeErr(node string, kind uint8, text string) error {
	switch {
	case kind == 0:
		return nil
	case kind == kindShutdownReason:
		return actor.ShutdownReason{Detail: text}
	case int(kind) < len(knownErrs):
		k := knownErrs[kind]
		if text == "" || text == k.Error() {
			return k
		}
		return &RemoteError{Node: node, Text: text, err: k}
	default:
		if text == "" {
			text = "unknown error"
		}
		return &RemoteError{Node: node, Text: text}
	}
}

// checkName vets a node name: Ergo's "name@host".
func checkName(name string) error {
	n, h, ok := strings.Cut(name, "@")
	if !ok || n == "" || h == "" || strings.Contains(h, "@") {
		return fmt.Errorf("%w: node name %q: want name@host", ErrBadOptions, name)
	}
	if len(name) > 255 {
		return fmt.Errorf("%w: node name longer than 255 bytes", ErrBadOptions)
	}
	return nil
}
