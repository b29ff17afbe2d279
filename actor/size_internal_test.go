package actor

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// An idle process is one allocation of at most 240 bytes (a size class of
// Go's allocator): its own fields and its mailbox, whose first segment and
// slot are inline. What few processes need lives apart, allocated at the
// first need and one size class each: a procExt (links, monitors, waiters,
// a linked child's parent) and an aside (what upgrades set, what callbacks
// hand back, an unlinked child's parent). A field added to any of them
// must fit, or move out of the way of every process (see
// docs/benchmarks.md, W4).
func TestProcessSizes(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(process{}), uintptr(240), "process")
	assert.LessOrEqual(t, unsafe.Sizeof(procExt{}), uintptr(240), "procExt")
	assert.LessOrEqual(t, unsafe.Sizeof(aside{}), uintptr(64), "aside")
}
