package s3tier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hafs/hafs/meta"
)

// deleterIdle is how long the deleter sleeps when the queue is empty; the
// queue is durable, so a later round picks up anything added meanwhile.
const deleterIdle = time.Second

// RunDeleter drains the durable deletion queue until ctx ends: it moves
// the chunk records of deleted files into the queue (purge), deletes the
// queued objects, and removes each job only after its object is gone. Any
// number of mounts may run it at once: deleting twice is harmless, and a
// job stays queued until a deletion succeeds, across restarts.
func (t *Tier) RunDeleter(ctx context.Context) {
	backoff := deleterIdle
	for {
		n, err := t.DrainOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := deleterIdle
		switch {
		case err != nil:
			t.log.Warn("deletion queue: will retry", "err", err, "in", backoff)
			wait, backoff = backoff, min(2*backoff, time.Minute)
		case n > 0:
			wait, backoff = 0, deleterIdle
		default:
			backoff = deleterIdle
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// DrainOnce runs one round of the deleter and returns how many objects it
// deleted.
func (t *Tier) DrainOnce(ctx context.Context) (int, error) {
	if t.obj == nil {
		return 0, nil
	}
	var purgeErr error
	for {
		more, err := t.m.PurgeStep(ctx)
		if err != nil {
			// Deletions already queued must not wait on a purge that fails:
			// report it after this round.
			purgeErr = fmt.Errorf("purge deleted files: %w", err)
			break
		}
		if !more {
			break
		}
	}
	jobs, err := t.m.PendingDeletions(ctx, 256)
	if err != nil || len(jobs) == 0 {
		return 0, errors.Join(purgeErr, err)
	}
	deleted := make([]bool, len(jobs))
	delErr := inParallel(len(jobs), 16, func(i int) error {
		if err := t.obj.Delete(ctx, ObjectKey(jobs[i].Slice)); err != nil {
			return err
		}
		deleted[i] = true
		return nil
	})
	var done []meta.Deletion
	for i, j := range jobs {
		if deleted[i] {
			done = append(done, j)
		}
	}
	t.ctr.deleted.Add(int64(len(done)))
	if len(done) > 0 {
		if err := t.m.DoneDeletions(ctx, done); err != nil {
			return 0, err
		}
	}
	return len(done), errors.Join(purgeErr, delErr)
}
