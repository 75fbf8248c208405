package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sys/unix"

	"github.com/hafs/hafs/test/etcd"
)

// smallTmpfs mounts a tmpfs of size bytes on a fresh directory, removed
// when the test ends (after the mounts on top of it: registered first).
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	must(t, unix.Mount("hafs-e2e-full", dir, "tmpfs", 0, "mode=0755,size="+size))
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting the small tmpfs %s: %v", dir, err)
			_ = unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return dir
}

// TestStoreFull: the embedded store on a small tmpfs, filled through the
// mount. Writes and creates then fail with ENOSPC (not EIO); cat, ls and
// stat still work; /healthz and hafs status say the store is full; a new
// mount still registers its session; rm works and frees space, after
// which creates work again; every fsync'd file is intact after a remount,
// and fsck is clean.
func TestStoreFull(t *testing.T) {
	requireRoot(t)
	disk := smallTmpfs(t, "24m")
	fs := NewFS(t, FSOptions{Store: "sqlite://" + filepath.Join(disk, "meta.db")})
	m := fs.Mount(t)

	synced := map[string][]byte{}
	for i := range 4 {
		name := fmt.Sprintf("synced-%d", i)
		data := bytes.Repeat([]byte{byte('a' + i)}, 100_000*(i+1))
		fd := openFD(t, filepath.Join(m.Dir, name), unix.O_WRONLY|unix.O_CREAT, 0o644)
		pwrite(t, fd, data, 0)
		must(t, unix.Fsync(fd))
		must(t, unix.Close(fd))
		synced[name] = data
	}

	// Fill: 256 KiB files until the store refuses, then small creates
	// until those are refused too. ENOSPC every time, never EIO.
	chunk := bytes.Repeat([]byte("x"), 256<<10)
	var fillers []string
	fill := func(data []byte, limit int) {
		for i := range limit {
			name := filepath.Join(m.Dir, fmt.Sprintf("fill-%d-%d", len(data), i))
			err := os.WriteFile(name, data, 0o644)
			if _, serr := os.Lstat(name); serr == nil {
				fillers = append(fillers, name)
			}
			if err != nil {
				if !errors.Is(err, unix.ENOSPC) {
					t.Fatalf("filling the store: %v, want ENOSPC", err)
				}
				return
			}
		}
		t.Fatalf("%d files of %d bytes fit on a 24 MiB disk", limit, len(data))
	}
	fill(chunk, 200)
	fill([]byte("small"), 20_000)
	wantErrno(t, "create on a full store", openClose(filepath.Join(m.Dir, "new"), unix.O_CREAT|unix.O_WRONLY, 0o644), unix.ENOSPC)

	// Reads need no write.
	for name, data := range synced {
		wantContent(t, filepath.Join(m.Dir, name), data)
		stat(t, filepath.Join(m.Dir, name))
	}
	if ents, err := os.ReadDir(m.Dir); err != nil || len(ents) != len(synced)+len(fillers) {
		t.Errorf("ls of the full store: %d entries, %v; want %d", len(ents), err, len(synced)+len(fillers))
	}
	if body, code := httpGet(t, metricsURL(t, m)+"/healthz"); code != 503 || !strings.Contains(body, "store full") {
		t.Errorf("/healthz on a full store: %d %s, want 503 saying the store is full", code, body)
	}
	if out, err := hafsAdmin(t, fs, "status"); err == nil || !strings.Contains(out, "store full") {
		t.Errorf("hafs status on a full store: %v, want an error saying the store is full; output:\n%s", err, out)
	}

	// A new client registers its session on the full store, and reads.
	second := fs.Mount(t)
	wantContent(t, filepath.Join(second.Dir, "synced-0"), synced["synced-0"])

	// rm works on the full store and gives the space back.
	for _, name := range fillers {
		must(t, os.Remove(name))
	}
	must(t, unix.Truncate(filepath.Join(m.Dir, "synced-3"), 0))
	delete(synced, "synced-3")
	if err := openClose(filepath.Join(m.Dir, "after-rm"), unix.O_CREAT|unix.O_WRONLY, 0o644); err != nil {
		t.Errorf("create after freeing the space: %v", err)
	}
	writeFile(t, filepath.Join(m.Dir, "after-rm"), "room again")
	second.Unmount(t)
	m.Unmount(t)

	third := fs.Mount(t)
	for name, data := range synced {
		wantContent(t, filepath.Join(third.Dir, name), data)
	}
	wantContent(t, filepath.Join(third.Dir, "synced-3"), nil)
	eventually(t, 10*time.Second, func() error {
		if out, err := hafsAdmin(t, fs, "status"); strings.Contains(out, "store full") {
			return fmt.Errorf("hafs status after freeing the space: %v\n%s", err, out)
		}
		return nil
	})
	third.Unmount(t)
}

// TestStoreFullEtcd: an etcd cluster whose NOSPACE alarm is raised (its
// backend quota reached) refuses writes: creates fail with ENOSPC, not
// EIO, reads still work, /healthz and hafs status say the store is full;
// once the alarm is disarmed, creates work again.
func TestStoreFullEtcd(t *testing.T) {
	requireRoot(t)
	c := etcd.Start(t, 1)
	fs := NewFS(t, FSOptions{Store: c.StoreURL("full")})
	m := fs.Mount(t)
	writeFile(t, filepath.Join(m.Dir, "f"), "before the alarm")
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	must(t, err)
	defer cli.Close()
	ctx := context.Background()
	members, err := cli.MemberList(ctx)
	must(t, err)
	id := members.Members[0].ID
	_, err = etcdserverpb.NewMaintenanceClient(cli.ActiveConnection()).Alarm(ctx, &etcdserverpb.AlarmRequest{
		Action: etcdserverpb.AlarmRequest_ACTIVATE, MemberID: id, Alarm: etcdserverpb.AlarmType_NOSPACE})
	must(t, err)
	disarmed := false
	disarm := func() {
		if !disarmed {
			_, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: id, Alarm: etcdserverpb.AlarmType_NOSPACE})
			must(t, err)
			disarmed = true
		}
	}
	defer disarm()

	wantErrno(t, "create on etcd with NOSPACE raised", openClose(filepath.Join(m.Dir, "new"), unix.O_CREAT|unix.O_WRONLY, 0o644), unix.ENOSPC)
	wantContent(t, filepath.Join(m.Dir, "f"), []byte("before the alarm"))
	if body, code := httpGet(t, metricsURL(t, m)+"/healthz"); code != 503 || !strings.Contains(body, "store full") {
		t.Errorf("/healthz with NOSPACE raised: %d %s, want 503 saying the store is full", code, body)
	}
	if out, err := hafsAdmin(t, fs, "status"); err == nil || !strings.Contains(out, "store full") {
		t.Errorf("hafs status with NOSPACE raised: %v, want an error saying the store is full; output:\n%s", err, out)
	}
	disarm()
	writeFile(t, filepath.Join(m.Dir, "after"), "after the alarm")
}
