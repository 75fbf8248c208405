package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hafs/hafs/test/minio"
	"github.com/hafs/hafs/test/versitygw"
)

// The command line as issue 15 asks: help that reads like a man page,
// versions that say what was built, input checked, errors that say what
// to do.

// TestCLIManPage: every binary's --help, and that of each hafs command,
// has an EXAMPLES section; flags that take a value show what it is
// (DURATION, URL, ...), never "value"; a binary without subcommands lists
// no help command; --version names the commit and build date.
func TestCLIManPage(t *testing.T) {
	Binary(t, MkfsBinary) // built before the timed commands
	helps := map[string][]string{}
	for _, b := range []string{MkfsBinary, FuseBinary, listClientsBinary, evictBinary, "hafs"} {
		helps[b] = []string{"--help"}
	}
	for _, c := range []string{"status", "fsck", "gc", "site", "site add", "site list", "site remove",
		"policy", "policy add", "policy list", "policy remove", "policy explain"} {
		helps["hafs "+c] = append(strings.Fields(c), "--help")
	}
	for what, args := range helps {
		bin := strings.Fields(what)[0]
		r := runBinary(t, bin, args...)
		if r.code != 0 {
			t.Errorf("%s --help: exit %d, %s", what, r.code, r.stderr)
			continue
		}
		if !strings.Contains(r.stdout, "\nEXAMPLES:\n   ") {
			t.Errorf("%s --help has no EXAMPLES section:\n%s", what, r.stdout)
		}
		if regexp.MustCompile(`--[a-z-]+ value\b`).MatchString(r.stdout) {
			t.Errorf("%s --help shows a flag's placeholder as \"value\":\n%s", what, r.stdout)
		}
		if bin != "hafs" && strings.Contains(r.stdout, "COMMANDS:") {
			t.Errorf("%s --help lists commands, but it has none:\n%s", what, r.stdout)
		}
	}
	r := runBinary(t, FuseBinary, "--help")
	for _, want := range []string{"--attr-timeout DURATION", "--session-expiry DURATION", "--store URL", "--log-file FILE"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("%s --help lacks %q", FuseBinary, want)
		}
	}
	r = runBinary(t, "hafs", "gc", "--help")
	if !strings.Contains(r.stdout, "--grace DURATION") {
		t.Errorf("hafs gc --help lacks --grace DURATION:\n%s", r.stdout)
	}
	r = runBinary(t, FuseBinary, "--version")
	if !regexp.MustCompile(`^hafs-fuse version \S+ \(commit \S+, built \S+\)\n$`).MatchString(r.stdout) {
		t.Errorf("%s --version: %q, want the version, commit and build date", FuseBinary, r.stdout)
	}
}

