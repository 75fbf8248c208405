package s3tier

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hafs/hafs/routing"
)

// BackupPrefix is where periodic metadata backups go in the bucket, beside
// the block objects (which gc alone touches: it lists ObjectPrefix).
const BackupPrefix = "meta-backup/"

// BackupOptions shape the periodic metadata backup.
type BackupOptions struct {
	// Name is the filesystem's name, part of each backup's key.
	Name string
	// Interval is the time between backups.
	Interval time.Duration
	// Keep is how many backups of the filesystem to keep (the newest).
	Keep int
	Log  *slog.Logger
}

// RunBackups writes a metadata dump (gzip-compressed hafs dump output)
// to obj every Interval, as BackupPrefix/NAME-TIME.json.gz, and deletes
// all but the newest Keep, until ctx ends. A failed backup is logged and
// tried again at the next interval. The compressed dump is held in memory
// for the upload (the object store takes whole objects).
func RunBackups(ctx context.Context, dump func(ctx context.Context, w io.Writer) error, obj routing.ObjectStore, o BackupOptions) {
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		key, n, err := Backup(ctx, dump, obj, o)
		if err != nil {
			if ctx.Err() == nil {
				o.Log.Error("metadata backup failed; trying again at the next interval", "err", err)
			}
			continue
		}
		o.Log.Info("metadata backup", "key", key, "bytes", n)
	}
}

// Backup makes one backup now and prunes old ones; it returns its key.
func Backup(ctx context.Context, dump func(ctx context.Context, w io.Writer) error, obj routing.ObjectStore, o BackupOptions) (string, int, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := dump(ctx, zw); err != nil {
		return "", 0, err
	}
	if err := zw.Close(); err != nil {
		return "", 0, err
	}
	key := fmt.Sprintf("%s%s-%s.json.gz", BackupPrefix, o.Name, time.Now().UTC().Format("20060102T150405.000Z"))
	if err := obj.Put(ctx, key, buf.Bytes()); err != nil {
		return "", 0, fmt.Errorf("upload metadata backup %s: %w", key, err)
	}
	var keys []string
	err := obj.List(ctx, BackupPrefix+o.Name+"-", func(ob routing.Object) error {
		if strings.HasSuffix(ob.Key, ".json.gz") {
			keys = append(keys, ob.Key)
		}
		return nil
	})
	if err != nil {
		return key, buf.Len(), fmt.Errorf("list metadata backups: %w", err)
	}
	slices.Sort(keys) // the time in the name sorts oldest first
	for len(keys) > max(o.Keep, 1) {
		if err := obj.Delete(ctx, keys[0]); err != nil {
			return key, buf.Len(), fmt.Errorf("delete old metadata backup %s: %w", keys[0], err)
		}
		keys = keys[1:]
	}
	return key, buf.Len(), nil
}
