package gateway

import (
	"context"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"github.com/hafs/hafs/meta"
)

// info is an inode's attributes as fs.FileInfo.
type info struct {
	a    *meta.Attr
	name string
}

var (
	_ webdav.ETager       = info{}
	_ webdav.ContentTyper = info{}
)

func newInfo(a *meta.Attr, name string) info { return info{a: a, name: name} }

func (i info) Name() string { return i.name }
func (i info) Size() int64  { return int64(i.a.Size) }
func (i info) Mode() fs.FileMode {
	m := fs.FileMode(i.a.Mode & 0o777)
	if i.a.IsDir() {
		m |= fs.ModeDir
	}
	return m
}
func (i info) ModTime() time.Time { return time.Unix(0, i.a.Mtime) }
func (i info) IsDir() bool        { return i.a.IsDir() }
func (i info) Sys() any           { return i.a }

// ETag names the version: the inode (a file replaced by a PUT is a new
// inode), its modification time and size.
func (i info) ETag(context.Context) (string, error) {
	return fmt.Sprintf(`"%x-%x-%x"`, i.a.Ino, i.a.Mtime, i.a.Size), nil
}

// ContentType is the type by the name's extension, or
// application/octet-stream: PROPFIND must not open and read every file to
// sniff it (a GET still sniffs, through http.ServeContent).
func (i info) ContentType(context.Context) (string, error) {
	if i.a.IsDir() {
		return "", webdav.ErrNotImplemented
	}
	if t := mime.TypeByExtension(path.Ext(i.name)); t != "" {
		return t, nil
	}
	return "application/octet-stream", nil
}

// hiddenName reports names the gateway never shows: unfinished PUTs.
func hiddenName(name string) bool { return strings.HasPrefix(name, tempPrefix) }
