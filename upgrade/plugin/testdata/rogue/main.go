// Command rogue serves the plugin protocol without the SDK and breaks it
// on purpose, as chosen with -ldflags "-X main.fault=...":
// "garbage" claims to have handled more messages than it was sent,
// "protocol" speaks another protocol version, "codec" returns its state in
// a codec that does not exist.
package main

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/graftrt/graft/upgrade/plugin/internal/pb"
)

var fault = "garbage"

type server struct{ pb.UnimplementedModuleServer }

func (server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	d := &pb.DescribeResponse{Protocol: pb.Protocol, Module: "rogue", Version: "v1", Codec: "json"}
	if fault == "protocol" {
		d.Protocol = 99
	}
	return d, nil
}

func (server) Init(context.Context, *pb.InitRequest) (*pb.InitResponse, error) {
	st := &pb.Blob{Codec: "json", Data: []byte("{}")}
	if fault == "codec" {
		st.Codec = "xml"
	}
	return &pb.InitResponse{State: st}, nil
}

func (server) Handle(_ context.Context, req *pb.HandleRequest) (*pb.HandleResponse, error) {
	return &pb.HandleResponse{State: req.GetState(), Done: uint32(len(req.GetMessages()) + 3)}, nil
}

func main() {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: pb.Handshake,
		Plugins:         goplugin.PluginSet{pb.Name: &pb.Plugin{Impl: server{}}},
		GRPCServer:      pb.NewServer,
	})
}
