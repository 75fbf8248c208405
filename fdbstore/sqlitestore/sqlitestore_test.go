package sqlitestore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/sqlitestore"
	"github.com/hafs/hafs/fdbstore/storetest"
)

func openTemp(t testing.TB) *sqlitestore.Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "meta.db"))
}

// openAt opens (creating it if need be) the store at path, which t closes.
func openAt(t testing.TB, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the shared suite, which also runs it with injected
// conflicts (faultstore).
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) fdbstore.Store { return openTemp(t) })
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
	// A valid SQLite database of some other program, and one that has
	// the store's kv table but not its hafs_store table.
	foreign := filepath.Join(dir, "foreign.db")
	createDB(t, foreign, "CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('ann')")
	kvOnly := filepath.Join(dir, "kv-only.db")
	createDB(t, kvOnly, "CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	foreignTables := tables(t, foreign)
	foreignBytes, err := os.ReadFile(foreign)
	if err != nil {
		t.Fatal(err)
	}
	kvOnlyTables := tables(t, kvOnly)
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
		{"foreign", foreign, true, "open sqlite store " + foreign + ": not a HAFS metadata store"},
		{"kv only", kvOnly, true, "open sqlite store " + kvOnly + ": not a HAFS metadata store"},
		{"empty without create", empty, false, "open sqlite store " + empty + ": not a HAFS metadata store"},
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
	if got := tables(t, foreign); !slices.Equal(got, foreignTables) {
		t.Errorf("opening a foreign database changed its tables from %q to %q", foreignTables, got)
	}
	if b, _ := os.ReadFile(foreign); !bytes.Equal(b, foreignBytes) {
		t.Error("opening a foreign database changed its file")
	}
	if got := tables(t, kvOnly); !slices.Equal(got, kvOnlyTables) {
		t.Errorf("opening a database without hafs_store changed its tables from %q to %q", kvOnlyTables, got)
	}
	if st, err := os.Stat(empty); err != nil || st.Size() != 0 {
		t.Errorf("opening an empty database without Create changed it: %v, %v", st, err)
	}
	// With Create, an empty (zero-length) file becomes a store.
	s, err := sqlitestore.Open(context.Background(), empty, sqlitestore.Options{Create: true})
	if err != nil {
		t.Fatalf("create a store in an empty file: %v", err)
	}
	s.Close()
	if got := tables(t, empty); !slices.Equal(got, []string{"hafs_store", "kv"}) {
		t.Errorf("tables of a store created in an empty file: %q", got)
	}
}

// createDB makes a SQLite database at path with the driver sqlitestore
// uses, running stmts in it.
func createDB(t *testing.T, path, stmts string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmts); err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
}

// tables lists the tables of the SQLite database at path, read-only.
func tables(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		t.Fatalf("tables of %s: %v", path, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func TestClosed(t *testing.T) {
	s := openTemp(t)
	s.Close()
	err := s.Transact(context.Background(), func(fdbstore.Tx) error { return nil })
	if !errors.Is(err, fdbstore.ErrClosed) {
		t.Fatalf("transaction on a closed store: %v", err)
	}
}
