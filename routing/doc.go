// Package routing owns HAFS's object storage: sites (S3-compatible buckets)
// and the calls that reach them. Every byte of a large file body goes
// through an ObjectStore; today that is one S3 site, and the multi-site
// routing core (roles, policy, health, breakers, replication) slots in
// behind the same interface without the data path (s3tier) changing.
//
// Credentials never pass through here as values stored anywhere: a site
// names an AWS shared-config profile (or none), and the standard AWS chain
// (environment, shared config and credentials files) supplies the secret.
package routing
