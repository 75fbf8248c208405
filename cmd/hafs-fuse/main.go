// Command hafs-fuse mounts a HAFS filesystem with FUSE, in the foreground.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
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
	args := os.Args
	if isMountHelper(args[0]) {
		var fake bool
		var err error
		if args, fake, err = helperArgs(args); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %s\n", filepath.Base(os.Args[0]), err)
			os.Exit(1)
		}
		if fake {
			os.Exit(0) // mount -f: everything but the mount, which is all we do
		}
	}
	notify := childNotifier()
	cliutil.RunArgs(cliutil.Examples(&cli.App{
		Name:      "hafs-fuse",
		Usage:     "mount a HAFS filesystem",
		UsageText: "hafs-fuse [--store URL] [--name NAME] [options] MOUNTPOINT",
		Description: "Mounts filesystem NAME of the metadata store at MOUNTPOINT and serves it until\n" +
			"SIGINT or SIGTERM, which unmount cleanly (exit 0). Several hafs-fuse processes,\n" +
			"on one machine or many, may mount the same filesystem: each is one client.\n" +
			"Options may also be given fstab-style: -o ro,allow_other,attr_timeout=2s.",
		Flags: append(cliutil.StoreFlags(),
			&cli.DurationFlag{Name: "attr-timeout", Value: time.Second, Usage: "how long the kernel caches attributes, as a `DURATION` (1s, 500ms)"},
			&cli.DurationFlag{Name: "entry-timeout", Value: time.Second, Usage: "how long the kernel caches names, as a `DURATION`"},
			&cli.DurationFlag{Name: "negative-timeout", Value: 0, Usage: "how long the kernel caches missing names, as a `DURATION`"},
			&cli.BoolFlag{Name: "read-only", Usage: "mount read-only"},
			&cli.BoolFlag{Name: "allow-other", Usage: "let users other than the mounter use the mount"},
			&cli.BoolFlag{Name: "debug", Usage: "log every FUSE request"},
			&cli.DurationFlag{Name: "heartbeat", Value: time.Second, Usage: "how often this client proves it is alive, as a `DURATION`"},
			&cli.DurationFlag{Name: "session-expiry", Value: 5 * time.Second, Usage: "how long a silent client keeps its session and locks, as a `DURATION`"},
			&cli.StringFlag{Name: "metrics", Value: "127.0.0.1:0", Usage: "serve /metrics, /healthz and /readyz on `ADDR` (empty: off; port 0: any free port, logged)"},
			&cli.DurationFlag{Name: "backup-interval", Usage: "back the metadata up into the primary bucket every `DURATION` (0: off)"},
			&cli.IntFlag{Name: "backup-keep", Value: 24, Usage: "keep the newest `N` metadata backups"},
			&cli.IntFlag{Name: "mem-cache-size", Value: 256, Usage: "memory cache of object data, in `MiB`"},
			&cli.StringFlag{Name: "cache-dir", Value: cliutil.AutoCacheDir, Usage: "local disk cache of object data in `DIR`: what this node writes and reads of remote sites (auto: /var/cache/hafs/FS-UUID, or $XDG_CACHE_HOME/hafs/FS-UUID when set or not root, unless the bodies are in a local directory already; empty: off)"},
			&cli.IntFlag{Name: "cache-size", Value: 10240, Usage: "disk cache size, in `MiB`"},
			&cli.IntFlag{Name: "buffer-size", Value: 256, Usage: "write-back buffer limit across all files, in `MiB`"},
			&cli.StringFlag{Name: "cpuprofile", Hidden: true, Usage: "write a CPU profile to `FILE` until unmount"},
			&cli.BoolFlag{Name: "background", Usage: "return once the mount serves, leaving it to a background process (as mount(8) expects)"},
			&cli.StringFlag{Name: "log-file", Usage: "log to `FILE` (appended) instead of stderr, or syslog in the background"},
			&cli.BoolFlag{Name: "strict-permissions", Usage: "also check permissions against the committed inode in each operation's transaction, so a chmod on one node holds at once on every node (costs a read per operation; see README)"},
			&cli.BoolFlag{Name: "nonempty", Usage: "mount over a directory that holds files (hiding them until unmounted)"},
			&cli.BoolFlag{Name: "sloppy", Hidden: true, Usage: "ignore unknown -o options (mount -s)"},
			&cli.StringSliceFlag{Name: "o", Usage: "mount `OPTIONS`, key[=value],...: ro, allow_other, debug, store, name, attr_timeout, ... (every flag, with _ for -), and fstab words (defaults, _netdev, noauto, nofail, ...)"},
		),
		Action: func(c *cli.Context) error {
			err := run(c, args, notify)
			notify.failed(err)
			return err
		},
	}, map[string][]string{"": {
		"# mount the default filesystem of the default store in the foreground",
		"hafs-fuse /mnt/hafs",
		"",
		"# mount from an etcd cluster, return once mounted (as mount(8) does)",
		"hafs-fuse --store etcd://10.0.0.1:2379,10.0.0.2:2379/hafs --background /mnt/hafs",
		"",
		"# fstab-style options, a log file, and other users allowed in",
		"hafs-fuse /mnt/hafs -o allow_other,attr_timeout=2s,log_file=/var/log/hafs.log",
		"",
		"# the same through mount(8) and /etc/fstab (make install adds mount.hafs)",
		"mount -t hafs sqlite:///var/lib/hafs/meta.db /mnt/hafs -o name=default,allow_other",
		"sqlite:///var/lib/hafs/meta.db /mnt/hafs hafs _netdev,allow_other 0 0",
	}}), args)
}

