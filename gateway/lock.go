package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/webdav"

	"github.com/hafs/hafs/locks"
)

// lockState keeps the gateway's WebDAV locks: exclusive and shared write
// locks, depth 0 or infinity, with timeouts. A lock made by LOCK also holds
// a flock, in the filesystem's own lock table, on the inode it is rooted at
// (exclusive or shared as the WebDAV lock is), owned by this gateway's
// session. So a LOCK here and a flock(2) on any FUSE mount exclude each
// other, and an evicted or expired gateway loses its locks as a mount does.
// The short locks the webdav handler takes for the length of a write
// request hold no flock: flock is advisory and does not stop writes.
type lockState struct {
	fs      *davFS
	table   LockTable
	session string
	log     *slog.Logger

	mu      sync.Mutex
	byToken map[string]*davLock
	nextID  uint64
}

// davLock is one WebDAV lock.
type davLock struct {
	token     string
	root      string // cleaned path
	zeroDepth bool
	shared    bool
	ownerXML  string
	duration  time.Duration // < 0: infinite
	expiry    time.Time     // zero: never
	held      bool          // a request is using it (Confirm)

	flocked bool
	ino     uint64
	owner   locks.Owner
}

func newLockState(fs *davFS, table LockTable, session string, log *slog.Logger) *lockState {
	return &lockState{fs: fs, table: table, session: session, log: log, byToken: map[string]*davLock{}, nextID: 1}
}

func expiryOf(now time.Time, d time.Duration) time.Time {
	if d < 0 {
		return time.Time{}
	}
	return now.Add(d)
}

// covers reports whether lock l applies to name.
func (l *davLock) covers(name string) bool {
	if name == l.root {
		return true
	}
	return !l.zeroDepth && (l.root == "/" || strings.HasPrefix(name, l.root+"/"))
}

// conflicts reports whether a new lock (root, zeroDepth, shared) may not
// coexist with l.
func (l *davLock) conflicts(root string, zeroDepth, shared bool) bool {
	overlap := l.covers(root) || !zeroDepth && (root == "/" || strings.HasPrefix(l.root, root+"/"))
	return overlap && !(shared && l.shared)
}

// expireLocked drops expired locks (s.mu held) and returns those holding
// flocks, for the caller to release outside the mutex.
func (s *lockState) expireLocked(now time.Time) []*davLock {
	var out []*davLock
	for tok, l := range s.byToken {
		if !l.expiry.IsZero() && now.After(l.expiry) {
			delete(s.byToken, tok)
			if l.flocked {
				out = append(out, l)
			}
		}
	}
	return out
}

func (s *lockState) releaseFlocks(ctx context.Context, ls []*davLock) {
	for _, l := range ls {
		if err := s.table.ReleaseOwner(ctx, l.ino, l.owner, true); err != nil {
			s.log.Warn("release lock", "path", l.root, "ino", l.ino, "err", err)
		}
	}
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// create adds a lock unless one in the way conflicts (webdav.ErrLocked).
func (s *lockState) create(now time.Time, l *davLock) error {
	s.mu.Lock()
	expired := s.expireLocked(now)
	var err error
	for _, o := range s.byToken {
		if o.conflicts(l.root, l.zeroDepth, l.shared) {
			err = webdav.ErrLocked
			break
		}
	}
	if err == nil {
		l.token = newToken()
		l.expiry = expiryOf(now, l.duration)
		s.byToken[l.token] = l
	}
	s.mu.Unlock()
	s.releaseFlocks(context.Background(), expired)
	return err
}

// drop removes a lock and releases its flock.
func (s *lockState) drop(ctx context.Context, token string) error {
	s.mu.Lock()
	l, ok := s.byToken[token]
	if ok && l.held {
		s.mu.Unlock()
		return webdav.ErrLocked
	}
	delete(s.byToken, token)
	s.mu.Unlock()
	if !ok {
		return webdav.ErrNoSuchLock
	}
	if l.flocked {
		s.releaseFlocks(ctx, []*davLock{l})
	}
	return nil
}

// dropUnder removes the locks rooted at name or below it (a deleted or
// moved resource's), releasing their flocks.
func (s *lockState) dropUnder(ctx context.Context, name string) {
	s.mu.Lock()
	var ls []*davLock
	for tok, l := range s.byToken {
		if l.root == name || name == "/" || strings.HasPrefix(l.root, name+"/") {
			delete(s.byToken, tok)
			if l.flocked {
				ls = append(ls, l)
			}
		}
	}
	s.mu.Unlock()
	s.releaseFlocks(ctx, ls)
}

// lockRequest is a LOCK request's wish.
type lockRequest struct {
	root      string
	zeroDepth bool
	shared    bool
	ownerXML  string
	duration  time.Duration
}

// lock takes a WebDAV lock for a LOCK request and the flock behind it on
// the inode at req.root, which must exist. A flock held elsewhere (another
// client's flock(2), or a lock of another gateway) is webdav.ErrLocked.
func (s *lockState) lock(ctx context.Context, now time.Time, req lockRequest, ino uint64) (*davLock, error) {
	l := &davLock{root: req.root, zeroDepth: req.zeroDepth, shared: req.shared, ownerXML: req.ownerXML,
		duration: req.duration}
	if err := s.create(now, l); err != nil {
		return nil, err
	}
	s.mu.Lock()
	l.owner = locks.Owner{Session: s.session, ID: s.nextID}
	s.nextID++
	s.mu.Unlock()
	kind := locks.Write
	if l.shared {
		kind = locks.Read
	}
	fl := locks.Lock{Owner: l.owner, Pid: uint32(os.Getpid()), Kind: kind, Start: 0, End: math.MaxUint64, Flock: true}
	err := s.table.TryLock(ctx, ino, fl)
	if err == nil {
		s.mu.Lock()
		l.flocked, l.ino = true, ino
		s.mu.Unlock()
		return l, nil
	}
	_ = s.drop(ctx, l.token)
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, webdav.ErrLocked
	}
	return nil, err
}

