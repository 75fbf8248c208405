// Package locks owns HAFS file locking: POSIX byte-range locks (fcntl
// F_SETLK, F_SETLKW, F_GETLK) and BSD flock locks, shared by every client
// of one filesystem.
//
// The semantics are pure functions over one inode's lock Table (Conflict,
// Apply, Release*), so they can be tested without a store. Manager keeps
// each inode's table as one value in the store and runs every change as one
// serializable transaction; a blocked request sleeps on a store watch of
// that value rather than polling.
//
// Keys, tuple-packed under the filesystem's prefix; the package owns them
// and nothing else:
//
//	("lk", ino)                encoded Table of the inode (absent: no locks)
//	("lks", session, ino)      empty: the session holds locks on ino; kept
//	                           exact so a session's cleanup reads only its own
//	("lkw", session, ownerID)  a blocked POSIX owner: the inode and the owners
//	                           blocking it, for EDEADLK detection
//
// As on Linux, flock and POSIX locks never conflict with each other.
package locks
