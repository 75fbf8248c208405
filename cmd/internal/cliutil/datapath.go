package cliutil

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/hafs/hafs/fdbstore/meta"
	"github.com/hafs/hafs/routing"
	"github.com/hafs/hafs/s3tier"
)

// PrimarySite is the name hafs-mkfs --bucket gives the bucket it records.
const PrimarySite = "primary"

// OpenObjectStore opens the object store of filesystem m, or returns nil
// when it keeps every body in the metadata store.
func OpenObjectStore(ctx context.Context, m *meta.FS) (routing.ObjectStore, error) {
	if m.Layout() == nil {
		return nil, nil
	}
	sites, err := m.Sites(ctx)
	if err != nil {
		return nil, fmt.Errorf("read sites: %w", err)
	}
	raw, ok := sites[PrimarySite]
	if !ok {
		return nil, fmt.Errorf("filesystem %q has a data layout but no %q site", m.Superblock().Name, PrimarySite)
	}
	var site routing.Site
	if err := json.Unmarshal(raw, &site); err != nil {
		return nil, fmt.Errorf("site %q: corrupt record: %w", PrimarySite, err)
	}
	return routing.OpenS3(ctx, site)
}

// DataPath returns filesystem m's data path: the object store when it has
// one (checked to answer), the metadata store alone otherwise.
func DataPath(ctx context.Context, m *meta.FS, opts s3tier.Options, log *slog.Logger) (*s3tier.Tier, error) {
	obj, err := OpenObjectStore(ctx, m)
	if err != nil {
		return nil, err
	}
	if obj != nil {
		if err := obj.Health(ctx); err != nil {
			return nil, fmt.Errorf("object store %s: %w", obj, err)
		}
	}
	opts.Logger = log
	return s3tier.New(m, obj, opts)
}
