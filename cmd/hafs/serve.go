package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/gateway"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/s3tier"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "serve the filesystem over WebDAV and HTTP",
		UsageText: "hafs serve --listen ADDR [--store URL] [--name FS] [--read-only] [--root PATH] [options]",
		Description: "Serves the filesystem over WebDAV (class 1 and 2) and HTTP, as one more client\n" +
			"of it: listed by hafs-list-clients, evictable and fenced like a mount, its\n" +
			"WebDAV locks excluding flock(2) on every mount. A browser gets a listing of\n" +
			"each directory. Only a loopback address may be served without TLS\n" +
			"(--tls-cert, --tls-key) and authentication (--auth-file, a file of\n" +
			"user:bcrypt-hash lines as htpasswd -B makes, and/or --token-file, one bearer\n" +
			"token a line). SIGINT or SIGTERM stops it cleanly.",
		Flags: append(cliutil.StoreFlags(),
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", Usage: "serve on `ADDR` (port 0: any free port, logged)"},
			&cli.StringFlag{Name: "root", Value: "/", Usage: "serve only the directory `PATH` of the filesystem"},
			&cli.BoolFlag{Name: "read-only", Usage: "refuse every change with 403"},
			&cli.StringFlag{Name: "tls-cert", Usage: "TLS certificate `FILE` (PEM)"},
			&cli.StringFlag{Name: "tls-key", Usage: "TLS key `FILE` (PEM)"},
			&cli.StringFlag{Name: "auth-file", Usage: "basic auth users: `FILE` of user:bcrypt-hash lines"},
			&cli.StringFlag{Name: "token-file", Usage: "bearer tokens: `FILE`, one a line"},
			&cli.Int64Flag{Name: "max-body", Value: gateway.DefaultMaxBody, Usage: "largest PUT body, in `BYTES`"},
			&cli.DurationFlag{Name: "heartbeat", Value: time.Second, Usage: "how often this client proves it is alive"},
			&cli.DurationFlag{Name: "session-expiry", Value: 5 * time.Second, Usage: "how long a silent client keeps its session and locks"},
			&cli.StringFlag{Name: "metrics", Value: "127.0.0.1:0", Usage: "serve /metrics, /healthz and /readyz on `ADDR` (empty: off)"},
			&cli.IntFlag{Name: "mem-cache-size", Value: 256, Usage: "memory cache of object data, in `MiB`"},
			&cli.IntFlag{Name: "buffer-size", Value: 256, Usage: "write-back buffer limit across all files, in `MiB`"},
			&cli.StringFlag{Name: "cpuprofile", Hidden: true, Usage: "write a CPU profile to `FILE` until exit"},
		),
		Action: runServe,
	}
}

