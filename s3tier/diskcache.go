package s3tier

import (
	"container/list"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/hafs/hafs/internal/directio"
	"github.com/hafs/hafs/meta"
)

// diskCache keeps verified pages as files under a directory, up to a byte
// budget, least recently used out first. Pages are immutable, so a file is
// never rewritten; every read from it is checked against the page's CRC by
// the caller all the same (a disk can rot), and a bad file is dropped.
//
// Besides pages it keeps whole objects (the key's page is objectPage): the
// slices this client uploads, written as they go up, so that what a node
// wrote it reads back from its own disk, the way a local filesystem would,
// rather than over the network one page at a time.
type diskCache struct {
	dir    string
	budget int64

	mu    sync.Mutex
	used  int64
	lru   *list.List // of *diskEntry, front = most recent
	index map[pageKey]*list.Element

	// objects keeps the whole-object files read last open (see
	// directio.Files); a dropped or evicted one is forgotten first.
	objects *directio.Files
}

// diskOpenObjects is how many whole-object files the disk cache keeps
// open: 1 GiB of 4 MiB blocks.
const diskOpenObjects = 256

type diskEntry struct {
	key  pageKey
	size int64
}

// openDiskCache uses dir (created if missing) and indexes the pages an
// earlier run left there, so the cache survives a remount.
func openDiskCache(dir string, budget int64) (*diskCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	c := &diskCache{dir: dir, budget: budget, lru: list.New(), index: map[pageKey]*list.Element{},
		objects: directio.NewFiles(diskOpenObjects)}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		k, ok := c.parse(path)
		info, ierr := d.Info()
		if !ok || ierr != nil {
			_ = os.Remove(path) // a temporary file of a crashed write, or junk
			return nil
		}
		c.index[k] = c.lru.PushBack(&diskEntry{key: k, size: info.Size()})
		c.used += info.Size()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache directory %s: %w", dir, err)
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

// objectPage is the page number of a whole object's entry.
const objectPage = -1

func (c *diskCache) path(k pageKey) string {
	name := fmt.Sprintf("%016x.%d", k.slice, k.page)
	if k.page == objectPage {
		name = fmt.Sprintf("%016x.obj", k.slice)
	}
	return filepath.Join(c.dir, fmt.Sprintf("%02x", k.slice&0xff), name)
}

func (c *diskCache) parse(path string) (pageKey, bool) {
	name := filepath.Base(path)
	hex, page, ok := strings.Cut(name, ".")
	if !ok || len(hex) != 16 {
		return pageKey{}, false
	}
	id, err1 := strconv.ParseUint(hex, 16, 64)
	if page == "obj" {
		return pageKey{id, objectPage}, err1 == nil
	}
	pg, err2 := strconv.ParseInt(page, 10, 64)
	return pageKey{id, pg}, err1 == nil && err2 == nil && pg >= 0
}

// get returns the page's bytes, unverified, if the cache holds them.
func (c *diskCache) get(k pageKey) ([]byte, bool) {
	if !c.touch(k) {
		return nil, false
	}
	data, err := os.ReadFile(c.path(k))
	if err != nil {
		c.drop(k)
		return nil, false
	}
	return data, true
}

// touch marks k used now and reports whether the cache holds it.
func (c *diskCache) touch(k pageKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.index[k]
	if ok {
		c.lru.MoveToFront(e)
	}
	return ok
}

// bytes returns what the cache holds (0 for a nil cache: none).
func (c *diskCache) bytes() int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// hasObject reports whether the cache holds slice id's whole object.
func (c *diskCache) hasObject(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.index[pageKey{id, objectPage}]
	return ok
}

// readObject reads len(dst) bytes of slice id's cached object at off,
// unverified; false when it is not there (any more) or is too short.
func (c *diskCache) readObject(id uint64, off int64, dst []byte) bool {
	k := pageKey{id, objectPage}
	if !c.touch(k) {
		return false
	}
	if n, _ := c.objects.ReadAt(c.path(k), dst, off); n != len(dst) {
		c.drop(k)
		return false
	}
	return true
}

// put stores a verified page (or whole object). Failures only cost the cache a page.
func (c *diskCache) put(k pageKey, data []byte) {
	c.mu.Lock()
	_, ok := c.index[k]
	c.mu.Unlock()
	if ok || int64(len(data)) > c.budget {
		return
	}
	p := c.path(k)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	// Write then rename: a crash leaves a temporary file (removed at the
	// next start), never a torn page under a page's name.
	f, err := os.CreateTemp(filepath.Dir(p), "tmp-*")
	if err != nil {
		return
	}
	tmp := f.Name()
	if err := directio.WriteAt(f, data, 0); err != nil || f.Close() != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.index[k]; ok {
		return
	}
	c.index[k] = c.lru.PushFront(&diskEntry{key: k, size: int64(len(data))})
	c.used += int64(len(data))
	c.evictLocked()
}

// drop forgets a page whose file is missing or failed its checksum.
func (c *diskCache) drop(k pageKey) {
	c.mu.Lock()
	if e, ok := c.index[k]; ok {
		c.lru.Remove(e)
		delete(c.index, k)
		c.used -= e.Value.(*diskEntry).size
	}
	c.mu.Unlock()
	c.objects.Forget(c.path(k))
	_ = os.Remove(c.path(k))
}

func (c *diskCache) evictLocked() {
	for c.used > c.budget {
		e := c.lru.Back()
		de := e.Value.(*diskEntry)
		c.lru.Remove(e)
		delete(c.index, de.key)
		c.used -= de.size
		c.objects.Forget(c.path(de.key))
		_ = os.Remove(c.path(de.key))
	}
}

// objectFromDisk reads pages [first, last] of slice r from its whole
// object in the disk cache and verifies them, as fetchPages does from the
// object store; false when the cache has no good copy (a bad one is
// dropped and counted).
func (t *Tier) objectFromDisk(r meta.SliceRef, first, last int64) (data []byte, pooled bool, ok bool) {
	ps := t.layout.PageSize
	lo, hi := first*ps, min((last+1)*ps, int64(r.Len))
	buf := t.bufs.get(int(hi - lo))
	if !t.disk.readObject(r.ID, lo, buf) {
		t.bufs.put(buf)
		return nil, false, false
	}
	for pg := first; pg <= last; pg++ {
		page := buf[pg*ps-lo : min((pg+1)*ps, int64(r.Len))-lo]
		if int(pg) >= len(r.CRCs) || crc32.Checksum(page, t.crc) != r.CRCs[pg] {
			t.crcErrors.Add(1)
			t.log.Error("checksum mismatch in the disk cache: dropped the object, reading it from the object store",
				"slice", r.ID, "page", pg)
			t.disk.drop(pageKey{r.ID, objectPage})
			t.bufs.put(buf)
			return nil, false, false
		}
	}
	t.ctr.diskHits.Add(1)
	return buf, true, true
}
