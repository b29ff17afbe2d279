// Command rogue serves the plugin protocol without the SDK and breaks it
// on purpose, as chosen with -ldflags "-X main.fault=...":
// "garbage" claims to have handled more messages than it was sent,
// "protocol" speaks another protocol version, "codec" returns its state in
// a codec that does not exist. With "v2" it breaks nothing: it serves
// protocol version 2, as a plugin built before error codes does, and
// answers every call with an error.
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
	switch fault {
	case "protocol":
		d.Protocol = 99
	case "v2":
		d.Protocol = 2
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
	if fault != "v2" {
		return &pb.HandleResponse{State: req.GetState(), Done: uint32(len(req.GetMessages()) + 3)}, nil
	}
	resp := &pb.HandleResponse{State: req.GetState(), Done: uint32(len(req.GetMessages()))}
	for _, m := range req.GetMessages() {
		resp.Replies = append(resp.Replies, &pb.Reply{Set: m.GetCall(), Error: "refused by v2"})
	}
	return resp, nil
}

func main() {
	handshake := pb.Handshake
	if fault == "v2" {
		handshake.ProtocolVersion = 2
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         goplugin.PluginSet{pb.Name: &pb.Plugin{Impl: server{}}},
		GRPCServer:      pb.NewServer,
	})
}
