package s3tier

import (
	"bytes"
	"context"
	"fmt"

	"github.com/hafs/hafs/meta"
)

// compactAt is the encoded size of a chunk's slice list past which it is
// compacted in the background: late enough that random small writes cost
// little rewriting (a 64 MiB chunk is rewritten after some thousands of
// them), early enough that a writer rarely finds the list full.
const compactAt = meta.MaxChunkValue * 3 / 4

// compactLater compacts chunk idx of ino in the background, once at a time.
func (t *Tier) compactLater(ino uint64, idx int64) {
	key := [2]int64{int64(ino), idx}
	t.mu.Lock()
	if t.compacts[key] {
		t.mu.Unlock()
		return
	}
	t.compacts[key] = true
	t.mu.Unlock()
	go func() {
		defer func() {
			t.mu.Lock()
			delete(t.compacts, key)
			t.mu.Unlock()
		}()
		if err := t.compact(context.Background(), ino, idx); err != nil {
			t.log.Warn("background compaction failed; a later write retries it", "ino", ino, "chunk", idx, "err", err)
		}
	}()
}

// compact rewrites chunk idx of ino as few, whole slices: it reads what the
// chunk shows, uploads it as new slices (intent first, as every upload) and
// swaps the chunk's list for them if nobody changed it meanwhile. The old
// slices' objects go to the deletion queue in that same transaction.
func (t *Tier) compact(ctx context.Context, ino uint64, idx int64) error {
	cs := t.layout.ChunkSize
	p, err := t.m.PlanRead(ctx, ino, idx*cs, int(cs))
	if err != nil {
		return err
	}
	old := p.Chunks[idx]
	if len(old) == 0 {
		return nil
	}
	data := p.Base
	// The inline bytes the new slices will carry: the swap must not
	// happen if a punch or truncate changed them meanwhile (that adds no
	// slice entry, so the list alone would not show it).
	var inline []byte
	if idx == 0 && t.layout.InlineMax > 0 {
		inline = bytes.Clone(data[:min(int64(len(data)), t.layout.InlineMax)])
	}
	if err := t.paint(ctx, p, data); err != nil {
		return err
	}
	var repl []meta.SliceRef
	abandon := func() {
		for _, r := range repl {
			_ = t.m.AbandonSlice(ctx, r.ID, int64(r.Len))
		}
	}
	for pos := int64(0); pos < int64(len(data)); pos += t.layout.BlockSize {
		piece := data[pos:min(pos+t.layout.BlockSize, int64(len(data)))]
		ref, err := t.putSlice(ctx, piece)
		if err != nil {
			abandon()
			return err
		}
		ref.Pos = uint32(pos)
		repl = append(repl, ref)
	}
	ok, err := t.m.ReplaceChunk(ctx, ino, idx, old, repl, inline)
	t.Invalidate(ino)
	if err != nil || !ok {
		abandon()
		if err != nil {
			return fmt.Errorf("compact inode %d chunk %d: %w", ino, idx, err)
		}
		return nil // changed meanwhile: the caller retries its commit
	}
	t.log.Info("compacted a fragmented chunk", "ino", ino, "chunk", idx, "slices_before", len(old), "slices_after", len(repl))
	return nil
}
