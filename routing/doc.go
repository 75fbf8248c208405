// Package routing owns HAFS's object storage: sites (S3-compatible buckets)
// and the calls that reach them. Every byte of a large file body goes
// through an ObjectStore. With a bucket, that is a Router over every site
// of the filesystem: primaries written synchronously, reads from the
// nearest healthy site with failover, per-site circuit breakers and
// retries, policy rules by path, and workers that drain the durable
// replication and per-site deletion queues kept in the metadata store
// (meta). The data path (s3tier) sees one ObjectStore either way.
//
// Credentials never pass through here as values stored anywhere: a site
// names an AWS shared-config profile (or none), and the standard AWS chain
// (environment, shared config and credentials files) supplies the secret.
package routing
