// Command fsbench runs the same filesystem workloads on each target directory
// and prints every figure per target with its ratio to the first target, the
// reference (in scripts/bench.sh, a go-fuse loopback of a tmpfs directory: the
// FUSE ceiling).
//
//	fsbench [--json] [--files N] [--seq-mib M] [--only GROUPS] NAME=DIR ...
//
// Each workload runs in a fresh subdirectory of DIR and times only its
// operation phase; each checks its result and fsbench exits non-zero on any
// error or mismatch. Reads follow a sync and a drop of the page cache (which
// needs root); when that fails the output says so.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

const (
	smallFiles  = 2000    // files in the small-file workload
	smallSize   = 4 << 10 // bytes in each of them
	treeFanout  = 10      // the directory tree has 3 levels of this many
	randomReads = 2000    // 4 KiB reads at random offsets of the sequential file
	mib         = 1 << 20
)

// target is one filesystem under test.
type target struct {
	Name string `json:"name"`
	Dir  string `json:"dir"`
}

// figure is one measured rate.
type figure struct {
	Workload string  `json:"workload"`
	Unit     string  `json:"unit"`
	Value    float64 `json:"value"`
}

// config holds the workload sizes.
type config struct {
	files  int             // files in the metadata workloads
	seqMiB int             // MiB in the sequential workloads
	only   map[string]bool // groups to run (nil: all)
}

// groups names the workload groups, in the order they run.
var groups = []string{"meta", "tree", "small", "seq", "par"}

func main() {
	asJSON := flag.Bool("json", false, "print JSON instead of a table")
	files := flag.Int("files", 5000, "files in the create/stat/readdir/rename/unlink workloads")
	seqMiB := flag.Int("seq-mib", 256, "MiB written and read by the sequential workloads")
	only := flag.String("only", "", "run only these comma-separated groups of workloads: meta, tree, small, seq (with the random reads), par")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: fsbench [--json] [--files N] [--seq-mib M] [--only GROUPS] NAME=DIR ...")
		flag.PrintDefaults()
	}
	flag.Parse()
	targets, err := parseTargets(flag.Args())
	if err != nil || *files < 1 || *seqMiB < 1 {
		if err != nil {
			fmt.Fprintln(os.Stderr, "fsbench:", err)
		}
		flag.Usage()
		os.Exit(2)
	}
	cfg := config{files: *files, seqMiB: *seqMiB}
	if *only != "" {
		cfg.only = map[string]bool{}
		for _, g := range strings.Split(*only, ",") {
			if !slices.Contains(groups, g) {
				fmt.Fprintf(os.Stderr, "fsbench: --only %q: no group %q (want some of %s)\n", *only, g, strings.Join(groups, ", "))
				os.Exit(2)
			}
			cfg.only[g] = true
		}
	}
	results := make([][]figure, len(targets))
	notes := []string{}
	for i, t := range targets {
		figs, tnotes, err := runTarget(cfg, t)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fsbench: %s: %v\n", t.Name, err)
			os.Exit(1)
		}
		results[i] = figs
		notes = append(notes, tnotes...)
	}
	if *asJSON {
		err = printJSON(os.Stdout, targets, results, notes)
	} else {
		err = printTable(os.Stdout, targets, results, notes)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsbench:", err)
		os.Exit(1)
	}
}

// parseTargets parses NAME=DIR arguments; each DIR must be a directory.
func parseTargets(args []string) ([]target, error) {
	if len(args) == 0 {
		return nil, errors.New("no target")
	}
	var ts []target
	seen := map[string]bool{}
	for _, a := range args {
		name, dir, ok := strings.Cut(a, "=")
		if !ok || name == "" || dir == "" {
			return nil, fmt.Errorf("target %q: want NAME=DIR", a)
		}
		if seen[name] {
			return nil, fmt.Errorf("target %q: name used twice", name)
		}
		seen[name] = true
		if st, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("target %s: %w", name, err)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("target %s: %s is not a directory", name, dir)
		}
		ts = append(ts, target{Name: name, Dir: dir})
	}
	return ts, nil
}

