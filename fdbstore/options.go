package fdbstore

import "time"

// Options bound every transaction of a Store. Zero fields take the defaults.
type Options struct {
	// Timeout bounds one call of Transact or ReadTransact, retries
	// included. FoundationDB itself refuses transactions older than 5 s.
	Timeout time.Duration
	// RetryLimit bounds how many times a transaction is re-run after a
	// retryable error.
	RetryLimit int
}

// Default transaction bounds.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultRetryLimit = 1000
)

// WithDefaults returns o with zero fields set to the defaults.
func (o Options) WithDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RetryLimit <= 0 {
		o.RetryLimit = DefaultRetryLimit
	}
	return o
}
