package pb

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Protocol is the version of the Module service this code speaks: what
// the SDK serves, and the newest a host accepts. Describe carries it both
// ways. 3 added error codes (Failure.code, Reply.code).
const Protocol = 3

// MinProtocol is the oldest version a host still accepts: a plugin built
// with an older SDK keeps loading, without what later versions added.
const MinProtocol = 2

// Handshake is go-plugin's handshake: the magic cookie tells a plugin it was
// started by a host (run by hand, it says so and exits), and the plugin's
// protocol version must be one the host accepts (HostVersions) before any
// call.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  Protocol,
	MagicCookieKey:   "GRAFT_PLUGIN",
	MagicCookieValue: "graft-module",
}

// HostVersions is the host's side of the negotiation: every protocol
// version from MinProtocol to Protocol, with the one plugin it dispenses.
func HostVersions() map[int]goplugin.PluginSet {
	vs := make(map[int]goplugin.PluginSet, Protocol-MinProtocol+1)
	for v := MinProtocol; v <= Protocol; v++ {
		vs[v] = goplugin.PluginSet{Name: &Plugin{}}
	}
	return vs
}

// MaxMessage bounds one gRPC message either way (gRPC's default is 4 MiB):
// a batch carries a process's state and up to a few hundred messages.
const MaxMessage = 64 << 20

// NewServer is the plugin side's gRPC server: go-plugin's options (TLS)
// plus the message bound.
func NewServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(MaxMessage), grpc.MaxSendMsgSize(MaxMessage))...)
}

// DialOptions are the host side's counterpart of NewServer.
var DialOptions = []grpc.DialOption{
	grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessage), grpc.MaxCallSendMsgSize(MaxMessage)),
}

// Name is the one plugin an executable serves.
const Name = "module"

// Plugin adapts the Module service to go-plugin, for both sides.
type Plugin struct {
	goplugin.NetRPCUnsupportedPlugin
	Impl ModuleServer // the plugin side's implementation
}

// GRPCServer registers the module's service in the plugin.
func (p *Plugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	RegisterModuleServer(s, p.Impl)
	return nil
}

// GRPCClient returns the host's stub.
func (p *Plugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewModuleClient(c), nil
}
