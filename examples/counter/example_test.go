package counter_test

import (
	"context"
	"fmt"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/examples/counter"
)

// A counter upgraded from v1 to v2 and downgraded back while it holds
// state: each Load takes effect on the process's next message, and the
// count and the per-sender sequence numbers survive both migrations.
func Example() {
	ctx := context.Background()
	sys := actor.NewSystem()
	defer func() { _ = sys.Shutdown(ctx) }()

	if err := sys.Load(counter.V1); err != nil {
		fmt.Println(err)
		return
	}
	pid, err := sys.Spawn(counter.Module, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	show := func() {
		r, err := sys.Call(ctx, pid, counter.Get{})
		if err != nil {
			fmt.Println(err)
			return
		}
		s := r.(counter.Stats)
		fmt.Printf("%s: handled %d, out of order %d, last %v\n", s.Version, s.Handled, s.OutOfOrder, s.Last)
	}

	for seq := uint64(1); seq <= 3; seq++ {
		_ = sys.Send(pid, counter.Inc{Sender: 1, Seq: seq})
	}
	show()

	// Upgrade: the state becomes a StateV2 on the next message.
	_ = sys.Load(counter.V2)
	_ = sys.Send(pid, counter.Inc{Sender: 1, Seq: 4})
	_ = sys.Send(pid, counter.Inc{Sender: 2, Seq: 1})
	show()

	// Downgrade: StateV2 -> StateV1, by V2's Downgrade. Sender 2's Seq 2
	// goes missing, and the counter notices.
	_ = sys.Load(counter.V1)
	_ = sys.Send(pid, counter.Inc{Sender: 2, Seq: 3})
	show()
	fmt.Println("v1 activations:", sys.Activations(counter.Module, "v1"), "v2 activations:", sys.Activations(counter.Module, "v2"))

	// Output:
	// v1: handled 3, out of order 0, last map[1:3]
	// v2: handled 5, out of order 0, last map[1:4 2:1]
	// v1: handled 6, out of order 1, last map[1:4 2:3]
	// v1 activations: 1 v2 activations: 0
}
