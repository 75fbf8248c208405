package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Checks that need an ordinary user (root bypasses permission checks) run
// their syscalls in a child: a copy of this test binary started with
// another uid and gid, no supplementary groups, and userOpsEnv holding the
// operations as JSON. TestMain sees the variable, runs them, and prints one
// errno per operation as JSON.

const userOpsEnv = "HAFS_E2E_USER_OPS"

// user is an identity without privileges.
type user struct{ uid, gid uint32 }

var (
	nobody  = user{65534, 65534}
	someone = user{65533, 65533} // a second user, owning files nobody may not touch
)

// step is one operation as the user and the errno it must give (0: success).
type step struct {
	op   []string
	want unix.Errno
}

// do builds an operation: a name from userOps and its arguments.
func do(name string, args ...any) []string {
	op := []string{name}
	for _, a := range args {
		op = append(op, fmt.Sprint(a))
	}
	return op
}

// run performs steps in order as u, in one child process, and checks each
// errno.
func (u user) run(t *testing.T, steps ...step) {
	t.Helper()
	ops := make([][]string, len(steps))
	for i, s := range steps {
		ops[i] = s.op
	}
	js, err := json.Marshal(ops)
	must(t, err)
	cmd := exec.Command(selfForOthers(t))
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), userOpsEnv+"="+string(js))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}},
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child as uid %d: %v\n%s", u.uid, err, stderr.String())
	}
	var got []unix.Errno
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil || len(got) != len(steps) {
		t.Fatalf("child as uid %d: bad answer %q (%v)\n%s", u.uid, stdout.String(), err, stderr.String())
	}
	for i, s := range steps {
		if got[i] != s.want {
			t.Errorf("as uid %d: %s: got %s, want %s", u.uid, strings.Join(s.op, " "), errnoName(got[i]), errnoName(s.want))
		}
	}
}

// runUserOps is the child's side: it runs the operations in js and prints
// their errnos. Its exit status is non-zero only if it could not run them.
func runUserOps(js string) int {
	var ops [][]string
	if err := json.Unmarshal([]byte(js), &ops); err != nil {
		fmt.Fprintln(os.Stderr, "user ops:", err)
		return 2
	}
	errnos := make([]unix.Errno, len(ops))
	for i, op := range ops {
		err := runUserOp(op)
		var errno unix.Errno
		if err != nil && !errors.As(err, &errno) {
			fmt.Fprintf(os.Stderr, "user op %q: %v\n", op, err)
			return 2
		}
		errnos[i] = errno
	}
	out, _ := json.Marshal(errnos)
	os.Stdout.Write(out)
	return 0
}

func runUserOp(op []string) error {
	if len(op) == 0 {
		return errors.New("empty operation")
	}
	f, ok := userOps[op[0]]
	if !ok {
		return fmt.Errorf("unknown operation %q", op[0])
	}
	a := op[1:]
	if len(a) != f.args {
		return fmt.Errorf("%s takes %d arguments", op[0], f.args)
	}
	return f.run(a)
}

// userOps are the operations a child can run, by name, with their number of
// arguments. Numbers are parsed with base prefixes (0o644, -1).
var userOps = map[string]struct {
	args int
	run  func(a []string) error
}{
	"open": {2, func(a []string) error { return openClose(a[0], num(a[1]), 0) }},
	"create": {2, func(a []string) error {
		return openClose(a[0], unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, uint32(num(a[1])))
	}},
	"stat":    {1, func(a []string) error { var st unix.Stat_t; return unix.Stat(a[0], &st) }},
	"readdir": {1, func(a []string) error { return readdirOnce(a[0]) }},
	"access":  {2, func(a []string) error { return unix.Access(a[0], uint32(num(a[1]))) }},
	"mkdir":   {1, func(a []string) error { return unix.Mkdir(a[0], 0o755) }},
	"unlink":  {1, func(a []string) error { return unix.Unlink(a[0]) }},
	"rmdir":   {1, func(a []string) error { return unix.Rmdir(a[0]) }},
	"rename":  {2, func(a []string) error { return unix.Rename(a[0], a[1]) }},
	"link":    {2, func(a []string) error { return unix.Link(a[0], a[1]) }},
	"chmod":   {2, func(a []string) error { return unix.Chmod(a[0], uint32(num(a[1]))) }},
	"chown":   {3, func(a []string) error { return unix.Chown(a[0], num(a[1]), num(a[2])) }},
	"write": {2, func(a []string) error {
		fd, err := unix.Open(a[0], unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		_, err = unix.Write(fd, []byte(a[1]))
		return err
	}},
	"truncate": {2, func(a []string) error { return unix.Truncate(a[0], int64(num(a[1]))) }},
	"utimes": {2, func(a []string) error { // both times to the given second
		ts := unix.NsecToTimespec(int64(num(a[1])) * 1e9)
		return unix.UtimesNanoAt(unix.AT_FDCWD, a[0], []unix.Timespec{ts, ts}, 0)
	}},
	"utimes-now": {1, func(a []string) error {
		now := unix.Timespec{Nsec: unix.UTIME_NOW}
		return unix.UtimesNanoAt(unix.AT_FDCWD, a[0], []unix.Timespec{now, now}, 0)
	}},
	"setxattr": {3, func(a []string) error { return unix.Setxattr(a[0], a[1], []byte(a[2]), 0) }},
}

// num parses a number the parent formatted; a malformed one is a bug in a
// check, so it panics.
func num(s string) int {
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		panic(err)
	}
	return int(n)
}

// readdirOnce opens a directory for reading and reads from it.
func readdirOnce(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Getdents(fd, make([]byte, 4096))
	return err
}
