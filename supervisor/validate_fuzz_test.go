package supervisor

import (
	"errors"
	"testing"
	"time"
)

// Child specs come from users' code and, through the admin API, from the
// network: whatever the fields, validation returns nil or a *SpecError
// wrapping ErrInvalidSpec, and never panics.
func FuzzValidate(f *testing.F) {
	f.Add(uint8(0), 1, int64(5*time.Second), uint8(0), "worker", "mod", uint8(0), int64(0), uint8(0), true, false, 1)
	f.Add(uint8(3), 0, int64(-1), uint8(2), "", "", uint8(9), int64(-5), uint8(1), false, true, 2)
	f.Add(uint8(1), -3, int64(0), uint8(7), "a", "m", uint8(2), int64(BrutalKill), uint8(0), true, true, 0)
	f.Fuzz(func(t *testing.T, strategy uint8, intensity int, period int64, auto uint8,
		id, module string, restart uint8, shutdown int64, typ uint8, significant, handoff bool, copies int) {
		flags := Flags{Strategy: Strategy(strategy), Intensity: intensity, Period: time.Duration(period), AutoShutdown: AutoShutdown(auto)}
		spec := ChildSpec{ID: id, Start: StartSpec{Module: module}, Restart: Restart(restart),
			Shutdown: Shutdown(shutdown), Type: ChildType(typ), Significant: significant, Handoff: handoff}
		specs := make([]ChildSpec, max(min(copies, 3), 0))
		for i := range specs {
			specs[i] = spec
		}
		err := validateAll(flags, specs)
		if err == nil {
			return
		}
		var se *SpecError
		if !errors.Is(err, ErrInvalidSpec) || !errors.As(err, &se) {
			t.Fatalf("%v: not a *SpecError wrapping ErrInvalidSpec", err)
		}
		if se.Error() == "" {
			t.Fatal("empty message")
		}
	})
}
