package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hafs/hafs/fdbstore/storeurl"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/test/cluster"
	"github.com/hafs/hafs/test/etcd"
	"github.com/hafs/hafs/test/history"
)

// historyRounds is how many faults TestHistoryMutualExclusion injects: a
// short schedule in `make test`, HAFS_HISTORY_ROUNDS (`make soak`) when set.
func historyRounds(t *testing.T) int {
	if v := os.Getenv("HAFS_HISTORY_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HAFS_HISTORY_ROUNDS=%q: want a positive number", v)
		}
		return n
	}
	return len(scheduleFaults(t))
}

// historyFaults are the faults of the schedule. Every run shuffles them
// and repeats the shuffle, so `make test`'s short schedule has each once.
var historyFaults = []string{"cut", "drop-both", "drop-oneway", "drop-peer", "pause", "kill-fuse", "kill-leader", "kill-member"}

// scheduleFaults returns the faults to draw from: historyFaults, or the
// comma-separated HAFS_HISTORY_FAULTS (to chase one kind; "none" is a
// quiet period as long as a fault, the control).
func scheduleFaults(t *testing.T) []string {
	v := os.Getenv("HAFS_HISTORY_FAULTS")
	if v == "" {
		return historyFaults
	}
	kinds := strings.Split(v, ",")
	for _, k := range kinds {
		if !slices.Contains(historyFaults, k) && k != "none" {
			t.Fatalf("HAFS_HISTORY_FAULTS: %q is none of %s", k, strings.Join(historyFaults, ","))
		}
	}
	return kinds
}

// TestHistoryMutualExclusion: three hosts, each with an etcd member and a
// hafs-fuse mount; on each a worker increments a counter under flock and
// appends to a log under fcntl locks, recording every attempt. A seeded
// random schedule (printed; HAFS_HISTORY_SEED repeats it) partitions
// hosts (link down, netfilter drops both ways, one way, or to one peer),
// pauses a hafs-fuse past the session expiry, kills a hafs-fuse and
// remounts, and kills etcd members (the leader too). After each fault
// heals, every node must make progress again (a fenced node is seen by its
// session being gone and is remounted). history.Check then judges the
// history against the files: mutual exclusion, no lost acknowledged
// write, no write of a fenced client.
func TestHistoryMutualExclusion(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("HAFS_HISTORY_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("HAFS_HISTORY_SEED=%q: want a number", v)
		}
	}
	rounds := historyRounds(t)
	t.Logf("history: seed %d (HAFS_HISTORY_SEED=%d repeats the schedule), %d rounds", seed, seed, rounds)
	nw, c, fs := hostCluster(t, 3)
	r := &histRun{t: t, nw: nw, c: c, fs: fs, h: history.New(), seed: seed, faults: map[string]int{}}
	r.openMeta()
	for i, host := range nw.Hosts {
		r.nodes = append(r.nodes, &histNode{i: i, host: host, inc: 1, mount: fs.MountOn(t, host.Command, fastSessions...)})
	}
	must(t, os.WriteFile(filepath.Join(r.nodes[0].mount.Dir, "counter"), history.Record{}.Marshal(), 0o644))
	must(t, os.WriteFile(filepath.Join(r.nodes[0].mount.Dir, "log"), nil, 0o644))
	for _, n := range r.nodes {
		r.startWorker(n)
	}
	r.recover("start")
	rng := rand.New(rand.NewPCG(seed, 2))
	faults := scheduleFaults(t)
	var order []string
	start := time.Now()
	for round := range rounds {
		if len(order) == 0 {
			order = append([]string(nil), faults...)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		kind := order[0]
		order = order[1:]
		desc := r.inject(kind, rng)
		r.faults[kind]++
		t.Logf("round %d: %s", round+1, desc)
		r.recover(fmt.Sprintf("round %d", round+1))
	}
	elapsed := time.Since(start)
	for _, n := range r.nodes {
		r.stopWorker(n, syscall.SIGTERM)
	}
	r.judge(rounds, elapsed)
}

// histRun is one run of the history test.
type histRun struct {
	t      *testing.T
	nw     *cluster.Net
	c      *etcd.Cluster
	fs     *FS
	meta   *meta.FS // to see which sessions exist
	h      *history.History
	seed   uint64
	nodes  []*histNode
	faults map[string]int // injected, by kind

	mu   sync.Mutex
	errs []string // malformed worker output
}

// histNode is one host's mount and its worker.
type histNode struct {
	i      int
	host   *cluster.Host
	mount  *Mount
	inc    int // the mount's incarnation: each remount is a new client
	worker *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{} // closed once the worker exited and its output is read
}

func (r *histRun) openMeta() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := storeurl.Open(ctx, r.fs.Store, storeurl.Options{})
	must(r.t, err)
	r.t.Cleanup(func() { s.Close() })
	r.meta, err = meta.Open(ctx, s, "default")
	must(r.t, err)
}