func run(c *cli.Context, args []string, notify *notifier) error {
	set, mnt, err := prepare(c)
	if err != nil {
		return err
	}
	if c.Bool("background") && notify == nil {
		return daemonize(args, c.String("log-file"))
	}
	log, closeLog, err := newLogger(c.String("log-file"), notify != nil)
	if err != nil {
		return err
	}
	defer closeLog()
	release, err := claimMountpoint(mnt, c.Bool("nonempty"))
	if err != nil {
		return err
	}
	defer release()
	m, store, err := cliutil.OpenFS(c)
	if err != nil {
		return err
	}
	defer store.Close()
	if c.Bool("strict-permissions") {
		m.SetStrictPermissions(hfs.CallerOf)
	}

	// SIGINT and SIGTERM are caught from before the session exists, so that
	// one arriving while mounting still ends in a clean unmount. Killed by
	// its default action then, the process would hang for good: go-fuse
	// opens and closes a probe file on the new mount from this process,
	// and a close whose answer the dying server never sends blocks exit.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	// The metrics address is taken first, to be recorded in the session
	// (hafs-list-clients shows it); it serves once the data path exists.
	metricsL, err := cliutil.ListenMetrics(c.String("metrics"))
	if err != nil {
		return err
	}
	metricsAddr := ""
	if metricsL != nil {
		defer metricsL.Close()
		metricsAddr = metricsL.Addr().String()
	}
	host, _ := os.Hostname()
	err = m.StartSession(c.Context, meta.SessionInfo{Hostname: host, Pid: os.Getpid(), Mountpoint: mnt,
		Version: cliutil.Version, Metrics: metricsAddr}, log)
	if err != nil {
		return err
	}
	return serve(c, mounting{set: set, mnt: mnt, m: m, log: log, sig: sig, metrics: metricsL,
		release: release, notify: notify})
}

// mounting is what run has set up for serve: the settings, the mount
// point (claimed until release), the filesystem with this client's
// session started, and where to report.
type mounting struct {
	set     settings
	mnt     string
	m       *meta.FS
	log     *slog.Logger
	sig     chan os.Signal
	metrics net.Listener
	release func()
	notify  *notifier
}

// serve builds the data path, mounts, and serves until unmounted; it ends
// the session on every way out.
func serve(c *cli.Context, mt mounting) error {
	set, mnt, m, log := mt.set, mt.mnt, mt.m, mt.log
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
	collectors := []prometheus.Collector{data, cliutil.TxCollector{C: m}}
	if router != nil {
		go router.Run(sessCtx)
		collectors = append(collectors, router)
	}
	if err := startBackups(c, sessCtx, set, router, log); err != nil {
		_ = m.EndSession(context.Background())
		return err
	}
	root := hfs.NewRoot(m, hfs.Options{
		EntryTimeout: set.entryTTL, AttrTimeout: set.attrTTL, NegativeTimeout: set.negTTL,
		ReadOnly: set.readOnly, Logger: log, Locks: cliutil.Locks(m), Data: data,
	})
	collectors = append(collectors, root)
	var mounted atomic.Bool
	health := healthCheck(m, data)
	metricsAddr, stopMetrics, err := cliutil.ServeMetricsOn(mt.metrics, health, mounted.Load, log, collectors...)
	if err != nil {
		_ = m.EndSession(context.Background())
		return err
	}
	defer stopMetrics()
	go root.RunCloser(sessCtx)
	opts := fuseOptions(root, set)
	stopProfile, err := startProfile(c.String("cpuprofile"))
	if err != nil {
		return err
	}
	defer stopProfile()
	server, err := gofs.Mount(mnt, root, opts)
	mt.release()
	if err != nil {
		_ = m.EndSession(context.Background())
		return fmt.Errorf("mount %s: %w", mnt, err)
	}
	mounted.Store(true)
	mt.notify.ready()
	log.Info("mounted", "fs", set.name, "store", set.store, "mountpoint", mnt, "session", m.SessionID(),
		"metrics", metricsAddr)

	go func() {
		<-mt.sig
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
	if err := checkEmpty(mnt, c.Bool("nonempty")); err != nil {
		return set, "", err
	}
	for _, f := range []string{"mem-cache-size", "cache-size", "buffer-size"} {
		if c.Int(f) < 0 {
			return set, "", fmt.Errorf("--%s %d: a size in MiB cannot be negative", f, c.Int(f))
		}
	}
	for f, d := range map[string]time.Duration{"attr-timeout": set.attrTTL, "entry-timeout": set.entryTTL, "negative-timeout": set.negTTL} {
		if d < 0 {
			return set, "", fmt.Errorf("--%s %v: a timeout cannot be negative", f, d)
		}
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
