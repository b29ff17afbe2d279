package pb

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Protocol is the version of the Module service. Describe carries it both
// ways; a plugin that speaks another one is refused.
const Protocol = 1

// Handshake is go-plugin's handshake: the magic cookie tells a plugin it was
// started by a host (run by hand, it says so and exits), and the protocol
// version must match before any call.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  Protocol,
	MagicCookieKey:   "GRAFT_PLUGIN",
	MagicCookieValue: "graft-module",
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