// serveSecurity checks the listening rules before anything is opened: a
// non-loopback address needs TLS and authentication. It loads both.
func serveSecurity(c *cli.Context) (*tls.Config, *gateway.Auth, error) {
	if c.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected argument %q", c.Args().First())
	}
	host, _, err := net.SplitHostPort(c.String("listen"))
	if err != nil {
		return nil, nil, fmt.Errorf("--listen %s: %w", c.String("listen"), err)
	}
	cert, key := c.String("tls-cert"), c.String("tls-key")
	if (cert == "") != (key == "") {
		return nil, nil, errors.New("--tls-cert and --tls-key go together")
	}
	var tlsConf *tls.Config
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, nil, fmt.Errorf("TLS: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	var auth *gateway.Auth
	if c.String("auth-file") != "" || c.String("token-file") != "" {
		if auth, err = gateway.LoadAuth(c.String("auth-file"), c.String("token-file")); err != nil {
			return nil, nil, fmt.Errorf("auth: %w", err)
		}
	}
	if !isLoopback(host) && (tlsConf == nil || auth == nil) {
		return nil, nil, fmt.Errorf("--listen %s is not a loopback address: it needs --tls-cert, --tls-key and --auth-file or --token-file",
			c.String("listen"))
	}
	if c.Duration("heartbeat") <= 0 || c.Duration("session-expiry") <= c.Duration("heartbeat") {
		return nil, nil, errors.New("--session-expiry must be longer than --heartbeat, and both positive")
	}
	return tlsConf, auth, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func runServe(c *cli.Context) error {
	tlsConf, auth, err := serveSecurity(c)
	if err != nil {
		return err
	}
	stopProfile, err := startProfile(c.String("cpuprofile"))
	if err != nil {
		return err
	}
	defer stopProfile()
	l, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer l.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	url := "http://" + l.Addr().String() + "/"
	if tlsConf != nil {
		url = "https://" + l.Addr().String() + "/"
	}
	cl, err := openClient(c, "serve "+url, log)
	if err != nil {
		return err
	}
	defer cl.close()
	gw, err := gateway.New(c.Context, cl.m, gateway.Options{Root: c.String("root"), ReadOnly: c.Bool("read-only"),
		Auth: auth, MaxBody: c.Int64("max-body"), Logger: log, Locks: cliutil.Locks(cl.m), Data: cl.data})
	if err != nil {
		return err
	}
	go gw.Run(cl.ctx)
	metricsAddr, stopMetrics, err := cliutil.ServeMetrics(c.String("metrics"), cl.health, func() bool { return true },
		log, append(cl.collectors, gw.Metrics())...)
	if err != nil {
		return err
	}
	defer stopMetrics()
	srv := &http.Server{Handler: gw, TLSConfig: tlsConf, MaxHeaderBytes: gateway.MaxHeaderBytes,
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	serveErr := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			serveErr <- srv.ServeTLS(l, "", "")
		} else {
			serveErr <- srv.Serve(l)
		}
	}()
	log.Info("serving", "url", url, "addr", l.Addr().String(), "fs", c.String("name"), "root", c.String("root"),
		"read-only", c.Bool("read-only"), "session", cl.m.SessionID(), "metrics", metricsAddr)
	select {
	case <-sig:
	case err = <-serveErr:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	gw.Close(ctx)
	log.Info("stopped", "session", cl.m.SessionID())
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// client is the gateway's client of the filesystem, as a mount has one:
// the store, a session with its heartbeats, the data path and its
// background work.
type client struct {
	m          *meta.FS
	store      fdbstore.Store
	data       *s3tier.Tier
	ctx        context.Context // ends with the session
	stop       context.CancelFunc
	collectors []prometheus.Collector
	log        *slog.Logger
}

// openClient opens the filesystem and starts a session named where.
func openClient(c *cli.Context, where string, log *slog.Logger) (*client, error) {
	m, store, err := cliutil.OpenFS(c)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	if err := m.StartSession(c.Context, meta.SessionInfo{Hostname: host, Pid: os.Getpid(), Mountpoint: where,
		Version: cliutil.Version}, log); err != nil {
		store.Close()
		return nil, err
	}
	cl := &client{m: m, store: store, log: log}
	cl.ctx, cl.stop = context.WithCancel(context.Background())
	go m.KeepAlive(cl.ctx, c.Duration("heartbeat"), c.Duration("session-expiry"), log)
	data, router, err := cliutil.DataPath(c.Context, m, s3tier.Options{
		CacheBytes: int64(c.Int("mem-cache-size")) << 20, BufferBytes: int64(c.Int("buffer-size")) << 20}, log)
	if err != nil {
		cl.close()
		return nil, err
	}
	cl.data = data
	cl.collectors = []prometheus.Collector{data}
	go data.RunDeleter(cl.ctx)
	if router != nil {
		go router.Run(cl.ctx)
		cl.collectors = append(cl.collectors, router)
	}
	return cl, nil
}

// health is the gateway's health endpoint: unhealthy once fenced, or while
// the data path's primary sites do not answer.
func (cl *client) health(ctx context.Context) error {
	if cl.m.Fenced() {
		return errors.New("this client was evicted or its session expired; restart hafs serve")
	}
	return cl.data.Health(ctx)
}

// close ends the session (releasing what it holds) and closes the rest.
func (cl *client) close() {
	cl.stop()
	if cl.data != nil {
		cl.data.Close()
	}
	if err := cl.m.EndSession(context.Background()); err != nil {
		cl.log.Warn("end session", "err", err)
	}
	cl.store.Close()
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
