// Package history records what concurrent clients of a filesystem tried
// and what they were told, and checks the result against what they left
// on disk, the way Jepsen checks a history rather than trusting a run
// that "looked fine".
//
// Workers increment a counter file under flock and append fixed-size
// records to a shared log under fcntl locks. Every attempt is an Op with
// an outcome: ok (acknowledged: fsync returned), fail (refused before it
// wrote anything) or unknown (it may or may not have landed: the write or
// fsync failed, or the worker died). Every record written carries the id
// of its op, which names the node and the mount incarnation (the fencing
// identity: a remount is a new client) that wrote it, so Check can say
// which attempt put each byte there.
package history
