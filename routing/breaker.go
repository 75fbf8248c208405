package routing

import (
	"math/rand/v2"
	"sync"
	"time"
)

// BreakerState is a circuit breaker's state.
type BreakerState int

// Breaker states.
const (
	Closed   BreakerState = iota // requests flow
	Open                         // requests are refused until the cool-down ends
	HalfOpen                     // one probe request is let through
)

func (s BreakerState) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// Breaker keeps requests away from a failing site. It opens after
// Threshold consecutive failures; once Cooldown has passed it lets exactly
// one probe through (half-open) and closes if the probe succeeds, or opens
// again for another cool-down if it fails. Answers such as not-found are
// the caller's to report as success: they say nothing of the site's health.
type Breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	state    BreakerState
	failures int
	openedAt time.Time
	probing  bool
}

// NewBreaker returns a closed breaker. now may be nil (time.Now).
func NewBreaker(threshold int, cooldown time.Duration, now func() time.Time) *Breaker {
	if now == nil {
		now = time.Now
	}
	return &Breaker{threshold: max(threshold, 1), cooldown: cooldown, now: now}
}

// State returns the breaker's state as of now.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance()
	return b.state
}

// advance moves an open breaker whose cool-down has passed to half-open.
func (b *Breaker) advance() {
	if b.state == Open && b.now().Sub(b.openedAt) >= b.cooldown {
		b.state, b.probing = HalfOpen, false
	}
}

// Allow asks to send one request. When it returns true the caller must
// report the outcome with Done exactly once.
func (b *Breaker) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance()
	switch b.state {
	case Closed:
		return true
	case HalfOpen:
		if b.probing {
			return false
		}
		b.probing = true
		return true
	}
	return false
}

// Done reports the outcome of an allowed request.
func (b *Breaker) Done(ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case ok:
		b.state, b.failures, b.probing = Closed, 0, false
	case b.state == HalfOpen:
		b.state, b.openedAt, b.probing = Open, b.now(), false
	default:
		b.failures++
		if b.failures >= b.threshold && b.state == Closed {
			b.state, b.openedAt = Open, b.now()
		}
	}
}

// Release gives back an allowed request whose outcome says nothing of the
// site (the caller gave up): a half-open breaker may send another probe.
func (b *Breaker) Release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
}

// Backoff returns how long to wait before retry number attempt (0 for the
// first retry): exponential from base, capped at max, with "equal jitter"
// (half fixed, half random) so that many clients retrying at once spread
// out without any of them retrying at once. rnd returns a float in [0, 1);
// nil uses math/rand.
func Backoff(attempt int, base, maxWait time.Duration, rnd func() float64) time.Duration {
	if rnd == nil {
		rnd = rand.Float64
	}
	d := base
	for i := 0; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return d/2 + time.Duration(rnd()*float64(d/2))
}
