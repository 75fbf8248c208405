package routing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hafs/hafs/meta"
)

// drainIdle is how long Drain waits when the remaining jobs are claimed by
// running mounts (or wait for them), before it looks at the queues again.
const drainIdle = 250 * time.Millisecond

// Drain copies to the other sites every block they still lack (their
// queued jobs, which may have site name as their only source), running the
// replication work in this process, and returns when no other site has a
// job or a backfill left. It writes a progress line, and each error it
// retries after, to out. The caller holds a session, so that its claims
// are fenced and released like a mount's.
func (r *Router) Drain(ctx context.Context, name string, out io.Writer) error {
	return r.DrainWith(ctx, name, out, nil)
}

// Progress is told how much of a long job is done (the admin tool's
// progress reporter).
type Progress interface{ Add(n int64) }

// DrainWith is Drain counting the jobs done on p (when not nil) instead of
// redrawing its own line on out.
func (r *Router) DrainWith(ctx context.Context, name string, out io.Writer, p Progress) error {
	attempt := 0
	prev := int64(-1)
	for {
		bl, err := r.m.Backlogs(ctx)
		if err != nil {
			return err
		}
		var jobs, bytes int64
		pending := false
		for site, b := range bl {
			if site != name {
				jobs, bytes = jobs+b.Jobs, bytes+b.Bytes
				pending = pending || b.Backfill
			}
		}
		if p == nil {
			fmt.Fprintf(out, "\rdrain %s: %d jobs (%d bytes) left on the other sites   ", name, jobs, bytes)
		} else if prev > jobs {
			p.Add(prev - jobs)
		}
		prev = jobs
		if jobs == 0 && !pending {
			if p == nil {
				fmt.Fprintln(out)
			}
			return nil
		}
		did, err := r.drainRound(ctx, name, bl)
		wait := time.Duration(0)
		switch {
		case err != nil:
			wait = Backoff(attempt, 200*time.Millisecond, 10*time.Second, nil)
			attempt++
			first, _, _ := strings.Cut(err.Error(), "\n")
			fmt.Fprintf(out, "\ndrain %s: %s (retrying in %s)\n", name, first, wait.Round(time.Millisecond))
		case !did:
			wait, attempt = drainIdle, 0
		default:
			attempt = 0
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
}

// drainRound runs one round of copy work for every site but name; did
// says whether any copy was made.
func (r *Router) drainRound(ctx context.Context, name string, sites map[string]meta.Backlog) (did bool, err error) {
	var errs []error
	for site := range sites {
		if site != name {
			d, err := r.WorkOnce(ctx, site)
			did = did || d
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return did, errors.Join(errs...)
}
