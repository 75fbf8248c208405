// Package directio writes and reads the block files of a local object
// store (a file:// site, the tier's disk cache) around the page cache.
//
// A block object is written once and read back rarely, and the tier keeps
// its own page cache of what it reads: copying a block into the kernel's
// page cache only for writeback (or the reader) to copy it out again
// doubled the CPU a sequential write or read cost on a two-core machine,
// and under memory pressure the reclaim it forced cost more than the I/O
// itself (dd of 1 GiB here: 2.8 s of system time buffered, 0.14 s with
// O_DIRECT). So the 4 KiB-aligned part of a large buffer goes with
// O_DIRECT, and the rest, and everything on a filesystem that refuses
// O_DIRECT (tmpfs before Linux 6.6, some network filesystems), through
// the page cache.
//
// O_DIRECT makes no promise of durability: callers that need it still
// call Sync.
package directio
