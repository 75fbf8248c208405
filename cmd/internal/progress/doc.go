// Package progress reports how far a long admin job (fsck, gc, drain,
// dump, load) has got: on a terminal, one line redrawn in place with a
// bar, the rate and the time left; otherwise (a log, a pipe) a plain line
// every few seconds, so logs stay readable.
//
//	p := progress.New(os.Stderr, "fsck objects", total) // total 0: unknown
//	for ... { p.Add(1) }
//	p.Done()
package progress
