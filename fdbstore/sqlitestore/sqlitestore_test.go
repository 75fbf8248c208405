package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/faultstore"
	"github.com/hafs/hafs/fdbstore/sqlitestore"
	"github.com/hafs/hafs/fdbstore/storetest"
)

func openTemp(t testing.TB) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"),
		sqlitestore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) fdbstore.Store { return openTemp(t) })
}

func TestConformanceWithFaults(t *testing.T) {
	var wrapped []*faultstore.Store
	storetest.Run(t, func(t *testing.T) fdbstore.Store {
		f := faultstore.Wrap(openTemp(t), 0.2, uint64(len(wrapped)+1))
		wrapped = append(wrapped, f)
		return f
	})
	var injected int64
	for _, f := range wrapped {
		injected += f.Injected()
	}
	if injected == 0 {
		t.Fatal("fault injection never fired: the retry paths were not exercised")
	}
	t.Logf("%d conflicts injected", injected)
}

// TestTwoProcessIsolation runs read-modify-write increments of one key from
// this process and a child process at once; the total must be exact.
func TestTwoProcessIsolation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cmd, sc := child(t, "increment", path, "HAFS_STORETEST_N="+strconv.Itoa(increments))
	waitLine(t, sc, "started")
	for range increments {
		if err := storetest.Increment(context.Background(), s, []byte("counter")); err != nil {
			t.Fatal(err)
		}
	}
	waitLine(t, sc, "child done")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	var v []byte
	err = s.ReadTransact(context.Background(), func(tx fdbstore.ReadTx) error {
		v, err = tx.Get([]byte("counter"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := storetest.DecodeCounter(v); got != 2*increments {
		t.Fatalf("counter = %d, want %d", got, 2*increments)
	}
}

const increments = 300

// incrementRole is the child half of TestTwoProcessIsolation.
func incrementRole(s *sqlitestore.Store) error {
	fmt.Println("started")
	for range increments {
		if err := storetest.Increment(context.Background(), s, []byte("counter")); err != nil {
			return err
		}
	}
	fmt.Println("child done")
	return nil
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	if err := os.WriteFile(corrupt, []byte(strings.Repeat("this is not sqlite ", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		create     bool
		want       string
	}{
		{"relative", "meta.db", true, "must be absolute"},
		{"missing", filepath.Join(dir, "none.db"), false, "does not exist"},
		{"missing dir", filepath.Join(dir, "no/such/meta.db"), true, "no such file or directory"},
		{"parent is a file", filepath.Join(file, "meta.db"), true, "not a directory"},
		{"is a directory", dir, true, "is a directory"},
		{"corrupt", corrupt, false, "not a database file"},
	}
	for _, tc := range cases {
		_, err := sqlitestore.Open(context.Background(), tc.path, sqlitestore.Options{Create: tc.create})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", tc.name, err)
		}
	}
	if b, _ := os.ReadFile(corrupt); !strings.HasPrefix(string(b), "this is not sqlite") {
		t.Error("opening a corrupt file changed it")
	}
}

func TestClosed(t *testing.T) {
	s := openTemp(t)
	s.Close()
	err := s.Transact(context.Background(), func(fdbstore.Tx) error { return nil })
	if !errors.Is(err, fdbstore.ErrClosed) {
		t.Fatalf("transaction on a closed store: %v", err)
	}
}
