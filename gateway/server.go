package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/webdav"

	"github.com/hafs/hafs/meta"
)

// Request bounds.
const (
	// DefaultMaxBody is the largest PUT body accepted unless configured.
	DefaultMaxBody = 1 << 40
	// maxXMLBody bounds the XML bodies of PROPFIND, PROPPATCH and LOCK.
	maxXMLBody = 1 << 20
	// MaxHeaderBytes bounds a request's header.
	MaxHeaderBytes = 64 << 10
	// bodyIdle is how long a PUT body may stall before the connection is
	// cut (and the PUT discarded).
	bodyIdle = 2 * time.Minute
)

// Options configure a gateway.
type Options struct {
	// Root is the directory served, from the filesystem's root ("/" when
	// empty). Nothing outside it can be reached.
	Root string
	// ReadOnly refuses every request that would change something (403).
	ReadOnly bool
	// Auth checks credentials; nil lets every request in (loopback only,
	// which the command enforces).
	Auth *Auth
	// MaxBody bounds a PUT body (DefaultMaxBody when 0).
	MaxBody int64
	Logger  *slog.Logger
	// Locks is the filesystem's lock table, fenced by the same session as
	// the metadata. Required.
	Locks LockTable
	// Data moves file bodies (s3tier.Tier). Required.
	Data Bodies
}

// Gateway is the HTTP handler serving one filesystem over WebDAV.
type Gateway struct {
	m       Metadata
	fs      *davFS
	locks   *lockState
	opts    Options
	log     *slog.Logger
	metrics *Metrics
}

