package meta

import (
	"encoding/json"
)

// collectQuota records a quota record or one of its counters.
func (c *checker) collectQuota(el []any, value []byte) {
	kind, _ := el[0].(string)
	v, _ := el[1].(int64)
	dir := uint64(v)
	switch {
	case kind == kindQuota && len(el) == 2:
		var r quotaRec
		if err := json.Unmarshal(value, &r); err != nil {
			c.bad("quota of directory %d: %v", dir, err)
			return
		}
		c.quotas[dir] = &r
	case kind == kindQuotaUse && len(el) == 3:
		u := c.quotaUse[dir]
		if u == nil {
			u = &[2]int64{}
			c.quotaUse[dir] = u
		}
		switch what, _ := el[2].(string); what {
		case "alloc":
			u[0] = decI64(value)
		case "inodes":
			u[1] = decI64(value)
		default:
			c.bad("quota of directory %d: unknown counter %q", dir, what)
		}
	}
}

// checkQuotas checks that each quota's usage is the sum over the inodes
// labeled with it and with the quotas nested in it, that every label names
// a quota, that quota directories and records agree, and that each inode's
// label is the one its directory gives (the quota directory itself, else
// the directory's label). A quota still being set or unset is reported as
// unfinished instead of by each label its walk has yet to move.
func (c *checker) checkQuotas() {
	want := map[uint64]*[2]int64{}
	for q := range c.quotas {
		want[q] = &[2]int64{}
	}
	for _, a := range c.inodes {
		if a.Qid == 0 {
			continue
		}
		if c.quotas[a.Qid] == nil {
			c.bad("inode %d: counted against quota %d, which has no record", a.Ino, a.Qid)
			continue
		}
		for q, depth := a.Qid, 0; q != 0 && depth < maxQuotaDepth; depth++ {
			r := c.quotas[q]
			if r == nil {
				break
			}
			want[q][0] += int64(a.Alloc)
			want[q][1]++
			q = r.Parent
		}
	}
	walking := false
	for q, r := range c.quotas {
		got := c.quotaUse[q]
		if got == nil {
			got = &[2]int64{}
		}
		if *got != *want[q] {
			c.bad("quota of directory %d: usage %d bytes, %d inodes; its inodes add up to %d bytes, %d inodes "+
				"(hafs quota unset and set recount it)",
				q, got[0], got[1], want[q][0], want[q][1])
		}
		if r.Parent != 0 && c.quotas[r.Parent] == nil {
			c.bad("quota of directory %d: enclosing quota %d has no record", q, r.Parent)
		}
		if r.State == quotaSetting || r.State == quotaUnsetting {
			c.bad("quota of directory %d: %s unfinished; run hafs quota %s again", q, r.State,
				map[string]string{quotaSetting: "set", quotaUnsetting: "unset"}[r.State])
			walking = true
		}
		d := c.inodes[q]
		switch {
		case r.State == quotaRemoved:
		case d == nil:
			c.bad("quota of directory %d: the directory is missing", q)
		case d.Flags&AttrQuotaDir == 0 && r.State != quotaUnsetting:
			c.bad("quota of directory %d: the directory is not marked as a quota directory", q)
		}
	}
	for q := range c.quotaUse {
		if c.quotas[q] == nil {
			c.bad("quota counters of directory %d without a record", q)
		}
	}
	for _, a := range c.inodes {
		if a.Flags&AttrQuotaDir != 0 && c.quotas[a.Ino] == nil {
			c.bad("directory %d: marked as a quota directory, no quota record", a.Ino)
		}
	}
	if !walking {
		c.checkQuotaLabels()
	}
}

// checkQuotaLabels checks each entry's inode label against its directory.
// A file with several links may have been linked across quotas before the
// quota was set; only its links' agreement with one another is not
// required.
func (c *checker) checkQuotaLabels() {
	for _, e := range c.ents {
		dir, child := c.inodes[e.dir], c.inodes[e.d.ino]
		if dir == nil || child == nil || (!child.IsDir() && child.Nlink > 1) {
			continue
		}
		if w := dir.childQid(); child.Qid != w {
			c.bad("inode %d (%q in %d): counted against quota %d, its directory gives %d", child.Ino, e.name, e.dir, child.Qid, w)
		}
	}
}
