package sqlitestore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/sqlitestore"
)

const (
	roleEnv = "HAFS_STORETEST_ROLE"
	pathEnv = "HAFS_STORETEST_PATH"
)

// TestMain lets this test binary double as the other processes of the
// multi-process tests: with roleEnv set it plays that role and exits.
func TestMain(m *testing.M) {
	roles := map[string]func(*sqlitestore.Store) error{
		"increment": incrementRole,
		"setter":    setterRole,
		"writer":    writerRole,
		"pinger":    pingerRole,
	}
	role := os.Getenv(roleEnv)
	if role == "" {
		os.Exit(m.Run())
	}
	s, err := sqlitestore.Open(context.Background(), os.Getenv(pathEnv), sqlitestore.Options{})
	if err == nil {
		err = roles[role](s)
		s.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, role+":", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// child starts this test binary in a role over the store at path.
func child(t testing.TB, role, path string, env ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append(env, roleEnv+"="+role, pathEnv+"="+path)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

// waitLine reads the child's output until a line starting with prefix.
func waitLine(t testing.TB, sc *bufio.Scanner, prefix string) string {
	t.Helper()
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			return sc.Text()
		}
	}
	t.Fatalf("child ended before printing %q", prefix)
	return ""
}

// TestWatchAcrossProcesses sets a watch here and changes the key from a
// child process; the watch must fire.
func TestWatchAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var w fdbstore.Watch
	if err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		w = tx.Watch([]byte("signal"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	_, sc := child(t, "setter", path)
	waitLine(t, sc, "set done")
	select {
	case <-w.Done():
		if w.Err() != nil {
			t.Fatal(w.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not fire after another process changed the key")
	}
}

// setterRole is the child half of TestWatchAcrossProcesses.
func setterRole(s *sqlitestore.Store) error {
	err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
		tx.Set([]byte("signal"), []byte("go"))
		return nil
	})
	fmt.Println("set done")
	return err
}

// TestKillNineLeavesWholeTransactions kills a writer mid-stream, repeatedly;
// every transaction writes the same number under three keys, so a torn
// transaction would show as keys that disagree.
func TestKillNineLeavesWholeTransactions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	last := -1
	for round := range 3 {
		cmd, sc := child(t, "writer", path)
		// Let it commit a while, then kill it without warning.
		for range 50 + round*100 {
			waitLine(t, sc, "committed ")
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{})
		if err != nil {
			t.Fatalf("reopen after kill -9: %v", err)
		}
		var vals [3]string
		err = s.ReadTransact(context.Background(), func(tx fdbstore.ReadTx) error {
			for i := range vals {
				v, err := tx.Get(fmt.Appendf(nil, "torn/%d", i))
				if err != nil {
					return err
				}
				vals[i] = string(v)
			}
			return nil
		})
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if vals[0] != vals[1] || vals[1] != vals[2] {
			t.Fatalf("round %d: torn transaction after kill -9: %q", round, vals)
		}
		n, err := strconv.Atoi(vals[0])
		if err != nil || n <= last {
			t.Fatalf("round %d: counter %q did not advance past %d", round, vals[0], last)
		}
		last = n
	}
}

// writerRole commits until it is killed.
func writerRole(s *sqlitestore.Store) error {
	for {
		var n int
		err := s.Transact(context.Background(), func(tx fdbstore.Tx) error {
			v, err := tx.Get([]byte("torn/0"))
			if err != nil {
				return err
			}
			n, _ = strconv.Atoi(string(v))
			n++
			for i := range 3 {
				tx.Set(fmt.Appendf(nil, "torn/%d", i), []byte(strconv.Itoa(n)))
				// Padding makes each transaction span several WAL pages.
				tx.Set(fmt.Appendf(nil, "pad/%d", i), make([]byte, 9000))
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Printf("committed %d\n", n)
	}
}
