package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Gateway is one running `hafs serve` process: a client of its FS.
type Gateway struct {
	URL     string // http://127.0.0.1:PORT (https with TLS)
	Session string // its client session id
	Metrics string // its metrics address
	cmd     *exec.Cmd
	output  *lockedBuffer
	exited  chan struct{}
	err     error
	killed  bool
}

var serveLine = regexp.MustCompile(`msg=serving url=(\S+) .* session=(\S+) metrics=(\S*)`)

// Serve starts `hafs serve --listen 127.0.0.1:0 extraArgs...` on fs and
// waits until it logs its address. Cleanup sends SIGTERM and requires a
// clean exit.
func (fs *FS) Serve(t testing.TB, extraArgs ...string) *Gateway {
	t.Helper()
	args := append([]string{"serve"}, fs.storeArgs()...)
	if !slices.Contains(extraArgs, "--listen") {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	g := &Gateway{output: &lockedBuffer{}, exited: make(chan struct{})}
	g.cmd = exec.Command(Binary(t, "hafs"), append(args, extraArgs...)...)
	g.cmd.Env = append(os.Environ(), fs.Env...)
	g.cmd.Stdout, g.cmd.Stderr = g.output, g.output
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("starting hafs serve: %v", err)
	}
	go func() {
		g.err = g.cmd.Wait()
		close(g.exited)
	}()
	t.Cleanup(func() { g.stop(t) })
	eventually(t, mountTimeout, func() error {
		select {
		case <-g.exited:
			t.Fatalf("hafs serve exited (%v):\n%s", g.err, g.output)
		default:
		}
		m := serveLine.FindStringSubmatch(g.output.String())
		if m == nil {
			return errors.New("hafs serve has not logged its address")
		}
		g.URL, g.Session, g.Metrics = strings.TrimSuffix(m[1], "/"), m[2], m[3]
		return nil
	})
	return g
}

// Kill ends the gateway with SIGKILL, as a crash would.
func (g *Gateway) Kill(t testing.TB) {
	t.Helper()
	must(t, g.cmd.Process.Signal(syscall.SIGKILL))
	<-g.exited
	g.killed = true
}

func (g *Gateway) stop(t testing.TB) {
	if g.killed {
		return
	}
	select {
	case <-g.exited:
		t.Errorf("hafs serve exited before the test ended (%v):\n%s", g.err, g.output)
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
		if g.err != nil {
			t.Errorf("hafs serve after SIGTERM: %v, want exit status 0:\n%s", g.err, g.output)
		}
	case <-time.After(exitTimeout):
		t.Errorf("hafs serve still running %v after SIGTERM; killing it", exitTimeout)
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
	if t.Failed() {
		t.Logf("hafs serve output:\n%s", g.output)
	}
}

// do sends one request to the gateway and returns status and body.
func (g *Gateway) do(t testing.TB, method, path string, body io.Reader, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, g.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (scripts/setup.sh --test installs it)", name)
	}
	return p
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGatewayLitmus runs the WebDAV compliance suite's basic, copymove,
// props and locks groups against the gateway: every test must pass.
func TestGatewayLitmus(t *testing.T) {
	litmus := needTool(t, "litmus")
	g := NewFS(t, FSOptions{}).Serve(t)
	cmd := exec.Command(litmus, g.URL+"/")
	cmd.Dir = t.TempDir() // litmus writes debug.log here
	cmd.Env = append(os.Environ(), "TESTS=basic copymove props locks")
	out, err := cmd.CombinedOutput()
	var summaries []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "summary for") || strings.Contains(line, "WARNING") {
			summaries = append(summaries, strings.TrimSpace(line))
		}
	}
	t.Logf("litmus:\n%s", strings.Join(summaries, "\n"))
	if err != nil || strings.Contains(string(out), "FAIL") || len(summaries) < 4 {
		t.Fatalf("litmus: %v\n%s", err, out)
	}
	for _, group := range []string{"basic", "copymove", "props", "locks"} {
		if !regexp.MustCompile("summary for `" + group + "': of [0-9]+ tests run: [0-9]+ passed, 0 failed").Match(out) {
			t.Errorf("litmus group %s did not pass whole:\n%s", group, out)
		}
	}
}

