package e2e

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestUnknownCommitOutcomes runs POSIX operations through two real mounts
// whose stores report a quarter of all commits as possibly committed
// (cliutil.EnvTestUnknownResults: half of those did commit, half did not),
// as FoundationDB's commit_unknown_result and a lost etcd answer do. Every
// operation must answer as if nothing had happened: no EEXIST for a create
// that landed, no ENOENT for an unlink or rename that did, every fsync'd
// byte there, a flock-guarded counter exact, and fsck clean.
func TestUnknownCommitOutcomes(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("flock"); err != nil {
		t.Fatal("flock(1) is missing: run scripts/setup.sh --test")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	fs := NewFS(t, FSOptions{Env: []string{fmt.Sprintf("HAFS_TEST_UNKNOWN_RESULTS=0.25,%d", seed)}})
	a, b := fs.Mount(t), fs.Mount(t)

	want := unknownNamespaceOps(t, a.Dir, rand.New(rand.NewPCG(seed, 1)))
	// The other mount sees exactly what the first one was told.
	for path, content := range want {
		got, err := os.ReadFile(filepath.Join(b.Dir, path))
		if err != nil || string(got) != content {
			t.Errorf("%s on the other mount: %q, %v; want %q", path, got, err, content)
		}
	}
	if got, exp := treeFiles(t, b.Dir), slices.Sorted(maps.Keys(want)); !slices.Equal(got, exp) {
		t.Errorf("files on the other mount:\n%v\nwant\n%v", got, exp)
	}

	unknownFlockCounter(t, a.Dir, b.Dir)

	// The faults happened: each mount logs its counts when it ends.
	injected := 0
	for _, m := range []*Mount{a, b} {
		m.Unmount(t)
		injected += unknownInjected(t, m.Output())
	}
	if injected == 0 {
		t.Fatal("no commit was reported with an unknown outcome: the test proved nothing")
	}
	t.Logf("%d commits reported with unknown outcomes", injected)
}

// unknownNamespaceOps creates, writes with fsync, renames, unlinks, makes
// and removes directories under dir, failing at the first wrong answer,
// and returns the files that must remain with their contents.
func unknownNamespaceOps(t *testing.T, dir string, rng *rand.Rand) map[string]string {
	want := map[string]string{}
	must(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
	for i := range 40 {
		name := fmt.Sprintf("f%02d", i)
		content := strings.Repeat(name, 1+rng.IntN(200))
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		must(t, err) // EEXIST here: a create that landed was run again
		_, err = f.WriteString(content)
		must(t, err)
		must(t, f.Sync())
		must(t, f.Close())
		want[name] = content
		sub := filepath.Join(dir, "d", fmt.Sprintf("s%02d", i))
		must(t, os.Mkdir(sub, 0o755))
		switch i % 3 {
		case 0:
			must(t, os.Rename(filepath.Join(dir, name), filepath.Join(sub, name)))
			want[filepath.Join("d", filepath.Base(sub), name)] = content
			delete(want, name)
		case 1:
			must(t, os.Remove(filepath.Join(dir, name))) // ENOENT: an unlink run twice
			delete(want, name)
			must(t, os.Remove(sub)) // rmdir
		}
	}
	return want
}

// unknownFlockCounter has two processes on each mount increment a counter
// under flock(1); every increment must count once.
func unknownFlockCounter(t *testing.T, dirs ...string) {
	writeFile(t, filepath.Join(dirs[0], "counter"), "0\n")
	writeFile(t, filepath.Join(dirs[0], "lock"), "")
	const procs, each = 4, 10
	var wg sync.WaitGroup
	for p := range procs {
		dir := dirs[p%len(dirs)]
		script := fmt.Sprintf(`for i in $(seq %d); do flock %s/lock sh -c 'n=$(cat %s/counter); echo $((n+1)) > %s/counter'; done`,
			each, dir, dir, dir)
		wg.Go(func() {
			if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
				t.Errorf("incrementer %d: %v\n%s", p, err, out)
			}
		})
	}
	wg.Wait()
	got, err := os.ReadFile(filepath.Join(dirs[len(dirs)-1], "counter"))
	must(t, err)
	if strings.TrimSpace(string(got)) != strconv.Itoa(procs*each) {
		t.Fatalf("counter = %s after %d locked increments", strings.TrimSpace(string(got)), procs*each)
	}
}

// treeFiles lists the regular files under dir, relative to it, sorted,
// leaving out the counter's files.
func treeFiles(t *testing.T, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if rel != "counter" && rel != "lock" {
			out = append(out, rel)
		}
		return err
	})
	must(t, err)
	slices.Sort(out)
	return out
}

var unknownDone = regexp.MustCompile(`test-only fault injection: done unknown_committed=(\d+) unknown_uncommitted=(\d+)`)

// unknownInjected returns the outcomes a mount's log says it hid.
func unknownInjected(t *testing.T, log string) int {
	m := unknownDone.FindStringSubmatch(log)
	if m == nil {
		t.Errorf("the mount did not log its fault counts:\n%s", log)
		return 0
	}
	c, _ := strconv.Atoi(m[1])
	u, _ := strconv.Atoi(m[2])
	return c + u
}
