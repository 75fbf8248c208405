// Command hafs-fuse mounts a HAFS filesystem with FUSE, in the foreground.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/storeurl"
	hfs "github.com/hafs/hafs/fs"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
	"github.com/hafs/hafs/s3tier"
)

func main() {
	cliutil.Run(&cli.App{
		Name:      "hafs-fuse",
		Usage:     "mount a HAFS filesystem",
		UsageText: "hafs-fuse [--store URL] [--name NAME] [options] MOUNTPOINT",
		Description: "Mounts filesystem NAME of the metadata store at MOUNTPOINT and serves it until\n" +
			"SIGINT or SIGTERM, which unmount cleanly (exit 0). Several hafs-fuse processes,\n" +
			"on one machine or many, may mount the same filesystem: each is one client.\n" +
			"Options may also be given fstab-style: -o ro,allow_other,attr_timeout=2s.",
		Flags: append(cliutil.StoreFlags(),
			&cli.DurationFlag{Name: "attr-timeout", Value: time.Second, Usage: "how long the kernel caches attributes"},
			&cli.DurationFlag{Name: "entry-timeout", Value: time.Second, Usage: "how long the kernel caches names"},
			&cli.DurationFlag{Name: "negative-timeout", Value: 0, Usage: "how long the kernel caches missing names"},
			&cli.BoolFlag{Name: "read-only", Usage: "mount read-only"},
			&cli.BoolFlag{Name: "allow-other", Usage: "let users other than the mounter use the mount"},
			&cli.BoolFlag{Name: "debug", Usage: "log every FUSE request"},
			&cli.DurationFlag{Name: "heartbeat", Value: time.Second, Usage: "how often this client proves it is alive"},
			&cli.DurationFlag{Name: "session-expiry", Value: 5 * time.Second, Usage: "how long a silent client keeps its session and locks"},
			&cli.StringFlag{Name: "metrics", Value: "127.0.0.1:0", Usage: "serve /metrics, /healthz and /readyz on `ADDR` (empty: off; port 0: any free port, logged)"},
			&cli.DurationFlag{Name: "backup-interval", Usage: "back the metadata up into the primary bucket every `DURATION` (0: off)"},
			&cli.IntFlag{Name: "backup-keep", Value: 24, Usage: "keep the newest `N` metadata backups"},
			&cli.IntFlag{Name: "mem-cache-size", Value: 256, Usage: "memory cache of object data, in `MiB`"},
			&cli.StringFlag{Name: "cache-dir", Usage: "local disk cache of object data in `DIR` (off when empty)"},
			&cli.IntFlag{Name: "cache-size", Value: 10240, Usage: "disk cache size, in `MiB`"},
			&cli.IntFlag{Name: "buffer-size", Value: 256, Usage: "write-back buffer limit across all files, in `MiB`"},
			&cli.StringFlag{Name: "cpuprofile", Hidden: true, Usage: "write a CPU profile to `FILE` until unmount"},
			&cli.StringSliceFlag{Name: "o", Usage: "mount options `key[=value],...` (ro, allow_other, debug, attr_timeout, entry_timeout, negative_timeout, store, name)"},
		),
		Action: run,
	})
}

// settings are the mount's options after flags and -o are merged.
type settings struct {
	store, name                 string
	attrTTL, entryTTL, negTTL   time.Duration
	readOnly, allowOther, debug bool
}

func parseSettings(c *cli.Context) (settings, error) {
	s := settings{
		store: c.String("store"), name: c.String("name"),
		attrTTL: c.Duration("attr-timeout"), entryTTL: c.Duration("entry-timeout"), negTTL: c.Duration("negative-timeout"),
		readOnly: c.Bool("read-only"), allowOther: c.Bool("allow-other"), debug: c.Bool("debug"),
	}
	for _, group := range c.StringSlice("o") {
		for _, opt := range strings.Split(group, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(opt), "=")
			var err error
			switch k {
			case "", "rw", "defaults", "auto", "noauto", "nofail", "_netdev", "user", "nouser", "exec", "noexec", "suid", "nosuid", "dev", "nodev":
				// fstab and mount(8) words that need nothing from us.
			case "ro":
				s.readOnly = true
			case "allow_other":
				s.allowOther = true
			case "debug":
				s.debug = true
			case "store":
				s.store = v
			case "name":
				s.name = v
			case "attr_timeout":
				s.attrTTL, err = parseTTL(v)
			case "entry_timeout":
				s.entryTTL, err = parseTTL(v)
			case "negative_timeout":
				s.negTTL, err = parseTTL(v)
			default:
				return s, fmt.Errorf("unknown mount option %q", k)
			}
			if err != nil {
				return s, fmt.Errorf("mount option %s: %w", k, err)
			}
		}
	}
	return s, nil
}

