package cliutil

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/faultstore"
	"github.com/hafs/hafs/fdbstore/settle"
)

// EnvTestUnknownResults is a test-only switch: "RATE[,SEED]" makes a
// fraction RATE of the read-write transactions of this process end as a
// lost commit answer does (fdbstore.ErrMaybeCommitted), half of them after
// committing and half without (faultstore.WithUnknownResults), settled by
// package settle as a FoundationDB store is. End-to-end tests set it to
// check that every POSIX operation answers as if nothing had happened. It
// only ever makes a store slower; never set it outside tests.
const EnvTestUnknownResults = "HAFS_TEST_UNKNOWN_RESULTS"

// withTestFaults wraps s as EnvTestUnknownResults asks, or returns it.
func withTestFaults(s fdbstore.Store) (fdbstore.Store, error) {
	v := os.Getenv(EnvTestUnknownResults)
	if v == "" {
		return s, nil
	}
	rate, seed, err := parseTestFaults(v)
	if err != nil {
		return nil, err
	}
	slog.Warn("test-only fault injection: commits report unknown outcomes", "env", EnvTestUnknownResults, "rate", rate, "seed", seed)
	f := faultstore.Wrap(s, 0, seed).WithUnknownResults(rate)
	return faulty{Store: settle.Wrap(f), f: f}, nil
}

// faulty is the store of EnvTestUnknownResults. Closing it logs how many
// outcomes were hidden, so a test can tell the faults really happened.
type faulty struct {
	*settle.Store
	f *faultstore.Store
}

// Close implements fdbstore.Store.
func (s faulty) Close() error {
	c, u := s.f.UnknownResults()
	slog.Warn("test-only fault injection: done", "unknown_committed", c, "unknown_uncommitted", u)
	return s.Store.Close()
}

// parseTestFaults reads "RATE[,SEED]".
func parseTestFaults(v string) (rate float64, seed uint64, err error) {
	rs, ss, hasSeed := strings.Cut(v, ",")
	rate, err = strconv.ParseFloat(rs, 64)
	if err == nil && (rate <= 0 || rate >= 1) {
		err = fmt.Errorf("rate out of (0, 1)")
	}
	if err == nil && hasSeed {
		seed, err = strconv.ParseUint(ss, 10, 64)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("$%s=%q: want RATE[,SEED], a rate between 0 and 1: %w", EnvTestUnknownResults, v, err)
	}
	return rate, seed, nil
}
