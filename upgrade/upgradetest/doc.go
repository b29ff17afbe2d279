// Package upgradetest checks a module's migrations offline, in the
// module's own tests: no system, no processes, only the versions of one
// module (their lineage, see actor.Lineage) and a generator of states.
//
//	func TestCounterMigrations(t *testing.T) {
//		upgradetest.Check(t, upgradetest.Lineage{
//			Versions: []*actor.Version{counterV1, counterV2, counterV3},
//			State: func(version string, r *rand.Rand) any {
//				switch version {
//				case "v1":
//					return CounterV1{N: r.IntN(100)}
//				...
//			},
//		})
//	}
//
// Each check runs on many generated states (Samples, seeded from Seed)
// and migrates them with actor.MigrateState, as the runtime would:
//
//   - Failure: every declared step runs without error on states of the
//     version it leaves.
//   - Mutation: no step modifies the state it is given (a rollback
//     resumes processes on it). The state is generated twice from one
//     seed; one is migrated, then compared with the other.
//   - RoundTrip: for every up step A→B where B has a route back down to
//     A, up then down returns a state equal to the original.
//   - Shortcut: a step that skips versions (UpgradesFrom, DowngradesTo)
//     gives the state that the chain of steps it skips gives.
//   - Decoding: a typed version accepts its own state encoded as JSON
//     and decoded as a plugin version's state is (a codec.Raw of the
//     plugin module's codec package: strictly, refusing unknown and
//     missing fields, with the very same checks), and refuses another
//     version's unless it reads it without losing or inventing a field or
//     is Lenient. This package does not import the codec: it needs
//     neither gRPC nor protobuf.
//   - Reach: every version has a route from the first version and to the
//     last ones; a gap usually is a version missing from Versions, whose
//     steps the other checks would otherwise skip unnoticed.
//
// States are compared with Lineage.Equal (reflect.DeepEqual by default).
// Before anything else, State is checked to be deterministic.
//
// Check reports each problem as a test error naming the seed that
// reproduces it (set Seed to it and Samples to 1); Problems returns them,
// for callers that want to inspect or filter them. Both run synchronously
// and start no goroutine. A panic in a migration is reported as a
// Failure; a panic in State or Equal is not recovered.
package upgradetest
