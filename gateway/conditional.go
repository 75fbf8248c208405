package gateway

import (
	"net/http"
	"strings"
)

// checkPreconditions evaluates If-Match and If-None-Match for requests
// that change a resource (the webdav handler does so only for GET and
// HEAD, through http.ServeContent). It returns the status that refuses
// the request (412), or 0. The check and the change are two steps: a
// change by another client in between is not caught, as with any server
// that does not hold a lock across them; WebDAV locks are for that.
func (g *Gateway) checkPreconditions(r *http.Request) int {
	switch r.Method {
	case http.MethodPut, http.MethodDelete, "MOVE", "COPY", "PROPPATCH", "MKCOL":
	default:
		return 0
	}
	im, inm := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	if im == "" && inm == "" {
		return 0
	}
	etag := ""
	if fi, err := g.fs.Stat(r.Context(), r.URL.Path); err == nil {
		etag, _ = fi.(info).ETag(r.Context())
	}
	if im != "" && !etagListMatches(im, etag) {
		return http.StatusPreconditionFailed
	}
	if inm != "" && etagListMatches(inm, etag) {
		return http.StatusPreconditionFailed
	}
	return 0
}

// etagListMatches reports whether a header's list of entity tags (or "*")
// names the current tag; an absent resource ("") matches nothing.
func etagListMatches(list, etag string) bool {
	if etag == "" {
		return false
	}
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// checkDepth refuses PROPFIND of a whole subtree (RFC 4918, 9.1.1): its
// cost grows with the tree, not with the request. A PROPFIND without a
// Depth header means infinity.
func checkDepth(r *http.Request) (int, string) {
	if r.Method != "PROPFIND" {
		return 0, ""
	}
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Depth"))) {
	case "0", "1":
		return 0, ""
	}
	return http.StatusForbidden, `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>`
}
