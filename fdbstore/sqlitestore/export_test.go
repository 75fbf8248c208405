package sqlitestore

// LargestGroup returns the most transactions one commit has taken.
func (s *Store) LargestGroup() int64 { return s.largestGroup.Load() }

// Checkpoints returns how many background checkpoints have succeeded.
func (s *Store) Checkpoints() int64 { return s.ckpt.runs.Load() }

// NoteFull records a disk-full refusal at t, as a refused commit does.
func (s *Store) NoteFull(t int64) { s.noteFull(t) }

// CheckpointNow runs both passes of a background checkpoint now.
func (s *Store) CheckpointNow() error { return s.ckpt.checkpoint() }

// LogFrames returns how many frames the write-ahead log holds now.
func (s *Store) LogFrames() (int64, error) { return s.ckpt.pass() }