// refresh extends a lock's timeout.
func (s *lockState) refresh(now time.Time, token string, d time.Duration) (*davLock, error) {
	s.mu.Lock()
	expired := s.expireLocked(now)
	l, ok := s.byToken[token]
	if ok {
		l.duration, l.expiry = d, expiryOf(now, d)
	}
	s.mu.Unlock()
	s.releaseFlocks(context.Background(), expired)
	if !ok {
		return nil, webdav.ErrNoSuchLock
	}
	return l, nil
}

// Run drops expired locks every second until ctx ends, so a FUSE client
// waiting on one's flock gets it soon after the timeout.
func (s *lockState) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.mu.Lock()
			expired := s.expireLocked(now)
			s.mu.Unlock()
			s.releaseFlocks(ctx, expired)
		}
	}
}

// ReleaseAll drops every lock (at shutdown).
func (s *lockState) ReleaseAll(ctx context.Context) {
	s.mu.Lock()
	var ls []*davLock
	for tok, l := range s.byToken {
		delete(s.byToken, tok)
		if l.flocked {
			ls = append(ls, l)
		}
	}
	s.mu.Unlock()
	s.releaseFlocks(ctx, ls)
}

// forRequest is the webdav.LockSystem one request's handler uses: the
// same locks, with the request's context for the store.
func (s *lockState) forRequest(ctx context.Context) webdav.LockSystem {
	return &reqLocks{s: s, ctx: ctx}
}

type reqLocks struct {
	s   *lockState
	ctx context.Context
}

// Create is the handler's short exclusive lock for a write that names no
// lock token: it fails (423) where a WebDAV lock is in the way.
func (r *reqLocks) Create(now time.Time, d webdav.LockDetails) (string, error) {
	l := &davLock{root: cleanPath(d.Root), zeroDepth: d.ZeroDepth, ownerXML: d.OwnerXML, duration: d.Duration}
	if err := r.s.create(now, l); err != nil {
		return "", err
	}
	return l.token, nil
}

// Confirm checks one list of an If header: every condition must hold
// (a token names a lock covering the resource, an entity tag matches its
// current one; Not inverts), and one of the tokens must be a lock on
// name0 (and name1). The locks used are held until release.
func (r *reqLocks) Confirm(now time.Time, name0, name1 string, conds ...webdav.Condition) (func(), error) {
	s := r.s
	s.mu.Lock()
	expired := s.expireLocked(now)
	s.mu.Unlock()
	s.releaseFlocks(context.Background(), expired)
	name0, name1 = cleanOrEmpty(name0), cleanOrEmpty(name1)
	for _, c := range conds {
		if c.ETag != "" && r.etagMatches(name0, c.ETag) == c.Not {
			return nil, webdav.ErrConfirmationFailed
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var use []*davLock
	for _, name := range []string{name0, name1} {
		if name == "" {
			continue
		}
		var found *davLock
		for _, c := range conds {
			if c.Token == "" {
				continue
			}
			l := s.byToken[c.Token]
			ok := l != nil && !l.held && l.covers(name)
			if c.Not {
				if ok {
					return nil, webdav.ErrConfirmationFailed
				}
				continue
			}
			if ok && found == nil {
				found = l
			}
		}
		if found == nil {
			return nil, webdav.ErrConfirmationFailed
		}
		if len(use) == 0 || use[0] != found {
			use = append(use, found)
		}
	}
	for _, l := range use {
		l.held = true
	}
	return func() {
		s.mu.Lock()
		for _, l := range use {
			l.held = false
		}
		s.mu.Unlock()
	}, nil
}

func cleanOrEmpty(name string) string {
	if name == "" {
		return ""
	}
	return cleanPath(name)
}

// etagMatches compares a resource's current entity tag with tag.
func (r *reqLocks) etagMatches(name, tag string) bool {
	if name == "" {
		return false
	}
	fi, err := r.s.fs.Stat(r.ctx, name)
	if err != nil {
		return false
	}
	cur, _ := fi.(info).ETag(r.ctx)
	return strings.Trim(cur, `"`) == strings.Trim(tag, `"`)
}

func (r *reqLocks) Refresh(now time.Time, token string, d time.Duration) (webdav.LockDetails, error) {
	l, err := r.s.refresh(now, token, d)
	if err != nil {
		return webdav.LockDetails{}, err
	}
	return webdav.LockDetails{Root: l.root, Duration: d, OwnerXML: l.ownerXML, ZeroDepth: l.zeroDepth}, nil
}

func (r *reqLocks) Unlock(now time.Time, token string) error {
	return r.s.drop(context.WithoutCancel(r.ctx), token)
}
