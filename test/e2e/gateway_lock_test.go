package e2e

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"
)

// checkScreenshot requires the PNG at path to show a page of text: dark
// pixels on at least five separate bands of rows (title, column heads and
// the entries), not a blank or an error-free empty page.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	bands, inBand := 0, false
	for y := b.Min.Y; y < b.Max.Y; y++ {
		dark := false
		for x := b.Min.X; x < b.Max.X && !dark; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			dark = r < 0x6000 && g < 0x6000 && bl < 0x6000
		}
		if dark && !inBand {
			bands++
		}
		inBand = dark
	}
	if bands < 5 {
		t.Errorf("screenshot %dx%d shows %d lines of text, want the title, the heads and the entries", b.Dx(), b.Dy(), bands)
	}
}

const lockBody = `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>e2e</D:owner></D:lockinfo>`

// TestGatewayLockVsFlock: a WebDAV lock taken through the gateway blocks a
// flock on a FUSE mount of the same filesystem, and a flock blocks LOCK.
func TestGatewayLockVsFlock(t *testing.T) {
	fs := NewFS(t, FSOptions{})
	m := fs.Mount(t)
	g := fs.Serve(t)
	path := filepath.Join(m.Dir, "shared.db")
	must(t, os.WriteFile(path, []byte("data"), 0o644))
	fd, err := unix.Open(path, unix.O_RDWR, 0)
	must(t, err)
	defer unix.Close(fd)

	st, _, hdr := g.do(t, "LOCK", "/shared.db", strings.NewReader(lockBody), "Timeout", "Second-600")
	token := hdr.Get("Lock-Token")
	if st != http.StatusOK || token == "" {
		t.Fatalf("LOCK: %d, Lock-Token %q", st, token)
	}
	wantLockErr(t, "flock LOCK_EX under a WebDAV lock", unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB), unix.EWOULDBLOCK)
	wantLockErr(t, "flock LOCK_SH under a WebDAV lock", unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB), unix.EWOULDBLOCK)
	// A writer without the token is refused; with it, it goes through.
	if st, _, _ := g.do(t, "PUT", "/shared.db", strings.NewReader("x")); st != http.StatusLocked {
		t.Errorf("PUT without the lock token: %d, want 423", st)
	}
	if st, _, _ := g.do(t, "PUT", "/shared.db", strings.NewReader("new"), "If", "("+token+")"); st != http.StatusCreated {
		t.Errorf("PUT with the lock token: %d, want 201", st)
	}
	if st, _, _ := g.do(t, "UNLOCK", "/shared.db", nil, "Lock-Token", token); st != http.StatusNoContent {
		t.Fatalf("UNLOCK: %d", st)
	}
	// The PUT replaced the file: lock the new one from the mount.
	must(t, unix.Close(fd))
	fd, err = unix.Open(path, unix.O_RDWR, 0)
	must(t, err)
	must(t, unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB))
	if st, _, _ := g.do(t, "LOCK", "/shared.db", strings.NewReader(lockBody)); st != http.StatusLocked {
		t.Fatalf("LOCK under a FUSE client's flock: %d, want 423", st)
	}
	must(t, unix.Flock(fd, unix.LOCK_UN))
	st, _, hdr = g.do(t, "LOCK", "/shared.db", strings.NewReader(lockBody), "Timeout", "Second-1")
	if st != http.StatusOK {
		t.Fatalf("LOCK after the flock's release: %d", st)
	}
	// A WebDAV lock that times out frees the file for FUSE clients.
	wantLockErr(t, "flock under the short WebDAV lock", unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB), unix.EWOULDBLOCK)
	eventually(t, 10*time.Second, func() error { return unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) })
}

