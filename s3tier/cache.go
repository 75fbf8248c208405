package s3tier

import (
	"container/list"
	"sync"
)

// pageKey names one verified page of a slice.
type pageKey struct {
	slice uint64
	page  int64
}

// pageCache keeps verified pages up to a byte budget, least recently used
// out first. Objects are immutable, so a cached page never goes stale.
//
// An entry is a run of consecutive pages of one slice, as one GET brought
// them: the pages share the response's buffer instead of each being copied
// out of it, and the entry is charged and evicted as a whole, so the
// budget counts every byte the cache keeps alive. Readers copy pages out
// under the cache's lock and no reference to a buffer leaves it, so an
// evicted buffer goes straight back to the pool its read came from.
type pageCache struct {
	mu       sync.Mutex
	budget   int64
	pageSize int64
	free     func([]byte) // takes back an evicted pooled buffer
	used     int64
	lru      *list.List // of *cacheEntry, front = most recent
	index    map[pageKey]*list.Element
	hits     int64
	misses   int64
}

type cacheEntry struct {
	slice  uint64
	first  int64 // page number of data's first byte
	data   []byte
	pooled bool // data came from the pool, and goes back to it
}

// pages returns the range of page numbers the entry holds.
func (e *cacheEntry) pages(pageSize int64) (first, last int64) {
	return e.first, e.first + (int64(len(e.data))+pageSize-1)/pageSize - 1
}

func newPageCache(budget, pageSize int64, free func([]byte)) *pageCache {
	return &pageCache{budget: budget, pageSize: pageSize, free: free, lru: list.New(), index: map[pageKey]*list.Element{}}
}

// copyPage copies the bytes of page k that fall in [from, to) of the slice
// into dst, which holds [from, to), and reports whether k was cached.
func (c *pageCache) copyPage(k pageKey, dst []byte, from, to int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.index[k]
	if !ok {
		c.misses++
		return false
	}
	c.lru.MoveToFront(e)
	c.hits++
	ce := e.Value.(*cacheEntry)
	copyRange(dst, from, to, ce.data, ce.first*c.pageSize, k.page*c.pageSize, c.pageSize)
	return true
}

// copyRange copies into dst (holding bytes [from, to) of a slice) the
// part of the page that starts at byte page, inside src (which holds bytes
// from srcOff on).
func copyRange(dst []byte, from, to int64, src []byte, srcOff, page, pageSize int64) {
	lo := max(from, page)
	hi := min(to, page+pageSize, srcOff+int64(len(src)))
	if hi > lo {
		copy(dst[lo-from:hi-from], src[lo-srcOff:hi-srcOff])
	}
}

// has reports whether k is cached, without counting a hit or a miss.
func (c *pageCache) has(k pageKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.index[k]
	return ok
}

// put caches the pages of slice that data holds, data starting at page
// first; every page but the last is a whole page. Pages already cached
// keep their entry. The cache owns data from here on: with pooled set it
// goes back to the pool when evicted (or at once, if nothing is kept).
func (c *pageCache) put(slice uint64, first int64, data []byte, pooled bool) {
	if int64(cap(data)) > c.budget || len(data) == 0 {
		c.release(data, pooled)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ce := &cacheEntry{slice: slice, first: first, data: data, pooled: pooled}
	var e *list.Element
	_, last := ce.pages(c.pageSize)
	for pg := first; pg <= last; pg++ {
		k := pageKey{slice, pg}
		if old, ok := c.index[k]; ok {
			c.lru.MoveToFront(old)
			continue
		}
		if e == nil {
			e = c.lru.PushFront(ce)
			c.used += int64(cap(data)) // a pooled buffer is larger than its data
		}
		c.index[k] = e
	}
	if e == nil {
		c.release(data, pooled) // every page was cached already
	}
	for c.used > c.budget {
		c.evictLocked(c.lru.Back())
	}
}

func (c *pageCache) release(data []byte, pooled bool) {
	if pooled && c.free != nil {
		c.free(data)
	}
}

// evictLocked drops entry e and the pages that map to it.
func (c *pageCache) evictLocked(e *list.Element) {
	ce := e.Value.(*cacheEntry)
	first, last := ce.pages(c.pageSize)
	for pg := first; pg <= last; pg++ {
		k := pageKey{ce.slice, pg}
		if c.index[k] == e {
			delete(c.index, k)
		}
	}
	c.lru.Remove(e)
	c.used -= int64(cap(ce.data))
	c.release(ce.data, ce.pooled)
}

// stats returns hits and misses so far.
func (c *pageCache) stats() (int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}