// runTarget runs every workload on t, each in a fresh subdirectory of a
// scratch directory that it removes afterwards.
func runTarget(cfg config, t target) (figs []figure, notes []string, err error) {
	base, err := os.MkdirTemp(t.Dir, "fsbench-")
	if err != nil {
		return nil, nil, fmt.Errorf("scratch directory: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(base); rerr != nil && err == nil {
			err = fmt.Errorf("remove scratch directory: %w", rerr)
		}
	}()
	b := &bench{cfg: cfg, name: t.Name}
	for _, w := range []struct {
		dir string
		run func(dir string) error
	}{
		{"meta", b.metadata},
		{"tree", b.tree},
		{"small", b.small},
		{"seq", b.sequential},
		{"par", b.parallelCreate},
	} {
		if cfg.only != nil && !cfg.only[w.dir] {
			continue
		}
		dir := filepath.Join(base, w.dir)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, nil, err
		}
		if err := w.run(dir); err != nil {
			return nil, nil, err
		}
	}
	return b.figs, b.notes, nil
}

// bench runs the workloads on one target and collects their figures.
type bench struct {
	cfg   config
	name  string
	figs  []figure
	notes []string
}

// record adds the rate of n operations done in d.
func (b *bench) record(workload, unit string, n float64, d time.Duration) {
	v := n / d.Seconds()
	fmt.Fprintf(os.Stderr, "fsbench: %-8s %-12s %10.1f %s\n", b.name, workload, v, unit)
	b.figs = append(b.figs, figure{Workload: workload, Unit: unit, Value: v})
}

// dropCaches writes dirty data back and drops the page cache, so that the
// next reads reach the filesystem. On failure it adds a note and goes on.
func (b *bench) dropCaches(before string) {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		b.notes = append(b.notes, fmt.Sprintf("%s: page cache NOT dropped before %s (%v): reads may come from the cache", b.name, before, err))
	}
}

// metadata creates, stats, lists, renames and unlinks cfg.files empty files
// in dir.
func (b *bench) metadata(dir string) error {
	n := b.cfg.files
	name := func(prefix string, i int) string { return filepath.Join(dir, fmt.Sprintf("%s%06d", prefix, i)) }

	start := time.Now()
	for i := range n {
		f, err := os.OpenFile(name("f", i), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	b.record("create", "creates/s", float64(n), time.Since(start))
	if err := checkNames(dir, "f", n); err != nil {
		return fmt.Errorf("after create: %w", err)
	}

	sts := make([]os.FileInfo, n)
	start = time.Now()
	for i := range n {
		st, err := os.Lstat(name("f", i))
		if err != nil {
			return err
		}
		sts[i] = st
	}
	b.record("stat", "stats/s", float64(n), time.Since(start))
	for i, st := range sts {
		if !st.Mode().IsRegular() || st.Size() != 0 {
			return fmt.Errorf("stat %s: mode %v size %d, want an empty regular file", name("f", i), st.Mode(), st.Size())
		}
	}

	const lists = 3
	start = time.Now()
	var first time.Duration // the first listing alone: a filesystem may cache the later ones
	for l := range lists {
		f, err := os.Open(dir)
		if err != nil {
			return err
		}
		ents, err := f.ReadDir(-1)
		f.Close()
		if err != nil {
			return fmt.Errorf("readdir %s: %w", dir, err)
		}
		if len(ents) != n {
			return fmt.Errorf("readdir %s: %d entries, want %d", dir, len(ents), n)
		}
		if l == 0 {
			first = time.Since(start)
		}
	}
	b.record("readdir", "entries/s", float64(lists*n), time.Since(start))
	b.record("readdir 1st", "entries/s", float64(n), first)

	start = time.Now()
	for i := range n {
		if err := os.Rename(name("f", i), name("r", i)); err != nil {
			return err
		}
	}
	b.record("rename", "renames/s", float64(n), time.Since(start))
	if err := checkNames(dir, "r", n); err != nil {
		return fmt.Errorf("after rename: %w", err)
	}

	start = time.Now()
	for i := range n {
		if err := os.Remove(name("r", i)); err != nil {
			return err
		}
	}
	b.record("unlink", "unlinks/s", float64(n), time.Since(start))
	return checkNames(dir, "r", 0)
}

// checkNames checks that dir holds exactly the entries prefix000000 up to
// prefix(n-1).
func checkNames(dir, prefix string, n int) error {
	names, err := readNames(dir)
	if err != nil {
		return err
	}
	if len(names) != n {
		return fmt.Errorf("%s: %d entries, want %d", dir, len(names), n)
	}
	for i, nm := range names { // sorted, as the wanted names
		if want := fmt.Sprintf("%s%06d", prefix, i); nm != want {
			return fmt.Errorf("%s: entry %q, want %q", dir, nm, want)
		}
	}
	return nil
}

// readNames returns the sorted names in dir.
func readNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

// tree makes a directory tree treeFanout wide and 3 levels deep in dir.
func (b *bench) tree(dir string) error {
	n := 0
	start := time.Now()
	for i := range treeFanout {
		d1 := filepath.Join(dir, fmt.Sprint(i))
		if err := os.Mkdir(d1, 0o755); err != nil {
			return err
		}
		for j := range treeFanout {
			d2 := filepath.Join(d1, fmt.Sprint(j))
			if err := os.Mkdir(d2, 0o755); err != nil {
				return err
			}
			for k := range treeFanout {
				if err := os.Mkdir(filepath.Join(d2, fmt.Sprint(k)), 0o755); err != nil {
					return err
				}
			}
			n += 1 + treeFanout
		}
		n++
	}
	b.record("mkdir", "mkdirs/s", float64(n), time.Since(start))
	got := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != dir {
			got++
		}
		return err
	})
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("tree %s: %d directories, want %d", dir, got, n)
	}
	return nil
}

