// Package meta is the filesystem's data model in the store: the key schema
// (superblock, inodes, directory entries, file blocks, xattrs, counters,
// orphans) and every metadata change as one bounded, serializable
// transaction. It knows POSIX semantics and speaks errno (syscall.Errno
// wrapped with context), but nothing of FUSE: the fs package translates
// kernel requests into these calls.
//
// Key layout, each packed with the tuple encoding under ("hafs", fsname):
//
//	("sb")                      superblock (JSON)
//	("ctr", "ino")              next unallocated inode number
//	("ino", ino)                inode attributes (binary, see attr.go)
//	("dent", dir, name)         directory entry -> (ino, cookie, type)
//	("dck", dir, cookie)        readdir order: cookie -> name
//	("blk", ino, index)         file data, one fixed-size block, sparse
//	("xattr", ino, name)        extended attribute value
//	("orphan", ino)             an inode unlinked while some client has it open
//	("open", ino, session)      the session has ino open (first open to last close)
//	("sopen", session, ino)     the same, indexed by session for its cleanup
//	("sess", id)                a live client session (JSON); its fencing key
//	("hb", id)                  the session's heartbeat: counter, wall time
//	("dead", id)                a fenced session whose cleanup is unfinished
//	("gone", id)                tombstone of a fenced session
//	("stat", "inodes"|"bytes"|"alloc")  statfs counters, atomic adds: inodes,
//	                            logical bytes, allocated bytes (space.go)
//	("cfg", "limits")           capacity and inode limits (JSON; hafs config)
//	("quota", dir)              a directory quota: limits, enclosing quota,
//	                            state (JSON; quota.go)
//	("qused", dir, "alloc"|"inodes")  its usage, atomic adds
//	("chunk", ino, idx)         a chunk's slice list (see chunks.go)
//	("intent", session, id)     an upload in flight; ("delq", id) a freed slice
//	("purge", ino)              a deleted sliced file whose chunks await paging
//	("site", name)              an object store site (routing's JSON)
//	("rule", name)              a routing policy rule (routing's JSON)
//	("ctr", "sitegen")          bumped by every site or rule change; watched
//	("siteack", session)        site generation a writer uses, and its slice mark
//	("repl", site, id)          a copy of slice id due on site: size, time,
//	                            the object's CRC32C and a not-before time
//	                            (both optional), claim
//	("replstat", site, what)    the site's queued jobs and bytes, atomic adds
//	("sdel", site, id)          slice id's object to delete from site
//	("backfill", site)          the cursor of an added site's backfill scan
//	("sitestate", site)         a mount's last view of the site (for status)
package meta
