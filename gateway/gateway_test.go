package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hafs/hafs/locks"
	"github.com/hafs/hafs/meta"
)

func TestPutGetConditionalRange(t *testing.T) {
	r := newRig(t, nil)
	r.want(t, http.StatusCreated, "MKCOL", "/d/", "")
	r.want(t, http.StatusCreated, "PUT", "/d/a.txt", "hello, world")
	if b := r.want(t, http.StatusOK, "GET", "/d/a.txt", ""); b != "hello, world" {
		t.Fatalf("GET = %q", b)
	}
	if b := r.want(t, http.StatusPartialContent, "GET", "/d/a.txt", "", "Range", "bytes=7-11"); b != "world" {
		t.Fatalf("GET range = %q", b)
	}
	resp, err := http.Get(r.url + "/d/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" || lm == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET headers: ETag %q, Last-Modified %q, Content-Type %q", etag, lm, resp.Header.Get("Content-Type"))
	}
	r.want(t, http.StatusNotModified, "GET", "/d/a.txt", "", "If-None-Match", etag)
	r.want(t, http.StatusPreconditionFailed, "GET", "/d/a.txt", "", "If-Match", `"other"`)
	// A replacing PUT is a new version: the old tag no longer matches.
	r.want(t, http.StatusCreated, "PUT", "/d/a.txt", "changed")
	r.want(t, http.StatusOK, "GET", "/d/a.txt", "", "If-None-Match", etag)
	r.want(t, http.StatusNotFound, "GET", "/d/none", "")
	r.want(t, http.StatusConflict, "PUT", "/nodir/a", "x")
}

