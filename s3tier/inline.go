package s3tier

import "github.com/hafs/hafs/meta"

// Bodies read at open.
//
// The open of a small file reads its body in the open's own transaction
// (meta.OpenInline) and hands it here, so the read that follows needs no
// transaction of its own: a cold read of a small file costs a lookup and
// an open, not a third round trip. A body is what the store held at the
// open, which is what close-to-open promises; everything that makes it
// stale drops it, as it drops the cached layouts: this client's writes
// (Write, WriteThrough), Invalidate (open, a lock granted, a truncate), and
// a read that reaches the end of the file uses it up.

// InlineReadMax is the largest body an open hands to SeedInline.
const InlineReadMax = 64 << 10

// inlineBudget bounds the bytes of bodies waiting for their read; past it
// they are all forgotten (an open whose read never comes costs memory
// only until then).
const inlineBudget = 8 << 20

// inlineBody is one file's body as its open read it.
type inlineBody struct {
	size uint64
	data []byte
}

// SeedInline records the body an open of ino found, with ino's attributes
// a, for the reads that follow (see above). Call it after the open's
// Invalidate.
func (t *Tier) SeedInline(ino uint64, a *meta.Attr, body []byte) {
	if body == nil || uint64(len(body)) != a.Size || len(body) > InlineReadMax {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.inlines[ino]; old != nil {
		t.inlineBytes -= int64(len(old.data))
	}
	if t.inlineBytes+int64(len(body)) > inlineBudget {
		clear(t.inlines)
		t.inlineBytes = 0
	}
	t.inlines[ino] = &inlineBody{size: a.Size, data: body}
	t.inlineBytes += int64(len(body))
}

// forgetSeeded forgets ino's body: this client is about to change the file.
func (t *Tier) forgetSeeded(ino uint64) {
	t.mu.Lock()
	t.dropInlineLocked(ino)
	t.mu.Unlock()
}

// dropInlineLocked forgets ino's body; t.mu is held.
func (t *Tier) dropInlineLocked(ino uint64) {
	if b := t.inlines[ino]; b != nil {
		t.inlineBytes -= int64(len(b.data))
		delete(t.inlines, ino)
	}
}

// readSeeded copies the seeded body of ino at off into dst, when there is
// one and no write of this client waits to land, and reports whether it
// did. A read that reaches the end uses the body up.
func (t *Tier) readSeeded(ino uint64, off int64, dst []byte) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.inlines[ino]
	if b == nil {
		return 0, false
	}
	if t.small[ino] != nil || t.writers[ino] != nil {
		t.dropInlineLocked(ino)
		return 0, false
	}
	n := 0
	if off < int64(b.size) {
		n = copy(dst, b.data[off:])
	}
	if off+int64(len(dst)) >= int64(b.size) {
		t.dropInlineLocked(ino)
	}
	t.ctr.seedHits.Add(1)
	return n, true
}