// TestGatewayEvicted: evicting the gateway's session (it is listed like a
// mount) fences it: its writes fail and never show on a mount.
func TestGatewayEvicted(t *testing.T) {
	fs := NewFS(t, FSOptions{})
	m := fs.Mount(t)
	g := fs.Serve(t)
	if st, _, _ := g.do(t, "PUT", "/before", strings.NewReader("ok")); st != http.StatusCreated {
		t.Fatalf("PUT: %d", st)
	}
	if st := httpStatus(t, "http://"+g.Metrics+"/healthz"); st != http.StatusOK {
		t.Fatalf("gateway /healthz before eviction: %d", st)
	}
	r := runBinary(t, listClientsBinary, fs.storeArgs()...)
	if !strings.Contains(r.stdout, g.Session) || !strings.Contains(r.stdout, "serve http://") {
		t.Fatalf("%s does not list the gateway %s:\n%s", listClientsBinary, g.Session, r.stdout)
	}
	if r := runBinary(t, evictBinary, append([]string{g.Session}, fs.storeArgs()...)...); r.code != 0 {
		t.Fatalf("%s: exit %d, %s", evictBinary, r.code, r.stderr)
	}
	for i := range 3 {
		st, _, _ := g.do(t, "PUT", fmt.Sprintf("/after%d", i), strings.NewReader("lost"))
		if st < 400 {
			t.Errorf("PUT %d after eviction: %d, want a failure", i, st)
		}
	}
	if st, _, _ := g.do(t, "MKCOL", "/newdir/", nil); st < 400 {
		t.Errorf("MKCOL after eviction: %d, want a failure", st)
	}
	names := rootNames(t, m.Dir)
	if strings.Join(names, ",") != "before" {
		t.Fatalf("the mount sees %v, want only the PUT from before the eviction", names)
	}
	if st := httpStatus(t, "http://"+g.Metrics+"/healthz"); st != http.StatusServiceUnavailable {
		t.Errorf("gateway /healthz after eviction: %d, want 503", st)
	}
	resp, err := http.Get("http://" + g.Metrics + "/metrics")
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `hafs_gateway_requests_total{code="201",method="PUT"} 1`) {
		t.Errorf("gateway metrics lack the PUT:\n%s", body)
	}
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestGatewayTLS serves HTTPS with bearer tokens, on a loopback address and
// on every address (which requires both).
func TestGatewayTLS(t *testing.T) {
	fs := NewFS(t, FSOptions{})
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	selfSigned(t, cert, key)
	tokens := filepath.Join(dir, "tokens")
	must(t, os.WriteFile(tokens, []byte("# gateway tokens\nsecret-token-1\n"), 0o600))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, listen := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		g := fs.Serve(t, "--listen", listen, "--tls-cert", cert, "--tls-key", key, "--token-file", tokens)
		url := strings.Replace(g.URL, "0.0.0.0", "127.0.0.1", 1)
		if !strings.HasPrefix(url, "https://") {
			t.Fatalf("serving %s with TLS at %s", listen, url)
		}
		for _, c := range []struct {
			token string
			want  int
		}{{"secret-token-1", http.StatusCreated}, {"wrong", http.StatusUnauthorized}, {"", http.StatusUnauthorized}} {
			req, _ := http.NewRequest("PUT", url+"/f", strings.NewReader("x"))
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := client.Do(req)
			must(t, err)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("%s: PUT with token %q: %d, want %d", listen, c.token, resp.StatusCode, c.want)
			}
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hafs-e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600))
}

