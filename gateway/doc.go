// Package gateway serves a HAFS filesystem over WebDAV (class 1 and 2) and
// plain HTTP, for machines that cannot mount FUSE. It is one more client of
// the filesystem, like a mount: it works under the session of the meta.FS it
// is given (so it is listed, evictable and fenced like a mount), moves file
// bodies through the same data path (inline, or slices uploaded to the
// object store before the metadata that points to them commits), and maps
// WebDAV locks onto HAFS's own flock locks, so a LOCK through the gateway and
// a flock(2) on any FUSE mount exclude each other.
//
// golang.org/x/net/webdav speaks the protocol; this package gives it a
// webdav.FileSystem (names resolved from the served root, never following
// symlinks), a webdav.File (streamed reads and writes, dead properties kept
// as extended attributes) and a webdav.LockSystem, and wraps its handler with
// what a server exposed to a network needs: authentication, read-only mode,
// bounded requests, an access log line per request, metrics and a browser
// listing of collections.
package gateway
