package clusterchaos

import (
	"encoding/json"
	"fmt"

	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/cluster"
)

// What a coordinator and a node's agent exchange. Anything with more
// shape than a few fields crosses as JSON inside them (the records, a
// chaos.Result), as the cluster's own upgrade agent does with plans.
type (
	// startReq starts the node's own chaos run for the coordinator
	// Origin, with Seed; the answer (startAns) comes once the run watches
	// every message, with the names of the workers that take the
	// coordinator's load.
	startReq struct {
		Origin string
		Seed   uint64
	}
	startAns struct {
		Targets []byte // []string, JSON
		Err     string
	}
	// recordsReq asks for what the node saw of Origin's messages so far
	// (recordsAns.Data: []streamRecord, JSON).
	recordsReq struct{ Origin string }
	recordsAns struct {
		Data []byte
		Err  string
	}
	// finishReq ends the node's run (chaos.Config.Stop): the answer comes
	// once it has settled and checked, with its chaos.Result as JSON.
	finishReq struct{ Origin string }
	finishAns struct {
		Result []byte
		Err    string
	}
	// holdReq is a call the agent never answers: it stands for a call in
	// progress when a connection is lost. pingReq is answered at once,
	// with how many hold calls the agent has taken (int64).
	holdReq struct{}
	pingReq struct{}
	// dropReq, sent (not called), makes the node close its connection to
	// Node (cluster.Node.Disconnect), as a network failure seen from its
	// side would.
	dropReq struct{ Node string }
)

// msgName is the name fault.Msg crosses nodes under.
const msgName = "github.com/graftrt/graft/chaos/fault.Msg"

// msgCodec encodes fault.Msg as JSON: EDF would need time.Duration (its
// Delay) registered as a message type of its own.
type msgCodec struct{}

func (msgCodec) Encode(v any) ([]byte, error) {
	m, ok := v.(fault.Msg)
	if !ok {
		return nil, fmt.Errorf("clusterchaos: %T is not a fault.Msg", v)
	}
	return json.Marshal(m)
}

func (msgCodec) Decode(b []byte) (any, error) {
	var m fault.Msg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// register makes node able to send and receive what a cluster chaos run
// exchanges. Registering twice is harmless.
func register(node *cluster.Node) error {
	if err := node.RegisterCodec(fault.Msg{}, msgName, msgCodec{}); err != nil {
		return err
	}
	return node.Register(startReq{}, startAns{}, recordsReq{}, recordsAns{}, finishReq{}, finishAns{},
		holdReq{}, pingReq{}, dropReq{})
}
