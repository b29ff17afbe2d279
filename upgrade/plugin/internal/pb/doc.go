// Package pb is the wire protocol between a Graft host and a module version
// served out of process: the gRPC service generated from module.proto
// (make generate), and the go-plugin glue both sides share.
package pb
