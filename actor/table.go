package actor

import (
	"sync"
	"sync/atomic"
)

// procTable maps process ids to processes for Send. Ids are handed out in
// order and never reused, so the table is a directory of fixed-size pages
// indexed by id: a lookup is three atomic loads and no lock, which keeps
// Send cheap and lets any number of senders look up at once. (A map behind
// an RWMutex would make every send write the lock's reader count; sync.Map
// would box the key on every lookup.) A page is released once every id in
// it has been removed, so memory follows the live processes, not the total
// ever spawned.
type procTable struct {
	next atomic.Uint64 // last id handed out

	mu  sync.Mutex // serialises directory changes (new or released pages)
	dir atomic.Pointer[directory]
}

const (
	pageBits = 10
	pageSize = 1 << pageBits
	pageMask = pageSize - 1
)

type page struct {
	slots   [pageSize]atomic.Pointer[process]
	removed atomic.Int32
}

// directory is immutable once published; changes publish a copy.
type directory struct {
	base  uint64  // page number of pages[0]
	pages []*page // nil entries are released pages
}

// reserve hands out the next id; publish makes p visible under it. The
// caller sets p's PID between the two, so nobody who finds p in the table
// reads a PID being written.
func (t *procTable) reserve() uint64 { return t.next.Add(1) }

func (t *procTable) publish(id uint64, p *process) {
	pg := t.page(id>>pageBits, true)
	pg.slots[id&pageMask].Store(p)
}

func (t *procTable) lookup(id uint64) *process {
	if pg := t.page(id>>pageBits, false); pg != nil {
		return pg.slots[id&pageMask].Load()
	}
	return nil
}

// remove unpublishes id; the page goes once all its ids have been removed.
func (t *procTable) remove(id uint64) {
	n := id >> pageBits
	pg := t.page(n, false)
	if pg == nil || pg.slots[id&pageMask].Swap(nil) == nil {
		return
	}
	// Id 0 is never handed out, so page 0 has one slot fewer to remove.
	full := int32(pageSize)
	if n == 0 {
		full--
	}
	if pg.removed.Add(1) == full {
		t.release(n)
	}
}

func (t *procTable) page(n uint64, create bool) *page {
	if d := t.dir.Load(); d != nil && n >= d.base && n-d.base < uint64(len(d.pages)) {
		if pg := d.pages[n-d.base]; pg != nil || !create {
			return pg
		}
	} else if !create {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.dir.Load()
	if d == nil {
		d = &directory{base: n}
	}
	if n >= d.base && n-d.base < uint64(len(d.pages)) && d.pages[n-d.base] != nil {
		return d.pages[n-d.base]
	}
	// Ids only grow, so a new page is always past the end of the directory.
	nd := &directory{base: d.base, pages: make([]*page, n-d.base+1)}
	copy(nd.pages, d.pages)
	pg := &page{}
	nd.pages[n-d.base] = pg
	t.dir.Store(nd)
	return pg
}

func (t *procTable) release(n uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.dir.Load()
	nd := &directory{base: d.base, pages: make([]*page, len(d.pages))}
	copy(nd.pages, d.pages)
	nd.pages[n-d.base] = nil
	// Drop released pages from the front so the directory stays as long
	// as the span of live ids.
	for len(nd.pages) > 1 && nd.pages[0] == nil {
		nd.pages = nd.pages[1:]
		nd.base++
	}
	t.dir.Store(nd)
}

// each calls f for every live process, newest first.
func (t *procTable) each(f func(*process)) {
	d := t.dir.Load()
	if d == nil {
		return
	}
	for i := len(d.pages) - 1; i >= 0; i-- {
		pg := d.pages[i]
		if pg == nil {
			continue
		}
		for j := pageSize - 1; j >= 0; j-- {
			if p := pg.slots[j].Load(); p != nil {
				f(p)
			}
		}
	}
}