func (r *histRun) startWorker(n *histNode) {
	t := r.t
	spec, err := json.Marshal(workerSpec{Dir: n.mount.Dir, Node: n.i, Inc: n.inc, Seed: r.seed})
	must(t, err)
	self, err := os.Executable()
	must(t, err)
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), historyWorkerEnv+"="+string(spec))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	n.stderr = &lockedBuffer{}
	cmd.Stderr = n.stderr
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	n.worker, n.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if err := r.h.AddLine(sc.Bytes()); err != nil {
				r.mu.Lock()
				r.errs = append(r.errs, err.Error())
				r.mu.Unlock()
			}
		}
		_ = cmd.Wait()
	}(n.done)
	t.Cleanup(func() { r.stopWorker(n, syscall.SIGKILL) })
}

// stopWorker ends a node's worker with sig (SIGTERM: after its current
// op) and waits for it, killing it if it does not end within 30 s.
func (r *histRun) stopWorker(n *histNode, sig syscall.Signal) {
	if n.worker == nil {
		return
	}
	_ = n.worker.Process.Signal(sig)
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		r.t.Errorf("node %d: the worker did not end within 30 s of %v; killing it. Its output:\n%s", n.i, sig, n.stderr)
		_ = n.worker.Process.Kill()
		<-n.done
	}
	n.worker = nil
}

// remount ends a node's client (hafs-fuse killed with -9, its worker with
// it) and starts a new incarnation. The old client is recorded as fenced
// at seen, or, when zero, once its process has exited: nothing it invoked
// after that may land.
func (r *histRun) remount(n *histNode, seen time.Time, why string) {
	n.mount.Kill(r.t)
	if seen.IsZero() {
		seen = time.Now()
	}
	r.h.Fenced(n.i, n.inc, seen, why)
	r.stopWorker(n, syscall.SIGKILL)
	n.mount = r.fs.MountOn(r.t, n.host.Command, fastSessions...)
	n.inc++
	r.startWorker(n)
}

// alive reports whether the node's client still has its session.
func (r *histRun) alive(n *histNode) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ss, err := r.meta.Sessions(ctx)
	if err != nil {
		return false, err
	}
	for _, s := range ss {
		if s.Mountpoint == n.mount.Dir {
			return true, nil
		}
	}
	return false, nil
}

// inject applies one fault of the schedule and heals it; it returns what
// it did, for the log. Every draw from rng happens whatever the outcome,
// so a seed repeats the schedule.
func (r *histRun) inject(kind string, rng *rand.Rand) string {
	t := r.t
	// Past the session expiry (2 s) and a heartbeat: long enough for the
	// others to fence a node that is cut off or paused.
	hold := time.Duration(3000+rng.IntN(1000)) * time.Millisecond
	i := rng.IntN(len(r.nodes))
	other := (i + 1 + rng.IntN(len(r.nodes)-1)) % len(r.nodes)
	oneway := []cluster.Direction{cluster.In, cluster.Out}[rng.IntN(2)]
	n, h := r.nodes[i], r.nodes[i].host
	partition := func(cut func()) {
		cut()
		time.Sleep(hold) // the fault's duration
		r.nw.Heal(h)
	}
	restartMember := func(m int) {
		r.c.Members[m].Kill()
		time.Sleep(hold) // the fault's duration
		if err := r.c.Restart(m); err != nil {
			t.Fatal(err)
		}
	}
	switch kind {
	case "none":
		time.Sleep(hold) // the quiet period
		return fmt.Sprintf("no fault for %s", hold)
	case "cut":
		partition(func() { r.nw.Cut(h) })
		return fmt.Sprintf("host %d's link down for %s", i, hold)
	case "drop-both":
		partition(func() { r.nw.Drop(h, cluster.Both) })
		return fmt.Sprintf("host %d drops all traffic with its peers (netfilter) for %s", i, hold)
	case "drop-oneway":
		partition(func() { r.nw.Drop(h, oneway) })
		return fmt.Sprintf("host %d drops its %s traffic with its peers (one way) for %s", i, oneway, hold)
	case "drop-peer":
		partition(func() { r.nw.Drop(h, cluster.Both, r.nw.Hosts[other]) })
		return fmt.Sprintf("host %d drops all traffic with host %d only for %s", i, other, hold)
	case "pause":
		pid := n.mount.Pid()
		must(t, syscall.Kill(pid, syscall.SIGSTOP))
		time.Sleep(hold) // the fault's duration
		must(t, syscall.Kill(pid, syscall.SIGCONT))
		return fmt.Sprintf("hafs-fuse on host %d paused (SIGSTOP) for %s", i, hold)
	case "kill-fuse":
		old := n.inc
		r.remount(n, time.Time{}, "killed")
		return fmt.Sprintf("hafs-fuse on host %d (mount #%d) killed with -9, remounted as #%d", i, old, n.inc)
	case "kill-leader":
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		lead, err := r.c.Leader(ctx)
		must(t, err)
		restartMember(lead)
		return fmt.Sprintf("etcd leader (member %d) killed for %s, restarted", lead, hold)
	case "kill-member":
		restartMember(i)
		return fmt.Sprintf("etcd member %d killed for %s, restarted", i, hold)
	}
	t.Fatalf("unknown fault %q", kind)
	return ""
}

