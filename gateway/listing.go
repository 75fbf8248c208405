package gateway

import (
	"cmp"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// listingPage is the browser view of a collection. Sorting is done by the
// server through links in the column heads, so it works without scripts.
var listingPage = template.Must(template.New("list").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Index of {{.Path}}</title>
<style>
body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
th,td{padding:.2em 1em;text-align:left}td.size{text-align:right}
th a{text-decoration:none}tr:nth-child(even){background:#f4f4f4}
</style></head><body>
<h1>Index of {{.Path}}</h1>
<table id="listing">
<thead><tr>
<th><a href="?sort=name&amp;order={{.NextOrder "name"}}">Name{{.Arrow "name"}}</a></th>
<th><a href="?sort=size&amp;order={{.NextOrder "size"}}">Size{{.Arrow "size"}}</a></th>
<th><a href="?sort=time&amp;order={{.NextOrder "time"}}">Modified{{.Arrow "time"}}</a></th>
</tr></thead>
<tbody>
{{if ne .Path "/"}}<tr><td><a href="../">../</a></td><td></td><td></td></tr>{{end}}
{{range .Entries}}<tr class="entry"><td class="name"><a href="{{.Href}}">{{.Name}}</a></td><td class="size" title="{{.Bytes}} bytes">{{.Size}}</td><td class="time">{{.Time}}</td></tr>
{{end}}</tbody></table>
<p>{{len .Entries}} entries</p>
</body></html>
`))

type listing struct {
	Path    string
	Sort    string
	Desc    bool
	Entries []listEntry
}

type listEntry struct {
	Name, Href, Size, Time string
	Bytes                  int64
	dir                    bool
	mtime                  time.Time
}

// NextOrder is the order a click on column col asks for.
func (l listing) NextOrder(col string) string {
	if l.Sort == col && !l.Desc {
		return "desc"
	}
	return "asc"
}

// Arrow marks the column sorted by.
func (l listing) Arrow(col string) string {
	switch {
	case l.Sort != col:
		return ""
	case l.Desc:
		return " ▼"
	}
	return " ▲"
}

// serveListing answers GET or HEAD of a collection with its listing page,
// and reports whether the path was a collection.
func (g *Gateway) serveListing(w http.ResponseWriter, r *http.Request) bool {
	ctx := r.Context()
	res, err := g.fs.existing(ctx, "list", r.URL.Path)
	if err != nil || !res.a.IsDir() {
		return false // the webdav handler answers, with its own status
	}
	f, err := g.fs.OpenFile(ctx, res.path, 0, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	infos, err := f.Readdir(0)
	if err != nil {
		st := stateOf(ctx)
		st.err = err
		http.Error(w, "500 listing failed", http.StatusInternalServerError)
		return true
	}
	q := r.URL.Query()
	l := listing{Path: res.path, Sort: q.Get("sort"), Desc: q.Get("order") == "desc"}
	if l.Sort != "size" && l.Sort != "time" {
		l.Sort = "name"
	}
	for _, fi := range infos {
		l.Entries = append(l.Entries, entryOf(fi))
	}
	sortEntries(l.Entries, l.Sort, l.Desc)
	if !strings.HasSuffix(r.URL.Path, "/") {
		// Relative links resolve inside the collection.
		http.Redirect(w, r, path.Base(r.URL.Path)+"/"+queryOf(r), http.StatusMovedPermanently)
		return true
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		return true
	}
	if err := listingPage.Execute(w, l); err != nil {
		stateOf(ctx).err = err
	}
	return true
}

func queryOf(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return "?" + r.URL.RawQuery
}

func entryOf(fi fs.FileInfo) listEntry {
	e := listEntry{Name: fi.Name(), Href: (&urlPath{fi.Name()}).String(), Bytes: fi.Size(), dir: fi.IsDir(),
		mtime: fi.ModTime(), Time: fi.ModTime().UTC().Format("2006-01-02 15:04:05 UTC")}
	if e.dir {
		e.Name += "/"
		e.Href += "/"
		e.Size = "-"
	} else {
		e.Size = humanSize(fi.Size())
	}
	return e
}

// sortEntries orders a listing; collections come first, as file managers
// show them, and ties keep name order.
func sortEntries(es []listEntry, by string, desc bool) {
	slices.SortStableFunc(es, func(a, b listEntry) int {
		if a.dir != b.dir {
			if a.dir {
				return -1
			}
			return 1
		}
		var c int
		switch by {
		case "size":
			c = cmp.Compare(a.Bytes, b.Bytes)
		case "time":
			c = a.mtime.Compare(b.mtime)
		}
		if c == 0 {
			c = strings.Compare(a.Name, b.Name)
		}
		if desc {
			c = -c
		}
		return c
	})
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, i := float64(n), 0
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	for v /= unit; v >= unit && i < len(units)-1; i++ {
		v /= unit
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}

// urlPath escapes one name as a relative URL path.
type urlPath struct{ name string }

func (u *urlPath) String() string {
	// "./" keeps a name with a colon from reading as a URL scheme.
	return "./" + (&urlEscaper{}).escape(u.name)
}