// TestGatewayRclone syncs a tree of 1,000 files up through the gateway
// with rclone's webdav remote and back down into another directory, and
// compares every byte; a FUSE mount of the same filesystem sees the files.
func TestGatewayRclone(t *testing.T) {
	rclone := needTool(t, "rclone")
	fs := NewFS(t, FSOptions{})
	g := fs.Serve(t)
	src, back := t.TempDir(), t.TempDir()
	for i := range 1000 {
		dir := filepath.Join(src, fmt.Sprintf("d%02d", i%20))
		must(t, os.MkdirAll(dir, 0o755))
		size := (i * 7919) % 20000
		if i%100 == 0 {
			size = 300 << 10 // a few past the inline size
		}
		must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.dat", i)), randomBytes(t, size), 0o644))
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(rclone, append(args, "--transfers", "8", "--checkers", "8", "--retries", "1")...)
		cmd.Env = append(os.Environ(), "RCLONE_CONFIG_GW_TYPE=webdav", "RCLONE_CONFIG_GW_URL="+g.URL+"/",
			"RCLONE_CONFIG_GW_VENDOR=other", "RCLONE_CONFIG=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rclone %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("sync", src, "gw:tree")
	run("sync", "gw:tree", back)
	compareTrees(t, src, back)
	m := fs.Mount(t)
	compareTrees(t, src, filepath.Join(m.Dir, "tree"))
}

// compareTrees requires b to hold exactly a's files with a's bytes.
func compareTrees(t *testing.T, a, b string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s: %d bytes differ from the %d sent", rel, len(got), len(want))
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m := 0
	must(t, filepath.WalkDir(b, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			m++
		}
		return err
	}))
	if m != n {
		t.Fatalf("%s holds %d files, want %d", b, m, n)
	}
}

// TestGatewayS3Range puts a file large enough for the object store
// through the gateway and reads ranges of it back with curl.
func TestGatewayS3Range(t *testing.T) {
	curl := needTool(t, "curl")
	fs, _, obj := s3FS(t)
	g := fs.Serve(t)
	data := randomBytes(t, 9<<20+12345)
	file := filepath.Join(t.TempDir(), "big.bin")
	must(t, os.WriteFile(file, data, 0o644))
	out, err := exec.Command(curl, "-sS", "-f", "-T", file, g.URL+"/big.bin").CombinedOutput()
	if err != nil {
		t.Fatalf("curl PUT: %v %s", err, out)
	}
	if n := len(sliceObjects(t, obj)); n == 0 {
		t.Fatal("no slice objects in the bucket after a 9 MiB PUT")
	}
	for _, r := range [][2]int{{0, 0}, {100, 4 << 20}, {4<<20 - 5, 4<<20 + 5}, {len(data) - 1000, len(data) - 1}} {
		got, err := exec.Command(curl, "-sS", "-f", "-r", fmt.Sprintf("%d-%d", r[0], r[1]), g.URL+"/big.bin").Output()
		if err != nil {
			t.Fatalf("curl -r %d-%d: %v", r[0], r[1], err)
		}
		if !bytes.Equal(got, data[r[0]:r[1]+1]) {
			t.Errorf("curl -r %d-%d: %d bytes, not the file's", r[0], r[1], len(got))
		}
	}
	// Two ranges at once come back as multipart/byteranges.
	hdr, err := exec.Command(curl, "-sS", "-f", "-o", "/dev/null", "-D", "-", "-r", "0-9,100-109", g.URL+"/big.bin").Output()
	if err != nil || !strings.Contains(string(hdr), "206") || !strings.Contains(string(hdr), "multipart/byteranges") {
		t.Errorf("curl with two ranges: %v\n%s", err, hdr)
	}
	whole, err := exec.Command(curl, "-sS", "-f", g.URL+"/big.bin").Output()
	if err != nil || !bytes.Equal(whole, data) {
		t.Fatalf("curl GET of the whole file: %v, %d bytes", err, len(whole))
	}
}