// pattern is a deterministic block of size bytes whose first 8 bytes hold i,
// so that blocks written to different places differ.
func pattern(buf []byte, i int) []byte {
	for j := range buf {
		buf[j] = byte(j*131 + j>>8)
	}
	binary.LittleEndian.PutUint64(buf, uint64(i)+0x5eed)
	return buf
}

// small writes smallFiles files of smallSize bytes in dir, then reads them
// back with the page cache dropped.
func (b *bench) small(dir string) error {
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("s%06d", i)) }
	buf := pattern(make([]byte, smallSize), 0)
	start := time.Now()
	for i := range smallFiles {
		binary.LittleEndian.PutUint64(buf, uint64(i)+0x5eed)
		if err := os.WriteFile(name(i), buf, 0o644); err != nil {
			return err
		}
	}
	b.record("write 4k", "files/s", smallFiles, time.Since(start))

	b.dropCaches("the 4 KiB file reads")
	var took time.Duration
	for i := range smallFiles {
		start := time.Now()
		got, err := os.ReadFile(name(i))
		took += time.Since(start)
		if err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(buf, uint64(i)+0x5eed)
		if !bytes.Equal(got, buf) {
			return fmt.Errorf("read %s: %d bytes differ from the %d written", name(i), len(got), len(buf))
		}
	}
	b.record("read 4k", "files/s", smallFiles, took)
	return nil
}