// parseTTL accepts a Go duration or plain seconds, as fstab users write.
func parseTTL(v string) (time.Duration, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return d, nil
	}
	var secs float64
	if _, err := fmt.Sscanf(v, "%g", &secs); err != nil || secs < 0 {
		return 0, fmt.Errorf("bad duration %q", v)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// checkMountpoint refuses a missing, non-directory or already mounted path,
// and returns it absolute with symlinks resolved: the kernel mounts on the
// directory a symlink leads to, and the mount table lists that one.
func checkMountpoint(mnt string) (string, error) {
	abs, err := filepath.Abs(mnt)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("mount point %s does not exist", abs)
	case err != nil:
		return "", fmt.Errorf("mount point %s: %w", abs, errors.Unwrap(err))
	case !st.IsDir():
		return "", fmt.Errorf("mount point %s is not a directory", abs)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return "", fmt.Errorf("mount point: %w", err)
	}
	if mounted, err := isMountpoint(abs); err != nil {
		return "", err
	} else if mounted {
		return "", fmt.Errorf("mount point %s is already mounted", abs)
	}
	return abs, nil
}

// isMountpoint reports whether path is the mount point of a mounted
// filesystem, per /proc/self/mountinfo.
func isMountpoint(path string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == path {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMount undoes the octal escapes of spaces and such in mountinfo.
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func run(c *cli.Context) error {
	set, mnt, err := prepare(c)
	if err != nil {
		return err
	}
	m, store, err := cliutil.OpenFS(c)
	if err != nil {
		return err
	}
	defer store.Close()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// SIGINT and SIGTERM are caught from before the session exists, so that
	// one arriving while mounting still ends in a clean unmount. Killed by
	// its default action then, the process would hang for good: go-fuse
	// opens and closes a probe file on the new mount from this process,
	// and a close whose answer the dying server never sends blocks exit.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	host, _ := os.Hostname()
	err = m.StartSession(c.Context, meta.SessionInfo{Hostname: host, Pid: os.Getpid(), Mountpoint: mnt,
		Version: cliutil.Version}, log)
	if err != nil {
		return err
	}
	sessCtx, stopSession := context.WithCancel(context.Background())
	defer stopSession()
	go m.KeepAlive(sessCtx, c.Duration("heartbeat"), c.Duration("session-expiry"), log)
	data, router, err := cliutil.DataPath(c.Context, m, s3tier.Options{
		CacheBytes: int64(c.Int("mem-cache-size")) << 20, BufferBytes: int64(c.Int("buffer-size")) << 20,
		CacheDir: c.String("cache-dir"), DiskCacheBytes: int64(c.Int("cache-size")) << 20}, log)
	if err != nil {
		_ = m.EndSession(context.Background())
		return err
	}
	defer data.Close()
	go data.RunDeleter(sessCtx)
	collectors := []prometheus.Collector{data}
	if router != nil {
		go router.Run(sessCtx)
		collectors = append(collectors, router)
	}
	if err := startBackups(c, sessCtx, set, router, log); err != nil {
		_ = m.EndSession(context.Background())
		return err
	}
	var mounted atomic.Bool
	health := healthCheck(m, data)
	metricsAddr, stopMetrics, err := cliutil.ServeMetrics(c.String("metrics"), health, mounted.Load, log, collectors...)
	if err != nil {
		_ = m.EndSession(context.Background())
		return err
	}
	defer stopMetrics()
	root := hfs.NewRoot(m, hfs.Options{
		EntryTimeout: set.entryTTL, AttrTimeout: set.attrTTL, NegativeTimeout: set.negTTL,
		ReadOnly: set.readOnly, Logger: log, Locks: cliutil.Locks(m), Data: data,
	})
	go root.RunCloser(sessCtx)
	opts := fuseOptions(root, set)
	stopProfile, err := startProfile(c.String("cpuprofile"))
	if err != nil {
		return err
	}
	defer stopProfile()
	server, err := gofs.Mount(mnt, root, opts)
	if err != nil {
		_ = m.EndSession(context.Background())
		return fmt.Errorf("mount %s: %w", mnt, err)
	}
	mounted.Store(true)
	log.Info("mounted", "fs", set.name, "store", set.store, "mountpoint", mnt, "session", m.SessionID(),
		"metrics", metricsAddr)

	go func() {
		<-sig
		unmount(server, mnt, log)
	}()
	server.Wait()
	root.FlushCloses(context.Background())
	stopSession()
	if err := m.EndSession(context.Background()); err != nil {
		log.Warn("end session", "err", err)
	}
	log.Info("unmounted", "mountpoint", mnt, "session", m.SessionID())
	return nil
}

// prepare checks the command line, the mount point and /dev/fuse before
// anything is opened, and settles the store and name flags.
func prepare(c *cli.Context) (set settings, mnt string, err error) {
	if c.NArg() != 1 {
		return set, "", errors.New("need exactly one MOUNTPOINT (see --help)")
	}
	set, err = parseSettings(c)
	if err != nil {
		return set, "", err
	}
	if err := c.Set("store", set.store); err != nil {
		return set, "", err
	}
	if err := c.Set("name", set.name); err != nil {
		return set, "", err
	}
	mnt, err = checkMountpoint(c.Args().First())
	if err != nil {
		return set, "", err
	}
	if c.Duration("heartbeat") <= 0 || c.Duration("session-expiry") <= c.Duration("heartbeat") {
		return set, "", errors.New("--session-expiry must be longer than --heartbeat, and both positive")
	}
	return set, mnt, checkDevFuse()
}

// checkDevFuse fails early, with one line, where FUSE cannot be used.
func checkDevFuse() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("cannot use /dev/fuse: %w", errors.Unwrap(err))
	}
	return f.Close()
}