// TestGatewayBrowser loads the listing page in headless Chromium: its DOM
// names the files, and its screenshot is a rendered page, not a blank one.
func TestGatewayBrowser(t *testing.T) {
	chromium := needTool(t, "chromium")
	g := NewFS(t, FSOptions{}).Serve(t)
	names := []string{"report-2026.pdf", "notes.txt", "photo one.jpg"}
	for i, n := range names {
		if st, _, _ := g.do(t, "PUT", "/"+strings.ReplaceAll(n, " ", "%20"), bytes.NewReader(randomBytes(t, 1000*(i+1)))); st != http.StatusCreated {
			t.Fatalf("PUT %s: %d", n, st)
		}
	}
	if st, _, _ := g.do(t, "MKCOL", "/albums/", nil); st != http.StatusCreated {
		t.Fatalf("MKCOL: %d", st)
	}
	dir := t.TempDir()
	browser := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, append([]string{"--headless", "--no-sandbox", "--disable-gpu",
			"--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=" + filepath.Join(dir, "profile")}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	dom := string(browser("--dump-dom", g.URL+"/?sort=size&order=desc"))
	for _, n := range append(names, "albums/") {
		if !strings.Contains(dom, ">"+n+"<") {
			t.Errorf("the page Chromium rendered does not list %q:\n%s", n, dom)
		}
	}
	if i, j := strings.Index(dom, "photo one.jpg"), strings.Index(dom, "report-2026.pdf"); i > j {
		t.Errorf("sorted by size, largest first, yet photo one.jpg (3000 bytes) comes after report-2026.pdf (1000)")
	}
	shot := filepath.Join(dir, "listing.png")
	browser("--screenshot="+shot, "--window-size=1024,600", g.URL+"/")
	checkScreenshot(t, shot)
}

// TestGatewayDavfs2 mounts the gateway with davfs2 as the README shows:
// a file written there shows on a FUSE mount of the filesystem, and one
// written on the FUSE mount lists and reads there.
func TestGatewayDavfs2(t *testing.T) {
	needTool(t, "mount.davfs")
	fs := NewFS(t, FSOptions{})
	m := fs.Mount(t)
	g := fs.Serve(t)
	must(t, os.WriteFile(filepath.Join(m.Dir, "from-fuse.txt"), []byte("fuse"), 0o644))
	dir := t.TempDir()
	conf, mnt := filepath.Join(dir, "davfs2.conf"), filepath.Join(dir, "mnt")
	must(t, os.WriteFile(conf, []byte("ask_auth 0\nuse_locks 1\nbuf_size 64\n"), 0o644))
	must(t, os.Mkdir(mnt, 0o755))
	if out, err := exec.Command("mount", "-t", "davfs", "-o", "conf="+conf, g.URL+"/", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount -t davfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	if b, err := os.ReadFile(filepath.Join(mnt, "from-fuse.txt")); err != nil || string(b) != "fuse" {
		t.Fatalf("davfs2 reads from-fuse.txt as %q (%v)", b, err)
	}
	if names := rootNames(t, mnt); !slices.Contains(names, "from-fuse.txt") {
		t.Errorf("davfs2 lists %v, without from-fuse.txt", names)
	}
	must(t, os.WriteFile(filepath.Join(mnt, "from-dav.txt"), []byte("dav"), 0o644))
	// davfs2 uploads on close, from its cache, in the background.
	eventually(t, 20*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(m.Dir, "from-dav.txt"))
		if err != nil || string(b) != "dav" {
			return fmt.Errorf("the FUSE mount reads from-dav.txt as %q (%v)", b, err)
		}
		return nil
	})
}
