package gateway

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/webdav"

	"github.com/hafs/hafs/meta"
)

// lockInfo is a LOCK request body (RFC 4918, 14.11).
type lockInfo struct {
	XMLName   xml.Name  `xml:"DAV: lockinfo"`
	Exclusive *struct{} `xml:"DAV: lockscope>exclusive"`
	Shared    *struct{} `xml:"DAV: lockscope>shared"`
	Write     *struct{} `xml:"DAV: locktype>write"`
	Owner     *struct {
		Inner string `xml:",innerxml"`
	} `xml:"DAV: owner"`
}

// maxLockTimeout caps what a client may ask for; "Infinite" is honoured.
const maxLockTimeout = 1<<32 - 1

// handleLock serves LOCK: a new exclusive or shared lock (the webdav
// package offers exclusive ones only), or the refresh of one. It answers
// the request itself.
func (g *Gateway) handleLock(w http.ResponseWriter, r *http.Request, st *reqState) {
	now := time.Now()
	d, ok := parseTimeout(r.Header.Get("Timeout"))
	if !ok {
		http.Error(w, "400 bad Timeout header", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "400 cannot read the body", http.StatusBadRequest)
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		tok := ifToken(r.Header.Get("If"))
		if tok == "" {
			http.Error(w, "400 a lock refresh needs the lock token in an If header", http.StatusBadRequest)
			return
		}
		l, err := g.locks.refresh(now, tok, d)
		if err != nil {
			st.err = err
			http.Error(w, "412 no such lock", http.StatusPreconditionFailed)
			return
		}
		writeLock(w, http.StatusOK, l)
		return
	}
	var li lockInfo
	if err := xml.Unmarshal(body, &li); err != nil {
		st.err = err
		http.Error(w, "400 bad lockinfo", http.StatusBadRequest)
		return
	}
	if (li.Exclusive == nil) == (li.Shared == nil) || li.Write == nil {
		http.Error(w, "400 lockinfo needs one lockscope and the write locktype", http.StatusBadRequest)
		return
	}
	req := lockRequest{root: cleanPath(r.URL.Path), shared: li.Shared != nil, duration: d}
	if li.Owner != nil {
		req.ownerXML = li.Owner.Inner
	}
	switch r.Header.Get("Depth") {
	case "", "infinity", "Infinity":
	case "0":
		req.zeroDepth = true
	default:
		http.Error(w, "400 Depth of a LOCK is 0 or infinity", http.StatusBadRequest)
		return
	}
	g.lockNew(w, r, st, now, req)
}

// lockNew takes a new lock, creating an empty file where the name is
// unmapped (201), as RFC 4918 asks.
func (g *Gateway) lockNew(w http.ResponseWriter, r *http.Request, st *reqState, now time.Time, req lockRequest) {
	ctx := r.Context()
	res, err := g.fs.resolve(ctx, "lock", req.root)
	status := http.StatusOK
	switch {
	case err != nil:
	case res.a == nil && res.dir == 0:
		err = pathErr("lock", res.path, syscall.ENOENT)
	case res.a == nil:
		res.a, err = g.fs.m.Create(ctx, res.dir, res.base, meta.NewNode{Mode: syscall.S_IFREG | 0o644})
		if errors.Is(err, syscall.EEXIST) {
			res.a, err = g.fs.m.Lookup(ctx, res.dir, res.base)
		} else {
			status = http.StatusCreated
		}
	}
	if err != nil {
		st.err = err
		if isNotFound(err) {
			http.Error(w, "409 the parent collection does not exist", http.StatusConflict)
		} else {
			http.Error(w, "500 lock failed", http.StatusInternalServerError)
		}
		return
	}
	l, err := g.locks.lock(ctx, now, req, res.a.Ino)
	if err != nil {
		st.err = err
		if status == http.StatusCreated {
			_ = g.fs.m.Unlink(ctx, res.dir, res.base)
		}
		if errors.Is(err, webdav.ErrLocked) {
			http.Error(w, "423 Locked", webdav.StatusLocked)
		} else {
			http.Error(w, "500 lock failed", http.StatusInternalServerError)
		}
		return
	}
	w.Header().Set("Lock-Token", "<"+l.token+">")
	writeLock(w, status, l)
}

// writeLock answers with the lock's lockdiscovery.
func writeLock(w http.ResponseWriter, status int, l *davLock) {
	depth, scope, timeout := "infinity", "exclusive", "Infinite"
	if l.zeroDepth {
		depth = "0"
	}
	if l.shared {
		scope = "shared"
	}
	if l.duration >= 0 {
		timeout = "Second-" + strconv.FormatInt(int64(l.duration/time.Second), 10)
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+
		`<D:prop xmlns:D="DAV:"><D:lockdiscovery><D:activelock>`+
		`<D:locktype><D:write/></D:locktype><D:lockscope><D:%s/></D:lockscope>`+
		`<D:depth>%s</D:depth><D:owner>%s</D:owner><D:timeout>%s</D:timeout>`+
		`<D:locktoken><D:href>%s</D:href></D:locktoken><D:lockroot><D:href>%s</D:href></D:lockroot>`+
		`</D:activelock></D:lockdiscovery></D:prop>`,
		scope, depth, l.ownerXML, timeout, xmlEscape(l.token), xmlEscape((&urlEscaper{}).escape(l.root)))
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// parseTimeout reads a Timeout header: the first of its values we
// understand, "Infinite" or "Second-N" (the default: infinite).
func parseTimeout(h string) (time.Duration, bool) {
	if strings.TrimSpace(h) == "" {
		return -1, true
	}
	for _, v := range strings.Split(h, ",") {
		v = strings.TrimSpace(v)
		if v == "Infinite" {
			return -1, true
		}
		if n, ok := strings.CutPrefix(v, "Second-"); ok {
			s, err := strconv.ParseUint(n, 10, 64)
			if err != nil {
				return 0, false
			}
			return time.Duration(min(s, maxLockTimeout)) * time.Second, true
		}
	}
	return 0, false
}

var ifTokenRE = regexp.MustCompile(`\(\s*<([^>]+)>`)

// ifToken is the lock token of a refresh's If header: "(<token>)".
func ifToken(h string) string {
	if m := ifTokenRE.FindStringSubmatch(h); m != nil {
		return m[1]
	}
	return ""
}