// healthCheck is the mount's health endpoint: unhealthy once fenced, while
// the metadata store is full, or while the data path's primary sites do
// not answer.
func healthCheck(m *meta.FS, data *s3tier.Tier) func(context.Context) error {
	return func(ctx context.Context) error {
		if m.Fenced() {
			return errors.New("this client was evicted or its session expired; remount")
		}
		if fr, ok := m.Store().(fdbstore.FullReporter); ok {
			if full, why := fr.Full(); full {
				return errors.New(why)
			}
		}
		return data.Health(ctx)
	}
}

// fuseOptions are the kernel mount's options.
func fuseOptions(root *hfs.Root, set settings) *gofs.Options {
	opts := root.MountOptions()
	opts.MountOptions = fuse.MountOptions{
		FsName:       "hafs:" + set.name,
		Name:         "hafs",
		Options:      []string{"default_permissions"},
		AllowOther:   set.allowOther,
		Debug:        set.debug,
		DirectMount:  true,
		MaxWrite:     1 << 20,
		MaxReadAhead: 1 << 20,
		// Locks are the filesystem's: the kernel forwards fcntl and flock
		// requests instead of keeping them local to this machine.
		EnableLocks: true,
	}
	if set.readOnly {
		opts.MountOptions.Options = append(opts.MountOptions.Options, "ro")
	}
	return opts
}

// startProfile writes a CPU profile to path until the returned stop is
// called; with no path it does nothing.
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// unmount detaches the mount, lazily if it stays busy, so that a signal
// always ends the process.
func unmount(server *fuse.Server, mnt string, log *slog.Logger) {
	for range 5 {
		if err := server.Unmount(); err == nil {
			return
		} else {
			log.Warn("unmount", "mountpoint", mnt, "err", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
		log.Error("lazy unmount", "mountpoint", mnt, "err", err)
	}
}

// startBackups starts the periodic metadata backup (--backup-interval)
// into the primary bucket. The dump reads one snapshot, so it gets a store
// handle of its own with a timeout as long as a dump may take.
func startBackups(c *cli.Context, ctx context.Context, set settings, router *routing.Router, log *slog.Logger) error {
	every := c.Duration("backup-interval")
	if every <= 0 {
		return nil
	}
	if router == nil {
		return errors.New("--backup-interval: this filesystem has no bucket to back its metadata up into")
	}
	s, err := storeurl.Open(c.Context, set.store, storeurl.Options{Options: fdbstore.Options{Timeout: time.Hour}})
	if err != nil {
		return fmt.Errorf("--backup-interval: %w", err)
	}
	dump := func(ctx context.Context, w io.Writer) error {
		_, err := meta.Dump(ctx, s, set.name, w, nil)
		return err
	}
	go func() {
		defer s.Close()
		s3tier.RunBackups(ctx, dump, router, s3tier.BackupOptions{Name: set.name, Interval: every,
			Keep: c.Int("backup-keep"), Log: log})
	}()
	return nil
}
