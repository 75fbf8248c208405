// Package fs is the FUSE node layer of HAFS (go-fuse v2): it turns kernel
// requests into calls on meta, fills in attributes and maps errors
// to errno in one place (errno.go). It holds no storage logic of its own;
// the only state it keeps is per-mount: which inodes this client has open,
// so that a file unlinked while open survives until its last close.
package fs