// TestGatewayBadInput: paths with "..", overlong names, a PUT cut off
// mid-body, wrong credentials, and flags that cannot work.
// (A PUT larger than the filesystem's quota is not tested: quotas do not
// exist yet.)
func TestGatewayBadInput(t *testing.T) {
	fs := NewFS(t, FSOptions{})
	m := fs.Mount(t)
	g := fs.Serve(t)
	addr := strings.TrimPrefix(g.URL, "http://")
	for _, p := range []string{"/../../etc/passwd", "/a/%2e%2e/%2e%2e/etc/passwd"} {
		if line := rawRequest(t, addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.Contains(line, " 400 ") {
			t.Errorf("GET %s: %q, want 400", p, line)
		}
	}
	if st, _, _ := g.do(t, "PUT", "/"+longName(256), strings.NewReader("x")); st != http.StatusRequestURITooLong {
		t.Errorf("PUT of a 256-byte name: %d, want 414", st)
	}
	if st, _, _ := g.do(t, "PUT", "/"+longName(255), strings.NewReader("x")); st != http.StatusCreated {
		t.Errorf("PUT of a 255-byte name: %d, want 201", st)
	}
	// Cut off mid-body: nothing of it shows on the mount, ever.
	rawRequest(t, addr, fmt.Sprintf("PUT /cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 4<<20, strings.Repeat("z", 300<<10)))
	eventually(t, 10*time.Second, func() error {
		if out := g.output.String(); !strings.Contains(out, "path=/cut.bin") {
			return fmt.Errorf("the gateway has not logged the cut-off PUT yet")
		}
		return nil
	})
	ents, err := os.ReadDir(m.Dir)
	must(t, err)
	for _, e := range ents {
		if e.Name() != longName(255) {
			t.Errorf("after a cut-off PUT the mount shows %q", e.Name())
		}
	}
	// Wrong credentials: 401 and nothing else.
	users := filepath.Join(t.TempDir(), "users")
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	must(t, err)
	must(t, os.WriteFile(users, []byte("alice:"+string(hash)+"\n"), 0o600))
	ga := fs.Serve(t, "--auth-file", users)
	st, body, hdr := ga.do(t, "GET", "/", nil, "Authorization", "Basic YWxpY2U6d3Jvbmc=")
	if st != http.StatusUnauthorized || string(body) != "401 Unauthorized\n" || hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("wrong password: %d %q, want 401 with a challenge and nothing else", st, body)
	}
	if st, _, _ := ga.do(t, "GET", "/", nil, "Authorization", "Basic YWxpY2U6cmlnaHQ="); st != http.StatusOK {
		t.Errorf("right password: %d, want 200", st)
	}
	// Flags: one-line errors before anything starts.
	serve := func(args ...string) result {
		return runBinary(t, "hafs", append(append([]string{"serve"}, fs.storeArgs()...), args...)...)
	}
	wantOneLineError(t, "hafs", serve("--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"),
		"no such file")
	wantOneLineError(t, "hafs", serve("--listen", "0.0.0.0:0"), "not a loopback address")
	wantOneLineError(t, "hafs", serve("--listen", "127.0.0.1:0", "--auth-file", "/nonexistent/users"), "no such file")
	wantOneLineError(t, "hafs", serve("--listen", "127.0.0.1:0", "--root", "/nope"), "--root")
}

// rawRequest sends text on a new connection, closes its sending side and
// returns the first line of the answer (empty if none).
func rawRequest(t *testing.T, addr, text string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	must(t, err)
	defer c.Close()
	if _, err := c.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line
}

// TestGatewayKilledMidPut: kill -9 of the gateway in the middle of a PUT
// leaves a consistent filesystem (fsck runs when the test ends) with the
// old file intact; the hidden leftover goes with the next listing once the
// dead gateway's session is gone.
func TestGatewayKilledMidPut(t *testing.T) {
	fs := NewFS(t, FSOptions{})
	m := fs.Mount(t)
	must(t, os.WriteFile(filepath.Join(m.Dir, "f"), []byte("old"), 0o644))
	g := fs.Serve(t)
	c, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	must(t, err)
	defer c.Close()
	fmt.Fprintf(c, "PUT /f HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 64<<20)
	_, err = c.Write(make([]byte, 2<<20))
	must(t, err)
	hidden := func() []string {
		var out []string
		for _, n := range rootNames(t, m.Dir) {
			if strings.HasPrefix(n, ".hafs-put-") {
				out = append(out, n)
			}
		}
		return out
	}
	eventually(t, 10*time.Second, func() error {
		if len(hidden()) == 0 {
			return errors.New("the PUT's hidden file has not appeared")
		}
		return nil
	})
	g.Kill(t)
	if b, err := os.ReadFile(filepath.Join(m.Dir, "f")); err != nil || string(b) != "old" {
		t.Fatalf("after kill -9 mid-PUT the file reads %q (%v), want the old content", b, err)
	}
	if r := runBinary(t, evictBinary, append([]string{g.Session}, fs.storeArgs()...)...); r.code != 0 {
		t.Fatalf("%s: exit %d, %s", evictBinary, r.code, r.stderr)
	}
	g2 := fs.Serve(t)
	if st, _, _ := g2.do(t, "PROPFIND", "/", nil, "Depth", "1"); st != http.StatusMultiStatus {
		t.Fatalf("PROPFIND: %d", st)
	}
	if left := hidden(); len(left) != 0 {
		t.Errorf("hidden PUT files left after a listing: %v", left)
	}
}

// TestGatewayPutPastCapacity: a PUT larger than the room the filesystem's
// capacity leaves is answered 507 Insufficient Storage, leaves the old
// file whole and nothing half-written visible (HAFS has no per-directory
// quotas yet: the capacity is the quota a PUT meets), and the room is
// there again for a PUT that fits.
func TestGatewayPutPastCapacity(t *testing.T) {
	requireRoot(t)
	fs := NewFS(t, FSOptions{MkfsArgs: []string{"--capacity", "8M"}})
	g := fs.Serve(t)
	old := []byte("the old content")
	if code, body, _ := g.do(t, "PUT", "/f", bytes.NewReader(old)); code != http.StatusCreated {
		t.Fatalf("PUT /f: %d %s", code, body)
	}
	big := randomBytes(t, 16<<20)
	if code, body, _ := g.do(t, "PUT", "/f", bytes.NewReader(big)); code != http.StatusInsufficientStorage {
		t.Fatalf("PUT of 16 MiB past an 8 MiB capacity: %d %s, want 507", code, body)
	}
	if code, body, _ := g.do(t, "GET", "/f", nil); code != http.StatusOK || !bytes.Equal(body, old) {
		t.Errorf("GET /f after the refused PUT: %d, %d bytes; want 200 and the old %d bytes", code, len(body), len(old))
	}
	m := fs.Mount(t)
	ents, err := os.ReadDir(m.Dir)
	must(t, err)
	for _, e := range ents {
		if e.Name() != "f" {
			t.Errorf("left in the root after the refused PUT: %q", e.Name())
		}
	}
	small := randomBytes(t, 1<<20)
	if code, body, _ := g.do(t, "PUT", "/g", bytes.NewReader(small)); code != http.StatusCreated {
		t.Errorf("PUT of 1 MiB after the refused one: %d %s, want 201 (its space freed)", code, body)
	}
}
