package routing

import (
	"context"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/meta"
)

// SiteSet is the filesystem's recorded set of sites and policy rules, and
// each mount's acknowledgement of the generation it writes with.
type SiteSet interface {
	LoadSites(ctx context.Context) (*meta.SiteView, error)
	WatchSites(ctx context.Context) (fdbstore.Watch, uint64, error)
	AckSites(ctx context.Context, gen uint64) error
	PublishSiteState(ctx context.Context, site string, state []byte) error
	SiteStates(ctx context.Context) (map[string][]byte, error)
}

// ReplQueue is the durable per-site queue of copies (replication, repairs
// and an added site's backfill), claimed by one live session at a time.
type ReplQueue interface {
	Backfill(ctx context.Context, site string) (meta.BackfillState, error)
	ClaimReplication(ctx context.Context, site string, limit int) ([]meta.ReplJob, error)
	ReleaseReplication(ctx context.Context, jobs []meta.ReplJob, wait time.Duration) error
	FinishReplication(ctx context.Context, job meta.ReplJob) (bool, error)
	QueueRepair(ctx context.Context, job meta.ReplJob) error
	WatchReplication(ctx context.Context, site string) (fdbstore.Watch, error)
	Backlogs(ctx context.Context) (map[string]meta.Backlog, error)
}

// SiteDeletions is the durable per-site queue of object deletions.
type SiteDeletions interface {
	FanOutDeletion(ctx context.Context, id uint64) ([]string, error)
	SiteDeletions(ctx context.Context, site string, limit int) ([]uint64, error)
	DoneSiteDeletions(ctx context.Context, site string, ids []uint64) error
}

// Metadata is all the router needs of the filesystem's metadata, under the
// session whose id tags the state it publishes. *meta.FS implements it.
type Metadata interface {
	SiteSet
	ReplQueue
	SiteDeletions
	SessionID() string
}

var _ Metadata = (*meta.FS)(nil)