// recover waits, after a fault healed, until every node has an
// acknowledged op again (at most 90 s: "never hangs"). A node whose
// session is gone was fenced: it is recorded so and remounted.
func (r *histRun) recover(label string) {
	t := r.t
	if err := r.c.WaitHealthy(60 * time.Second); err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	since := time.Now()
	deadline := since.Add(90 * time.Second)
	for {
		var waiting []string
		for _, n := range r.nodes {
			if r.h.Progress(n.i, n.inc, since) > 0 {
				continue
			}
			alive, err := r.alive(n)
			seen := time.Now() // the session was gone by now
			switch {
			case err != nil:
				waiting = append(waiting, fmt.Sprintf("node %d (listing sessions: %v)", n.i, err))
			case !alive:
				t.Logf("%s: node %d mount #%d was fenced (its session is gone); remounting", label, n.i, n.inc)
				r.faults["fenced, remounted"]++
				r.remount(n, seen, "session gone")
				waiting = append(waiting, fmt.Sprintf("node %d mount #%d (remounted)", n.i, n.inc))
			default:
				waiting = append(waiting, fmt.Sprintf("node %d mount #%d", n.i, n.inc))
			}
		}
		if len(waiting) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, n := range r.nodes {
				t.Logf("node %d worker's stderr:\n%s", n.i, n.stderr)
			}
			t.Fatalf("%s: no acknowledged op within 90 s after the fault healed on %s", label, strings.Join(waiting, ", "))
		}
		time.Sleep(200 * time.Millisecond) // polling the workers' progress
	}
}

// judge reads the counter and the log through every node, checks they
// agree, and runs the checker on the history.
func (r *histRun) judge(rounds int, elapsed time.Duration) {
	t := r.t
	var counter, log []byte
	for _, n := range r.nodes {
		c, err := os.ReadFile(filepath.Join(n.mount.Dir, "counter"))
		must(t, err)
		l, err := os.ReadFile(filepath.Join(n.mount.Dir, "log"))
		must(t, err)
		if counter == nil {
			counter, log = c, l
		} else if !bytes.Equal(c, counter) || !bytes.Equal(l, log) {
			t.Errorf("node %d reads another counter or log than node 0 (%d and %d log bytes)", n.i, len(l), len(log))
		}
	}
	var kinds []string
	for k, v := range r.faults {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(kinds)
	t.Logf("history: %d rounds in %s, seed %d; faults injected: %s", rounds, elapsed.Round(time.Second), r.seed, strings.Join(kinds, ", "))
	v := history.Check(r.h.Ops(), r.h.Fences(), counter, log)
	t.Logf("checker: %s", v)
	for _, p := range v.Problems {
		t.Errorf("checker: %s", p)
	}
	if !v.OK() {
		r.dump(counter, log)
	}
	for _, e := range r.errs {
		t.Errorf("worker output: %s", e)
	}
	if v.Increments.OK == 0 || v.Appends.OK == 0 {
		t.Errorf("no increment or no append was acknowledged: the run proved nothing")
	}
}

// dump writes the history, the fences and the log's records to a file
// for a failed run, so the problem can be traced op by op.
func (r *histRun) dump(counter, log []byte) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("hafs-history-%d.txt", r.seed))
	var b strings.Builder
	for _, op := range r.h.Ops() {
		node, inc := history.Client(op.ID)
		fmt.Fprintf(&b, "op %x node %d #%d %s invoke %s complete %s %s read %d %s\n", op.ID, node, inc, op.Kind,
			op.Invoke.Format("15:04:05.000000"), op.Complete.Format("15:04:05.000000"), op.Outcome, op.Read, op.Err)
	}
	for _, f := range r.h.Fences() {
		fmt.Fprintf(&b, "fence node %d #%d at %s: %s\n", f.Node, f.Inc, f.At.Format("15:04:05.000000"), f.Why)
	}
	if c, err := history.ParseRecord(counter); err == nil {
		fmt.Fprintf(&b, "counter %d by %x after %x\n", c.Value, c.Op, c.Prev)
	}
	for off := 0; off+history.RecordSize <= len(log); off += history.RecordSize {
		rec, err := history.ParseRecord(log[off : off+history.RecordSize])
		fmt.Fprintf(&b, "log %d: op %x after %x (%v)\n", off, rec.Op, rec.Prev, err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		r.t.Errorf("writing the history: %v", err)
		return
	}
	r.t.Logf("the history, fences and log are in %s", path)
}
