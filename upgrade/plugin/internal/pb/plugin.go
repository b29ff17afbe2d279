package pb

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Protocol is the version of the Module service. Describe carries it both
// ways; a plugin that speaks another one is refused.
const Protocol = 2

// Handshake is go-plugin's handshake: the magic cookie tells a plugin it was
// started by a host (run by hand, it says so and exits), and the protocol
// version must match before any call.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  Protocol,
	MagicCookieKey:   "GRAFT_PLUGIN",
	MagicCookieValue: "graft-module",
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
