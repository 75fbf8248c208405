// Package sqlitestore is the embedded backend of fdbstore: one SQLite
// database file in WAL mode, the default store of HAFS.
//
// Several processes on one machine may open the same file at once; each
// sees the others' commits, and watches fire across processes (a change
// signal from inotify on the write-ahead log, with a slow safety poll).
// Read-write transactions take SQLite's write lock for their whole run, so
// they are serializable; a writer that cannot get the lock in time gets a
// retryable conflict. A kill -9 leaves only whole transactions; Sync adds
// durability against power loss.
package sqlitestore
