package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"
	"syscall"

	"golang.org/x/net/webdav"

	"github.com/hafs/hafs/meta"
)

// propPrefix starts the extended attributes that hold WebDAV dead
// properties. FUSE clients see them too (getfattr -d -m user.dav).
const propPrefix = "user.dav."

// storedProp is a dead property as its xattr value holds it: the full
// name, since a long one is stored under a digest.
type storedProp struct {
	Space string `json:"ns"`
	Local string `json:"name"`
	Lang  string `json:"lang,omitempty"`
	Inner []byte `json:"xml"`
}

// propAttr is the xattr name of property n: readable in Clark notation
// when it fits, a digest otherwise.
func propAttr(n xml.Name) string {
	s := propPrefix + "{" + n.Space + "}" + n.Local
	if len(s) <= meta.MaxXattrName {
		return s
	}
	sum := sha256.Sum256([]byte(n.Space + "\x00" + n.Local))
	return propPrefix + "#" + hex.EncodeToString(sum[:])
}

// DeadProps returns the properties PROPPATCH stored on this file.
func (f *file) DeadProps() (map[xml.Name]webdav.Property, error) {
	names, err := f.fs.m.ListXattr(f.ctx, f.ino)
	if err != nil {
		return nil, pathErr("listxattr", f.name, err)
	}
	out := map[xml.Name]webdav.Property{}
	for _, n := range names {
		if !strings.HasPrefix(n, propPrefix) {
			continue
		}
		v, err := f.fs.m.GetXattr(f.ctx, f.ino, n)
		if errors.Is(err, syscall.ENODATA) {
			continue
		}
		if err != nil {
			return nil, pathErr("getxattr", f.name, err)
		}
		var p storedProp
		if json.Unmarshal(v, &p) != nil {
			continue // not ours: a FUSE user's own attribute under the prefix
		}
		name := xml.Name{Space: p.Space, Local: p.Local}
		out[name] = webdav.Property{XMLName: name, Lang: p.Lang, InnerXML: p.Inner}
	}
	return out, nil
}

// Patch sets and removes properties, in order, each as one xattr change.
func (f *file) Patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	st := webdav.Propstat{Status: http.StatusOK}
	for _, p := range patches {
		for _, prop := range p.Props {
			attr := propAttr(prop.XMLName)
			var err error
			if p.Remove {
				err = f.fs.m.RemoveXattr(f.ctx, f.ino, attr)
				if errors.Is(err, syscall.ENODATA) {
					err = nil
				}
			} else {
				v, _ := json.Marshal(storedProp{Space: prop.XMLName.Space, Local: prop.XMLName.Local,
					Lang: prop.Lang, Inner: prop.InnerXML})
				err = f.fs.m.SetXattr(f.ctx, f.ino, attr, v, 0)
			}
			if err != nil {
				return nil, pathErr("proppatch", f.name, err)
			}
			st.Props = append(st.Props, webdav.Property{XMLName: prop.XMLName})
		}
	}
	return []webdav.Propstat{st}, nil
}