// TestCLIHelpIsAMountPoint: `hafs-fuse help` mounts the directory called
// help, as `hafs-fuse DIR` mounts DIR.
func TestCLIHelpIsAMountPoint(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	parent, err := filepath.EvalSymlinks(PublicTempDir(t))
	must(t, err)
	dir := filepath.Join(parent, "help")
	must(t, os.Mkdir(dir, 0o755))
	m := &Mount{Dir: dir, FS: fs, output: &lockedBuffer{}, exited: make(chan struct{})}
	m.cmd = commandIn(parent, Binary(t, FuseBinary), append(fs.storeArgs(), "help")...)
	m.cmd.Stdout, m.cmd.Stderr = m.output, m.output
	must(t, m.cmd.Start())
	go func() {
		m.err = m.cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(func() { m.stop(t) })
	waitServing(t, m)
	if mounted, err := isFUSEMount(dir); err != nil || !mounted {
		t.Fatalf("hafs-fuse help: %s not mounted (%v); output:\n%s", dir, err, m.Output())
	}
	m.Unmount(t)
}

// TestCLIValidation: sizes, timeouts and an empty --store are refused
// with a line that names the flag; a missing filesystem's error lists the
// ones the store has.
func TestCLIValidation(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	must(t, runBinary(t, MkfsBinary, "--store", fs.Store, "--name", "projects").err())
	t.Cleanup(func() { (&FS{Store: fs.Store, Name: "projects"}).Check(t) })
	dir := PublicTempDir(t)
	before := storeDump(t, fs.Store)
	for _, c := range []struct {
		bin  string
		args []string
		want string
	}{
		{FuseBinary, []string{"--store", fs.Store, dir, "--mem-cache-size", "-5"}, "--mem-cache-size -5"},
		{FuseBinary, []string{"--store", fs.Store, dir, "--buffer-size", "-1"}, "--buffer-size -1"},
		{FuseBinary, []string{"--store", fs.Store, dir, "-o", "cache_size=-1"}, "--cache-size -1"},
		{FuseBinary, []string{"--store", fs.Store, dir, "--attr-timeout", "-1s"}, "--attr-timeout -1s"},
		{FuseBinary, []string{"--store", "", dir}, "--store is empty"},
		{FuseBinary, []string{dir, "-o", "store="}, "--store is empty"},
		{MkfsBinary, []string{"--store", ""}, "--store is empty"},
		{listClientsBinary, []string{"--store", " "}, "--store is empty"},
		{FuseBinary, []string{"--store", fs.Store, "--name", "nosuch", dir}, "the store holds: default, projects"},
		{"hafs", []string{"status", "--store", fs.Store, "--name", "nosuch"}, "the store holds: default, projects"},
	} {
		r := runBinary(t, c.bin, c.args...)
		wantOneLineError(t, c.bin, r, c.want)
	}
	if storeDump(t, fs.Store) != before {
		t.Errorf("refused commands changed the store")
	}
	if mounted, err := isFUSEMount(dir); err != nil || mounted {
		t.Errorf("%s mounted (%v) after refusals", dir, err)
	}
}

// TestCLIStatusAndClients: hafs status says healthy true and exits 0 on a
// filesystem without a bucket; hafs-list-clients shows each mount's
// metrics address, which answers /healthz.
func TestCLIStatusAndClients(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{})
	r := runBinary(t, "hafs", append([]string{"status"}, fs.storeArgs()...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "healthy true") {
		t.Errorf("hafs status without a bucket: exit %d, stdout %q, stderr %q; want 0 and healthy true", r.code, r.stdout, r.stderr)
	}
	r = runBinary(t, "hafs", append([]string{"status", "--json"}, fs.storeArgs()...)...)
	var st struct{ Healthy bool }
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || !st.Healthy || r.code != 0 {
		t.Errorf("hafs status --json: exit %d, %q (%v); want healthy true", r.code, r.stdout, err)
	}

	fs.Mount(t)
	r = runBinary(t, listClientsBinary, append(fs.storeArgs(), "--json")...)
	var rows []struct{ Metrics string }
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].Metrics == "" {
		t.Fatalf("%s --json: %q (%v); want one client with its metrics address", listClientsBinary, r.stdout, err)
	}
	resp, err := http.Get("http://" + rows[0].Metrics + "/healthz")
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("GET %s/healthz: %d %q, want 200 ok", rows[0].Metrics, resp.StatusCode, body)
	}
	r = runBinary(t, listClientsBinary, fs.storeArgs()...)
	if !strings.Contains(r.stdout, "METRICS") || !strings.Contains(r.stdout, rows[0].Metrics) {
		t.Errorf("%s: %q lacks the METRICS column with %s", listClientsBinary, r.stdout, rows[0].Metrics)
	}
}

