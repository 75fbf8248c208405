// Package s3tier owns file bodies: small files inline in the metadata
// store, the rest as immutable slice objects in the object store.
//
// Layout. A file is cut into chunks (DataLayout.ChunkSize). Each write
// becomes a slice: at most BlockSize bytes, stored as one object named by
// a never-reused slice id, with a CRC32C per PageSize page recorded in the
// chunk's slice list in the store. Later slices in a list cover earlier
// ones; reads paint them newest first and fetch only what shows.
//
// Invariants (see the design notes):
//   - upload before commit: an intent row is committed before the upload
//     starts, the object is fully written, and only then does the
//     transaction that adds the slice to the chunk list (and clears the
//     intent) commit. A crash in between leaves an intent, which session
//     cleanup or gc turns into a deletion.
//   - objects are deleted only through the durable deletion queue, filled
//     in the same transaction as the change that freed them (truncate,
//     unlink, compaction), and drained by every mount's Deleter.
//   - every byte read from the object store is checked against its page's
//     CRC32C; a mismatch is EIO, a log line and a metric, never bad data.
//
// Writes are buffered per inode up to a block and sent in the background
// with bounded concurrency and a global memory budget (back-pressure); a
// flush (close, fsync, lock release, a read of the same file, age) waits
// for every slice of the inode to commit. Reads go through a byte-budget
// page cache, safe to share because objects never change: a GET lands in
// a pooled buffer that becomes one cache entry, readers copy pages out
// under the cache's lock into the kernel's buffer, and an evicted buffer
// goes back to the pool, so a steady read allocates nothing.
package s3tier