// TestCutOffPut sends a PUT that stops mid-body: neither the new name nor
// a replaced file's new bytes may become visible, and no temporary file
// may stay behind.
func TestCutOffPut(t *testing.T) {
	r := newRig(t, nil)
	r.want(t, http.StatusCreated, "PUT", "/keep.txt", "old content")
	for _, name := range []string{"/new.bin", "/keep.txt"} {
		cutOffPut(t, r.srv.Listener.Addr().String(), name, 1<<20, 200<<10)
		// The server notices the cut when its read fails; poll for the
		// hidden file to be cleaned up.
		deadline := time.Now().Add(10 * time.Second)
		for hidden := r.rootNames(t, true); len(hidden) > 0; hidden = r.rootNames(t, true) {
			if time.Now().After(deadline) {
				t.Fatalf("temporary files still there after the cut-off PUT of %s: %v", name, hidden)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	r.want(t, http.StatusNotFound, "GET", "/new.bin", "")
	if b := r.want(t, http.StatusOK, "GET", "/keep.txt", ""); b != "old content" {
		t.Fatalf("replaced file reads %q after a cut-off PUT", b)
	}
	if names := r.rootNames(t, false); strings.Join(names, ",") != "keep.txt" {
		t.Fatalf("root holds %v, want only keep.txt", names)
	}
}

// cutOffPut announces size bytes and sends only sent, then closes.
func cutOffPut(t *testing.T, addr, path string, size, sent int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(c)
	fmt.Fprintf(w, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", path, addr, size)
	w.Write(make([]byte, sent))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// rootNames lists the root directory from the store: the hidden
// temporary names when hidden, the others otherwise.
func (r *rig) rootNames(t *testing.T, hidden bool) []string {
	t.Helper()
	ents, err := r.m.ReadDir(context.Background(), meta.RootIno, 2, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if hiddenName(e.Name) == hidden {
			out = append(out, e.Name)
		}
	}
	return out
}

func TestBadPaths(t *testing.T) {
	r := newRig(t, nil)
	r.want(t, http.StatusCreated, "PUT", "/a", "x")
	long := strings.Repeat("n", meta.MaxNameLen+1)
	r.want(t, http.StatusRequestURITooLong, "PUT", "/"+long, "x")
	r.want(t, http.StatusNotFound, "GET", "/"+tempPrefix+"x", "")
	r.want(t, http.StatusBadRequest, "COPY", "/a", "", "Destination", r.url+"/b/../../c")
	// A raw ".." segment, as curl --path-as-is sends it.
	for _, p := range []string{"/../etc/passwd", "/%2e%2e/etc/passwd", "/a/./b"} {
		c, err := net.Dial("tcp", r.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", p)
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.Contains(line, " 400 ") {
			t.Errorf("GET %s: %q, want 400", p, line)
		}
	}
}

// TestSymlinkNotFollowed: a symlink in the tree leads nowhere through
// the gateway, even to a place inside the root.
func TestSymlinkNotFollowed(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	r.want(t, http.StatusCreated, "MKCOL", "/d/", "")
	r.want(t, http.StatusCreated, "PUT", "/d/f", "x")
	if _, err := r.m.Create(ctx, meta.RootIno, "link", meta.NewNode{Mode: syscall.S_IFLNK | 0o777, Target: "/etc"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.Create(ctx, meta.RootIno, "inner", meta.NewNode{Mode: syscall.S_IFLNK | 0o777, Target: "d"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/link", "/link/passwd", "/inner/f"} {
		if got, _ := r.do(t, "GET", p, ""); got == http.StatusOK {
			t.Errorf("GET %s through a symlink: 200", p)
		}
	}
	if b := r.want(t, http.StatusMultiStatus, "PROPFIND", "/", "", "Depth", "1"); strings.Contains(b, "link") {
		t.Errorf("PROPFIND lists symlinks: %s", b)
	}
}

func TestServedRoot(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	r.want(t, http.StatusCreated, "MKCOL", "/pub/", "")
	r.want(t, http.StatusCreated, "PUT", "/pub/in", "inside")
	r.want(t, http.StatusCreated, "PUT", "/secret", "outside")
	gw, err := New(ctx, r.m, Options{Root: "/pub", Locks: r.lm, Data: r.gw.fs.data, Logger: r.gw.log})
	if err != nil {
		t.Fatal(err)
	}
	sub := &rig{m: r.m, url: serve(t, gw)}
	if b := sub.want(t, http.StatusOK, "GET", "/in", ""); b != "inside" {
		t.Fatalf("GET /in = %q", b)
	}
	sub.want(t, http.StatusNotFound, "GET", "/secret", "")
	if _, err := New(ctx, r.m, Options{Root: "/secret", Locks: r.lm, Data: r.gw.fs.data}); err == nil {
		t.Fatal("a file as --root was accepted")
	}
}

func TestReadOnly(t *testing.T) {
	r := newRig(t, func(o *Options) { o.ReadOnly = true })
	for _, m := range []string{"PUT", "DELETE", "MKCOL", "PROPPATCH", "LOCK", "MOVE", "COPY", "UNLOCK"} {
		r.want(t, http.StatusForbidden, m, "/x", "")
	}
	r.want(t, http.StatusMultiStatus, "PROPFIND", "/", "", "Depth", "0")
}

func TestAuth(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, tokens := dir+"/users", dir+"/tokens"
	writeFile(t, users, "# users\nalice:"+string(hash)+"\n")
	writeFile(t, tokens, "tok-123\n")
	auth, err := LoadAuth(users, tokens)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, func(o *Options) { o.Auth = auth })
	r.want(t, http.StatusCreated, "PUT", "/f", "x", "Authorization", basic("alice", "s3cret"))
	r.want(t, http.StatusOK, "GET", "/f", "", "Authorization", "Bearer tok-123")
	for _, h := range []string{"", basic("alice", "wrong"), basic("bob", "s3cret"), "Bearer nope"} {
		got, body := r.do(t, "GET", "/f", "", "Authorization", h)
		if got != http.StatusUnauthorized || body != "401 Unauthorized\n" {
			t.Errorf("credentials %q: %d %q, want 401 and nothing else", h, got, body)
		}
	}
	writeFile(t, users, "alice:plaintext\n")
	if _, err := LoadAuth(users, ""); err == nil || !strings.Contains(err.Error(), "not a bcrypt hash") {
		t.Errorf("plain password accepted: %v", err)
	}
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

// TestLockExcludesFlock: a WebDAV lock holds a flock in the filesystem's
// lock table, so another client's flock fails while it lasts, and the
// other way round.
func TestLockExcludesFlock(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	r.want(t, http.StatusCreated, "PUT", "/f", "x")
	a, err := r.m.Lookup(ctx, meta.RootIno, "f")
	if err != nil {
		t.Fatal(err)
	}
	other := locks.Lock{Owner: locks.Owner{Session: "other-client", ID: 7}, Kind: locks.Write, End: math.MaxUint64, Flock: true}
	body := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>t</D:owner></D:lockinfo>`
	req, _ := http.NewRequest("LOCK", r.url+"/f", strings.NewReader(body))
	req.Header.Set("Timeout", "Second-60")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	token := resp.Header.Get("Lock-Token")
	if resp.StatusCode != http.StatusOK || token == "" {
		t.Fatalf("LOCK: %d, token %q", resp.StatusCode, token)
	}
	if err := r.lm.TryLock(ctx, a.Ino, other); !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("flock under a WebDAV lock: %v, want EWOULDBLOCK", err)
	}
	r.want(t, http.StatusNoContent, "UNLOCK", "/f", "", "Lock-Token", token)
	if err := r.lm.TryLock(ctx, a.Ino, other); err != nil {
		t.Fatalf("flock after UNLOCK: %v", err)
	}
	r.want(t, http.StatusLocked, "LOCK", "/f", body)
	shared := strings.Replace(body, "exclusive", "shared", 1)
	r.want(t, http.StatusLocked, "LOCK", "/f", shared)
	if err := r.lm.ReleaseOwner(ctx, a.Ino, other.Owner, true); err != nil {
		t.Fatal(err)
	}
	r.want(t, http.StatusOK, "LOCK", "/f", shared)
	r.want(t, http.StatusOK, "LOCK", "/f", shared) // shared locks share
	r.want(t, http.StatusLocked, "LOCK", "/f", body)
	// LOCK of an unmapped name creates it.
	r.want(t, http.StatusCreated, "LOCK", "/new", body)
}

func TestDeadPropsAreXattrs(t *testing.T) {
	r := newRig(t, nil)
	r.want(t, http.StatusCreated, "PUT", "/f", "x")
	patch := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://example.com/ns"><D:set><D:prop><Z:color>blue</Z:color></D:prop></D:set></D:propertyupdate>`
	r.want(t, http.StatusMultiStatus, "PROPPATCH", "/f", patch)
	a, err := r.m.Lookup(context.Background(), meta.RootIno, "f")
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.m.GetXattr(context.Background(), a.Ino, "user.dav.{http://example.com/ns}color")
	if err != nil || !strings.Contains(string(v), `"ns":"http://example.com/ns"`) {
		t.Fatalf("xattr of the property: %q, %v", v, err)
	}
	find := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><Z:color xmlns:Z="http://example.com/ns"/></D:prop></D:propfind>`
	if b := r.want(t, http.StatusMultiStatus, "PROPFIND", "/f", find, "Depth", "0"); !strings.Contains(b, "blue") {
		t.Fatalf("PROPFIND: %s", b)
	}
	// COPY carries the properties along.
	r.want(t, http.StatusCreated, "COPY", "/f", "", "Destination", r.url+"/g")
	if b := r.want(t, http.StatusMultiStatus, "PROPFIND", "/g", find, "Depth", "0"); !strings.Contains(b, "blue") {
		t.Fatalf("PROPFIND of the copy: %s", b)
	}
}

func TestListing(t *testing.T) {
	r := newRig(t, nil)
	r.want(t, http.StatusCreated, "MKCOL", "/sub/", "")
	r.want(t, http.StatusCreated, "PUT", "/small.txt", "x")
	r.want(t, http.StatusCreated, "PUT", "/big%20one.bin", strings.Repeat("y", 5000))
	page := r.want(t, http.StatusOK, "GET", "/?sort=size&order=desc", "", "Accept", "text/html")
	for _, s := range []string{`href="./sub/"`, `href="./big%20one.bin"`, "small.txt", "4.9 KiB"} {
		if !strings.Contains(page, s) {
			t.Errorf("listing lacks %q:\n%s", s, page)
		}
	}
	if strings.Index(page, "big one.bin") > strings.Index(page, "small.txt") {
		t.Errorf("size descending lists small.txt first")
	}
	asc := r.want(t, http.StatusOK, "GET", "/?sort=size&order=asc", "")
	if strings.Index(asc, "big one.bin") < strings.Index(asc, "small.txt") {
		t.Errorf("size ascending lists big one.bin first")
	}
	// A collection named without its slash redirects, so links resolve.
	req, _ := http.NewRequest("GET", r.url+"/sub", nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusMovedPermanently || loc.Path != "/sub/" {
		t.Errorf("GET /sub: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestXMLBodyChecks(t *testing.T) {
	r := newRig(t, nil)
	bad := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:ns1=""><D:allprop/></D:propfind>`
	r.want(t, http.StatusBadRequest, "PROPFIND", "/", bad, "Depth", "0")
	huge := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/>` + strings.Repeat(" ", maxXMLBody) + `</D:propfind>`
	r.want(t, http.StatusRequestEntityTooLarge, "PROPFIND", "/", huge, "Depth", "0")
}

// TestFencedGatewayRefuses: once its session is evicted, the gateway
// changes nothing.
func TestFencedGatewayRefuses(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	admin, err := meta.Open(ctx, r.m.Store(), "t") // as hafs-evict-client does
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Evict(ctx, r.m.SessionID()); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.do(t, "PUT", "/f", "x"); got < 400 {
		t.Fatalf("PUT by an evicted gateway: %d", got)
	}
	if got, _ := r.do(t, "PUT", "/g", "x"); got != http.StatusServiceUnavailable {
		t.Fatalf("PUT once fenced: %d, want 503", got)
	}
	ents, err := admin.ReadDir(ctx, meta.RootIno, 2, 10)
	if err != nil || len(ents) != 0 {
		t.Fatalf("after an evicted gateway's PUTs the root holds %v (%v)", ents, err)
	}
}

func TestConditionalWrites(t *testing.T) {
	r := newRig(t, nil)
	r.want(t, http.StatusCreated, "PUT", "/f", "one", "If-None-Match", "*")
	r.want(t, http.StatusPreconditionFailed, "PUT", "/f", "two", "If-None-Match", "*")
	resp, err := http.Head(r.url + "/f")
	if err != nil {
		t.Fatal(err)
	}
	etag := resp.Header.Get("ETag")
	r.want(t, http.StatusPreconditionFailed, "PUT", "/f", "two", "If-Match", `"stale"`)
	r.want(t, http.StatusCreated, "PUT", "/f", "two", "If-Match", etag)
	r.want(t, http.StatusPreconditionFailed, "DELETE", "/f", "", "If-Match", etag) // replaced since
	if b := r.want(t, http.StatusOK, "GET", "/f", ""); b != "two" {
		t.Fatalf("GET = %q", b)
	}
	r.want(t, http.StatusPreconditionFailed, "PUT", "/g", "x", "If-Match", "*")
}

func TestPropfindDepth(t *testing.T) {
	r := newRig(t, nil)
	r.want(t, http.StatusMultiStatus, "PROPFIND", "/", "", "Depth", "1")
	if b := r.want(t, http.StatusForbidden, "PROPFIND", "/", "", "Depth", "infinity"); !strings.Contains(b, "propfind-finite-depth") {
		t.Errorf("PROPFIND Depth: infinity: %q", b)
	}
	r.want(t, http.StatusForbidden, "PROPFIND", "/", "")
}

// TestDeleteDropsLocks: deleting a locked resource (with its token) ends
// its lock and the flock behind it.
func TestDeleteDropsLocks(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	r.want(t, http.StatusCreated, "PUT", "/f", "x")
	a, err := r.m.Lookup(ctx, meta.RootIno, "f")
	if err != nil {
		t.Fatal(err)
	}
	body := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	req, _ := http.NewRequest("LOCK", r.url+"/f", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	token := resp.Header.Get("Lock-Token")
	r.want(t, http.StatusLocked, "DELETE", "/f", "")
	r.want(t, http.StatusNoContent, "DELETE", "/f", "", "If", "("+token+")")
	other := locks.Lock{Owner: locks.Owner{Session: "other", ID: 1}, Kind: locks.Write, End: math.MaxUint64, Flock: true}
	if err := r.lm.TryLock(ctx, a.Ino, other); err != nil {
		t.Fatalf("the deleted file's flock is still held: %v", err)
	}
	r.want(t, http.StatusCreated, "PUT", "/f", "y") // no lock left on the name
}

// TestListingSweepsDeadPuts: a hidden PUT file of a gateway whose session
// is gone (killed mid-PUT, then fenced) is removed by a listing; one of a
// live session stays.
func TestListingSweepsDeadPuts(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	dead := tempNameFor("0123456789abcdef", "x")
	mine := tempNameFor(r.m.SessionID(), "y")
	for _, n := range []string{dead, mine} {
		if _, err := r.m.Create(ctx, meta.RootIno, n, meta.NewNode{Mode: syscall.S_IFREG | 0o644}); err != nil {
			t.Fatal(err)
		}
	}
	if b := r.want(t, http.StatusMultiStatus, "PROPFIND", "/", "", "Depth", "1"); strings.Contains(b, tempPrefix) {
		t.Fatalf("PROPFIND shows hidden PUT files: %s", b)
	}
	if got := r.rootNames(t, true); len(got) != 1 || got[0] != mine {
		t.Fatalf("hidden names after a listing: %v, want only %s", got, mine)
	}
}
