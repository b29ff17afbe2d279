// Package actortest is Graft's public test kit: a System bound to a
// *testing.T, a fake clock, and a probe actor that records what it receives.
//
//	func TestCounter(t *testing.T) {
//		sys := actortest.NewSystem(t)             // shut down and leak-checked at cleanup
//		require.NoError(t, sys.Load(counterV1))
//		probe := actortest.NewProbe(t, sys.System)
//		pid, _ := sys.Spawn("counter", nil)
//		probe.Monitor(pid)
//		_ = sys.Kill(pid)
//		probe.ExpectDown(pid, actor.Killed)
//	}
//
// Waiting is always for an event: Probe methods block until the expected
// message arrives or a generous real-time limit passes (then the test
// fails); time inside the System is the FakeClock, which moves only when
// the test calls Advance. Nothing here sleeps.
package actortest
