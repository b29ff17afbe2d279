package pb_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/graftrt/graft/upgrade/plugin/internal/pb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The handshake is part of the protocol: changing it breaks every plugin
// built before, so it changes only with Protocol.
func TestHandshakeFollowsTheProtocol(t *testing.T) {
	assert.Equal(t, uint(pb.Protocol), pb.Handshake.ProtocolVersion)
	assert.Equal(t, "GRAFT_PLUGIN", pb.Handshake.MagicCookieKey)
	vs := pb.HostVersions()
	assert.Len(t, vs, pb.Protocol-pb.MinProtocol+1, "a host accepts every version from MinProtocol on")
	for v := pb.MinProtocol; v <= pb.Protocol; v++ {
		assert.Contains(t, vs[v], pb.Name)
	}
}

func TestGarbageDoesNotDecode(t *testing.T) {
	var resp pb.HandleResponse
	require.Error(t, proto.Unmarshal([]byte{0xff, 0xff, 0xff}, &resp))
}