// New returns the gateway for filesystem m, serving opts.Root.
func New(ctx context.Context, m Metadata, opts Options) (*Gateway, error) {
	if opts.Locks == nil || opts.Data == nil {
		return nil, errors.New("gateway: Options.Locks and Options.Data are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	root, err := findRoot(ctx, m, opts.Root)
	if err != nil {
		return nil, err
	}
	fs := &davFS{m: m, data: opts.Data, rootIno: root, rootPath: cleanPath(opts.Root), opens: newOpenTable(m, m),
		bufs: newBufPool()}
	return &Gateway{m: m, fs: fs, locks: newLockState(fs, opts.Locks, m.SessionID(), opts.Logger),
		opts: opts, log: opts.Logger, metrics: newMetrics()}, nil
}

// findRoot resolves the served directory without following symlinks.
func findRoot(ctx context.Context, m Metadata, root string) (uint64, error) {
	ino := uint64(meta.RootIno)
	for _, p := range strings.Split(cleanPath(root)[1:], "/") {
		if p == "" {
			continue
		}
		a, err := m.Lookup(ctx, ino, p)
		if err != nil {
			return 0, fmt.Errorf("--root %s: %w", root, err)
		}
		if !a.IsDir() {
			return 0, fmt.Errorf("--root %s: %s is not a directory (symlinks are not followed)", root, p)
		}
		ino = a.Ino
	}
	return ino, nil
}

// Run does the gateway's background work (lock expiry) until ctx ends.
func (g *Gateway) Run(ctx context.Context) { g.locks.Run(ctx) }

// Close releases the filesystem locks the gateway's WebDAV locks hold.
func (g *Gateway) Close(ctx context.Context) { g.locks.ReleaseAll(ctx) }

// Metrics returns the gateway's Prometheus collector.
func (g *Gateway) Metrics() *Metrics { return g.metrics }

// readMethods are the methods a read-only gateway serves.
var readMethods = map[string]bool{http.MethodGet: true, http.MethodHead: true, http.MethodOptions: true, "PROPFIND": true}

// ServeHTTP authenticates, checks and bounds the request, then serves it:
// a browser listing for GET of a collection, WebDAV for the rest. Every
// request ends with one access log line.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := &reqState{method: r.Method}
	rec := &recorder{ResponseWriter: w, st: st}
	user := ""
	defer func() { g.logRequest(r, rec, st, user, time.Since(start)) }()
	if g.opts.Auth != nil {
		var ok bool
		if user, ok = g.opts.Auth.Check(r); !ok {
			// Nothing about the tree, the users or the reason is revealed.
			rec.Header().Set("WWW-Authenticate", `Basic realm="hafs", charset="UTF-8"`)
			http.Error(rec, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
	}
	if status, msg := g.check(r); status != 0 {
		if strings.HasPrefix(msg, "<?xml") {
			rec.Header().Set("Content-Type", "application/xml; charset=utf-8")
			rec.WriteHeader(status)
			_, _ = io.WriteString(rec, msg)
			return
		}
		http.Error(rec, msg, status)
		return
	}
	if g.m.Fenced() {
		http.Error(rec, "503 this gateway's client session was evicted or expired: restart hafs serve",
			http.StatusServiceUnavailable)
		return
	}
	r = r.WithContext(withState(r.Context(), st))
	if !g.limitBody(rec, r, st) {
		return
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && g.serveListing(rec, r) {
		return
	}
	if status := g.checkPreconditions(r); status != 0 {
		http.Error(rec, "412 precondition failed", status)
		return
	}
	if r.Method == "LOCK" {
		g.handleLock(rec, r, st)
		return
	}
	h := &webdav.Handler{FileSystem: g.fs, LockSystem: g.locks.forRequest(r.Context()),
		Logger: func(_ *http.Request, err error) { st.err = err }}
	h.ServeHTTP(rec, r)
	if (r.Method == http.MethodDelete || r.Method == "MOVE") && rec.status >= 200 && rec.status < 300 {
		// The locks of a resource that is gone go with it (RFC 4918, 7.5
		// and 9.9.1), freeing their flocks.
		g.locks.dropUnder(context.WithoutCancel(r.Context()), cleanPath(r.URL.Path))
	}
}

// check refuses bad paths and, read-only, every change. It returns the
// status and message to answer, or 0.
func (g *Gateway) check(r *http.Request) (int, string) {
	if status, msg := checkPath(r.URL.Path); status != 0 {
		return status, msg
	}
	if dst := r.Header.Get("Destination"); dst != "" {
		u, err := url.Parse(dst)
		if err != nil {
			return http.StatusBadRequest, "400 bad Destination header"
		}
		if status, msg := checkPath(u.Path); status != 0 {
			return status, msg
		}
	}
	if g.opts.ReadOnly && !readMethods[r.Method] {
		return http.StatusForbidden, "403 this gateway is read-only"
	}
	return checkDepth(r)
}

// checkPath refuses what a clean path never holds (".." or "." segments,
// NUL), names longer than the filesystem takes, and unfinished PUTs.
func checkPath(p string) (int, string) {
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == ".." || seg == ".":
			return http.StatusBadRequest, "400 path with . or .. segments"
		case strings.IndexByte(seg, 0) >= 0:
			return http.StatusBadRequest, "400 path with a NUL byte"
		case len(seg) > meta.MaxNameLen:
			return http.StatusRequestURITooLong, fmt.Sprintf("414 a name in the path is longer than %d bytes", meta.MaxNameLen)
		case hiddenName(seg):
			return http.StatusNotFound, "404 not found"
		}
	}
	return 0, ""
}

// limitBody bounds the request body: PUT to MaxBody (tracked, so a cut-off
// body is never committed), every other method to a small XML body, which
// is checked (checkXMLBody). It answers the request itself and returns
// false when the body is refused.
func (g *Gateway) limitBody(w http.ResponseWriter, r *http.Request, st *reqState) bool {
	if r.Method != http.MethodPut {
		r.Body = http.MaxBytesReader(w, r.Body, maxXMLBody)
		if status, msg := checkXMLBody(r); status != 0 {
			http.Error(w, msg, status)
			return false
		}
		return true
	}
	if r.ContentLength > g.opts.MaxBody {
		http.Error(w, fmt.Sprintf("413 body larger than %d bytes", g.opts.MaxBody), http.StatusRequestEntityTooLarge)
		return false
	}
	rc := http.NewResponseController(w)
	st.body = &bodyTracker{r: http.MaxBytesReader(w, r.Body, g.opts.MaxBody), want: r.ContentLength,
		idle: func() error { return rc.SetReadDeadline(time.Now().Add(bodyIdle)) }}
	r.Body = readCloser{Reader: st.body, Closer: r.Body}
	return true
}

type readCloser struct {
	io.Reader
	io.Closer
}

// logRequest writes the access log line (no credentials: the user name
// only) and counts the request.
func (g *Gateway) logRequest(r *http.Request, rec *recorder, st *reqState, user string, d time.Duration) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	var in int64
	if st.body != nil {
		st.body.mu.Lock()
		in = st.body.n
		st.body.mu.Unlock()
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", status, "bytes", rec.bytes,
		"in", in, "duration", d.Round(time.Microsecond), "remote", r.RemoteAddr}
	if user != "" {
		attrs = append(attrs, "user", user)
	}
	if st.err != nil {
		attrs = append(attrs, "err", st.err)
	}
	g.log.Info("request", attrs...)
	g.metrics.observe(r.Method, status, in, rec.bytes, d)
}

// recorder notes the status and the bytes of a response.
type recorder struct {
	http.ResponseWriter
	st     *reqState
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.st != nil && r.st.noSpace && code >= 400 {
		code = http.StatusInsufficientStorage
	}
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// isNotFound reports a name that does not exist (or may not be shown).
func isNotFound(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENOTDIR)
}