// sequential writes cfg.seqMiB MiB to one file in 1 MiB writes and fsyncs it,
// then reads it back in 1 MiB reads with the page cache dropped.
func (b *bench) sequential(dir string) error {
	path := filepath.Join(dir, "seq")
	blocks := b.cfg.seqMiB
	buf := pattern(make([]byte, mib), 0)
	start := time.Now()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	for i := range blocks {
		binary.LittleEndian.PutUint64(buf, uint64(i)+0x5eed)
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	b.record("seq write", "MiB/s", float64(blocks), time.Since(start))
	if st, err := os.Stat(path); err != nil {
		return err
	} else if st.Size() != int64(blocks)*mib {
		return fmt.Errorf("%s: size %d after writing %d", path, st.Size(), int64(blocks)*mib)
	}

	b.dropCaches("the sequential read")
	got := make([]byte, mib)
	var took time.Duration
	start = time.Now()
	f, err = os.Open(path)
	took += time.Since(start)
	if err != nil {
		return err
	}
	defer f.Close()
	for i := 0; ; i++ {
		start := time.Now()
		n, err := io.ReadFull(f, got)
		took += time.Since(start)
		if err == io.EOF && i == blocks {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s at MiB %d of %d: %w", path, i, blocks, err)
		}
		binary.LittleEndian.PutUint64(buf, uint64(i)+0x5eed)
		if i >= blocks || !bytes.Equal(got[:n], buf) {
			return fmt.Errorf("read %s: MiB %d differs from the %d MiB written", path, i, blocks)
		}
	}
	b.record("seq read", "MiB/s", float64(blocks), took)
	return b.randomReads(path, int64(blocks)*mib)
}

// randomReads reads randomReads 4 KiB blocks at random aligned offsets of
// path (size bytes) with a cold page cache, and checks each.
func (b *bench) randomReads(path string, size int64) error {
	b.dropCaches("the random reads")
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	got := make([]byte, 4096)
	want := pattern(make([]byte, mib), 0)
	start := time.Now()
	for range randomReads {
		off := rng.Int64N(size/4096) * 4096
		if _, err := f.ReadAt(got, off); err != nil {
			return fmt.Errorf("read %s at %d: %w", path, off, err)
		}
		binary.LittleEndian.PutUint64(want, uint64(off/mib)+0x5eed)
		in := off % mib
		if !bytes.Equal(got, want[in:in+4096]) {
			return fmt.Errorf("read %s at %d: data differs", path, off)
		}
	}
	b.record("rand 4k", "reads/s", randomReads, time.Since(start))
	if err := f.Close(); err != nil {
		return err
	}
	return b.warmReads(path, size)
}

// warmReads reads again the blocks randomReads read, reopening path for
// each round: a filesystem that keeps the kernel's page cache across opens
// of an unchanged file answers them from memory; one that drops it at
// every open reads them again.
func (b *bench) warmReads(path string, size int64) error {
	got := make([]byte, 4096)
	want := pattern(make([]byte, mib), 0)
	const rounds = 5 // each a fresh open: enough reads to time
	start := time.Now()
	for range rounds {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(7, 7))
		for range randomReads {
			off := rng.Int64N(size/4096) * 4096
			if _, err := f.ReadAt(got, off); err != nil {
				f.Close()
				return fmt.Errorf("read %s at %d: %w", path, off, err)
			}
			binary.LittleEndian.PutUint64(want, uint64(off/mib)+0x5eed)
			if in := off % mib; !bytes.Equal(got, want[in:in+4096]) {
				f.Close()
				return fmt.Errorf("read %s at %d: data differs", path, off)
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	b.record("rand warm", "reads/s", rounds*randomReads, time.Since(start))
	return nil
}

// parallelCreate creates cfg.files empty files in dir from parCreators
// goroutines at once, each its own share of the names.
func (b *bench) parallelCreate(dir string) error {
	const parCreators = 4
	n := b.cfg.files
	errs := make(chan error, parCreators)
	start := time.Now()
	for w := range parCreators {
		go func() {
			for i := w; i < n; i += parCreators {
				f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("p%06d", i)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err == nil {
					err = f.Close()
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range parCreators {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	b.record("par create", "creates/s", float64(n), time.Since(start))
	return checkNames(dir, "p", n)
}

// printTable prints one row per workload: its unit, the figure of each
// target and each later target's ratio to the first.
func printTable(w io.Writer, ts []target, results [][]figure, notes []string) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-10s %-10s", "workload", "unit")
	for _, t := range ts {
		fmt.Fprintf(&sb, " %12s", t.Name)
	}
	for _, t := range ts[1:] {
		fmt.Fprintf(&sb, " %14s", t.Name+"/"+ts[0].Name)
	}
	sb.WriteByte('\n')
	for r, f := range results[0] {
		fmt.Fprintf(&sb, "%-10s %-10s", f.Workload, f.Unit)
		for _, res := range results {
			fmt.Fprintf(&sb, " %12.0f", res[r].Value)
		}
		for _, res := range results[1:] {
			fmt.Fprintf(&sb, " %14.2f", res[r].Value/f.Value)
		}
		sb.WriteByte('\n')
	}
	for _, n := range notes {
		fmt.Fprintln(&sb, "note:", n)
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// printJSON prints the targets, each figure with its value and ratio per
// target, and the notes.
func printJSON(w io.Writer, ts []target, results [][]figure, notes []string) error {
	type row struct {
		Workload string             `json:"workload"`
		Unit     string             `json:"unit"`
		Values   map[string]float64 `json:"values"`
		Ratios   map[string]float64 `json:"ratios"`
	}
	out := struct {
		Reference string   `json:"reference"`
		Targets   []target `json:"targets"`
		Results   []row    `json:"results"`
		Notes     []string `json:"notes"`
	}{Reference: ts[0].Name, Targets: ts, Notes: notes}
	for r, f := range results[0] {
		rw := row{Workload: f.Workload, Unit: f.Unit, Values: map[string]float64{}, Ratios: map[string]float64{}}
		for i, res := range results {
			rw.Values[ts[i].Name] = res[r].Value
			rw.Ratios[ts[i].Name] = res[r].Value / f.Value
		}
		out.Results = append(out.Results, rw)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
