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
type pageCache struct {
	mu     sync.Mutex
	budget int64
	used   int64
	lru    *list.List // of *cacheEntry, front = most recent
	index  map[pageKey]*list.Element
	hits   int64
	misses int64
}

type cacheEntry struct {
	key  pageKey
	data []byte
}

func newPageCache(budget int64) *pageCache {
	return &pageCache{budget: budget, lru: list.New(), index: map[pageKey]*list.Element{}}
}

func (c *pageCache) get(k pageKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.index[k]; ok {
		c.lru.MoveToFront(e)
		c.hits++
		return e.Value.(*cacheEntry).data, true
	}
	c.misses++
	return nil, false
}

// has reports whether k is cached, without counting a hit or a miss.
func (c *pageCache) has(k pageKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.index[k]
	return ok
}

func (c *pageCache) put(k pageKey, data []byte) {
	if int64(len(data)) > c.budget {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.index[k]; ok {
		c.lru.MoveToFront(e)
		return
	}
	c.index[k] = c.lru.PushFront(&cacheEntry{key: k, data: data})
	c.used += int64(len(data))
	for c.used > c.budget {
		e := c.lru.Back()
		ce := e.Value.(*cacheEntry)
		c.lru.Remove(e)
		delete(c.index, ce.key)
		c.used -= int64(len(ce.data))
	}
}

// stats returns hits and misses so far.
func (c *pageCache) stats() (int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}
