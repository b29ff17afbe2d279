// Package codec turns the states and messages that cross between a Graft
// host and an out-of-process module version into bytes and back.
//
// A module declares one codec (JSON unless it says otherwise); every value
// it sends is tagged with the codec's name (a Raw), so the receiving side,
// host or plugin, decodes it with the codec that wrote it, even across
// versions that declare different ones.
//
//   - JSON (encoding/json): the default; works with plain Go structs on both
//     sides and tolerates added and removed fields, which suits state that
//     changes shape between versions.
//   - Gob (encoding/gob): Go-only, compact; matches fields by name.
//   - Protobuf (google.golang.org/protobuf): values must be proto.Message
//     (pointers to generated types); the schema is the contract.
//
// Codecs are stateless and safe for concurrent use.
package codec