// TestCLIS3CredentialErrors: no credentials, or ones the site refuses,
// give one line that says what to set, not the SDK's paragraph; hafs
// status then says healthy false with that reason.
func TestCLIS3CredentialErrors(t *testing.T) {
	requireRoot(t)
	srv := versitygw.Start(t)
	bucket := srv.Endpoint + "/hafs-creds"
	store := "sqlite://" + filepath.Join(t.TempDir(), "meta.db")
	home := t.TempDir() // no ~/.aws here
	noCreds := []string{"HOME=" + home, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=",
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"), "AWS_CONFIG_FILE=" + filepath.Join(home, "none")}
	wrong := []string{"AWS_ACCESS_KEY_ID=" + minio.AccessKey, "AWS_SECRET_ACCESS_KEY=not-the-secret"}
	good := []string{"AWS_ACCESS_KEY_ID=" + minio.AccessKey, "AWS_SECRET_ACCESS_KEY=" + minio.SecretKey}

	r := runBinaryEnv(t, noCreds, MkfsBinary, "--store", store, "--bucket", bucket)
	wantOneLineError(t, MkfsBinary, r, "no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	if strings.Contains(r.stderr, "IMDS") || len(r.stderr) > 300 {
		t.Errorf("the error still carries the SDK's text: %q", r.stderr)
	}
	r = runBinaryEnv(t, wrong, MkfsBinary, "--store", store, "--bucket", bucket)
	wantOneLineError(t, MkfsBinary, r, "the site refused the credentials")

	r = runBinaryEnv(t, good, MkfsBinary, "--store", store, "--bucket", bucket)
	if r.code != 0 {
		t.Fatalf("%s with good credentials: exit %d, %s", MkfsBinary, r.code, r.stderr)
	}
	t.Cleanup(func() { (&FS{Store: store}).Check(t) })
	r = runBinaryEnv(t, wrong, "hafs", "status", "--store", store)
	if r.code == 0 || !strings.Contains(r.stdout, "healthy false (primary site primary is unhealthy: ") ||
		!strings.Contains(r.stdout, "refused the credentials") {
		t.Errorf("hafs status with refused credentials: exit %d, stdout %q; want exit 1 and healthy false with the reason", r.code, r.stdout)
	}
	r = runBinaryEnv(t, good, "hafs", "status", "--store", store)
	if r.code != 0 || !strings.Contains(r.stdout, "healthy true") {
		t.Errorf("hafs status with good credentials: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// err is the result as an error: nil for exit status 0.
func (r result) err() error {
	if r.code == 0 {
		return nil
	}
	return fmt.Errorf("exit %d: %s", r.code, r.stderr)
}

// runBinaryEnv is runBinary with env added to the environment.
func runBinaryEnv(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	bin := Binary(t, name) // built, if need be, before the clock starts
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: still running after %v", name, strings.Join(args, " "), cmdTimeout)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// commandIn is exec.Command run in directory dir.
func commandIn(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	return cmd
}

// TestCLIBench runs hafs bench on a mount, tiny: a table of the five
// figures with their ratio to a local directory, and nothing left behind.
func TestCLIBench(t *testing.T) {
	requireRoot(t)
	m := NewFS(t, FSOptions{}).Mount(t)
	local := t.TempDir()
	r := runBinary(t, "hafs", "bench", "--big-size", "1", "--small-files", "10", "--small-size", "4", "--local", local, m.Dir)
	if r.code != 0 {
		t.Fatalf("hafs bench: exit %d, %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "ITEM") || !strings.HasSuffix(lines[0], "RATIO") {
		t.Fatalf("hafs bench table:\n%s\nwant a header and five rows", r.stdout)
	}
	row := regexp.MustCompile(`^(big file write|big file read|small file write|small file read|stat) +[0-9.]+ (MiB|files)/s +[0-9.]+ (MiB|files)/s +[0-9]+\.[0-9]{2}$`)
	for _, l := range lines[1:] {
		if !row.MatchString(l) {
			t.Errorf("hafs bench row %q is not ITEM RATE RATE RATIO", l)
		}
	}
	if got := rootNames(t, m.Dir); len(got) != 0 {
		t.Errorf("hafs bench left %q in the mount", got)
	}
	if ents, err := os.ReadDir(local); err != nil || len(ents) != 0 {
		t.Errorf("hafs bench left %v in the local directory (%v)", ents, err)
	}
}
