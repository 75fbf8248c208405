package sqlitestore

// LargestGroup returns the most transactions one commit has taken.
func (s *Store) LargestGroup() int64 { return s.largestGroup.Load() }
