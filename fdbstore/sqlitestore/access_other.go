//go:build !unix

package sqlitestore

// checkWritableDir has no portable test off Unix; SQLite's own error is
// reported instead.
func checkWritableDir(string) error { return nil }
