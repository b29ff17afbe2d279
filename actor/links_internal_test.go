package actor

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// linkSet against a map, across the move from slice to map and back to
// few links.
func TestLinkSetModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s linkSet
	model := map[PID]struct{}{}
	pid := func() PID { return PID{id: uint64(rng.IntN(24) + 1)} }
	for step := range 5000 {
		p := pid()
		switch rng.IntN(3) {
		case 0, 1:
			s.add(p)
			model[p] = struct{}{}
		case 2:
			s.remove(p)
			delete(model, p)
		}
		_, want := model[p]
		require.Equal(t, want, s.has(p), "step %d", step)
		got := s.appendTo(nil)
		require.Len(t, got, len(model), "step %d: each link once", step)
		for _, l := range got {
			require.Contains(t, model, l, "step %d", step)
		}
	}
}
