package routing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hafs/hafs/test/minio"
)

func setCreds(t testing.TB, access, secret string) {
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
}

// minioS3 starts a MinIO for the test and opens bucket (BUCKET[/PREFIX])
// on it, probed, so the bucket exists.
func minioS3(t testing.TB, bucket string) (*S3, *minio.Server) {
	t.Helper()
	srv := minio.Start(t)
	setCreds(t, minio.AccessKey, minio.SecretKey)
	ctx := context.Background()
	site, err := ParseBucketURL(srv.Endpoint + "/" + bucket)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenS3(ctx, site)
	if err != nil {
		t.Fatal(err)
	}
	if err := Probe(ctx, s); err != nil {
		t.Fatalf("probe (creating the bucket): %v", err)
	}
	return s, srv
}

func TestS3AgainstMinIO(t *testing.T) {
	s, _ := minioS3(t, "hafs-test/fs1")
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if err := s.Put(ctx, "a/1", data); err != nil {
		t.Fatal(err)
	}
	if s.signedBodies.Load() {
		t.Error("MinIO did not confirm the upload's CRC32C: uploads fell back to signed bodies")
	}
	for _, c := range []struct {
		off, n int64
		want   []byte
	}{
		{0, -1, data}, {10, 5, data[10:15]}, {9990, -1, data[9990:]}, {9995, 100, data[9995:]}, {20000, 10, nil},
	} {
		got, err := s.Get(ctx, "a/1", c.off, c.n)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("Get(%d, %d) = %d bytes, %v; want %d bytes", c.off, c.n, len(got), err, len(c.want))
		}
	}
	if n, err := s.Head(ctx, "a/1"); err != nil || n != int64(len(data)) {
		t.Errorf("Head = %d, %v", n, err)
	}
	// Past the multipart threshold, with a last part shorter than the rest.
	big := make([]byte, multipartMin+partSize+12345)
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	if err := s.Put(ctx, "b/big", big); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "b/big", 0, -1); err != nil || !bytes.Equal(got, big) {
		t.Errorf("multipart object read back: %d bytes, %v; want %d bytes equal", len(got), err, len(big))
	}
	if got, err := s.Get(ctx, "b/big", partSize-3, 6); err != nil || !bytes.Equal(got, big[partSize-3:partSize+3]) {
		t.Errorf("ranged read across a part boundary: %v %v", got, err)
	}
	if err := s.Delete(ctx, "b/big"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a/2", []byte("x")); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := s.List(ctx, "a/", func(o Object) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "a/1,a/2" {
		t.Errorf("List = %v, want [a/1 a/2] (prefix stripped)", keys)
	}
	if _, err := s.Get(ctx, "missing", 0, -1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if _, err := s.Head(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head of a missing key: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "a/1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a/1"); err != nil {
		t.Errorf("deleting a missing key: %v, want success", err)
	}

	// Wrong credentials and an unreachable endpoint: one-line errors, in
	// bounded time.
	setCreds(t, minio.AccessKey, "wrong-secret")
	bad, err := OpenS3(ctx, s.site)
	if err != nil {
		t.Fatal(err)
	}
	if err := Probe(ctx, bad); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("probe with a wrong secret: %v; want a one-line error", err)
	}
	setCreds(t, minio.AccessKey, minio.SecretKey)
	down, err := OpenS3(ctx, Site{Endpoint: "http://127.0.0.1:1", Bucket: "hafs"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := Probe(ctx, down); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("probe of an unreachable endpoint: %v; want a one-line error", err)
	}
	t.Logf("unreachable endpoint failed after %v", time.Since(start).Round(time.Millisecond))
}

func TestParseBucketURL(t *testing.T) {
	for _, c := range []struct {
		in, want string // want "" means an error
	}{
		{"http://127.0.0.1:9000/hafs", "http://127.0.0.1:9000/hafs/"},
		{"https://s3.example.com/data/fs1", "https://s3.example.com/data/fs1/"},
		{"https://s3.example.com/data/a/b/", "https://s3.example.com/data/a/b/"},
		{"http://127.0.0.1:9000/", ""},
		{"ftp://host/b", ""},
		{"127.0.0.1:9000/hafs", ""},
		{"http://127.0.0.1:9000/Bad_Bucket", ""},
		{"http://user:pw@host/bucket", ""},
		{"http://host/ab", ""},
		{"file:///var/lib/hafs/blocks", "file:///var/lib/hafs/blocks/"},
		{"file:///var/lib/hafs/blocks/../b/", "file:///var/lib/hafs/b/"},
		{"file://host/dir", ""},
		{"file://relative", ""},
		{"file:///dir?x=1", ""},
	} {
		s, err := ParseBucketURL(c.in)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("ParseBucketURL(%q) = %v, want an error", c.in, s)
		case c.want != "" && (err != nil || s.String() != c.want):
			t.Errorf("ParseBucketURL(%q) = %v, %v; want %s", c.in, s, err, c.want)
		}
	}
}

// TestCRC32CHeader: the upload checksum header is the base64 of the
// big-endian CRC32C, checked against the standard test vector.
func TestCRC32CHeader(t *testing.T) {
	if got := *crc32cHeader([]byte("123456789")); got != "4waSgw==" { // 0xE3069283
		t.Errorf("crc32cHeader = %q, want %q", got, "4waSgw==")
	}
}

// TestPutFallsBackToSignedBodies: how a server answers an unsigned upload
// decides whether the client keeps that form or moves to the classic
// signed one (on that upload and directly from then on). Signed uploads
// always succeed here.
func TestPutFallsBackToSignedBodies(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		code   string // error code; "" answers 200
		echo   bool   // a 200 echoes the checksum header
		// requests the server sees for three puts
		unsigned, signed int32
		fails            bool
	}{
		{name: "checks the header", status: 200, echo: true, unsigned: 3},
		{name: "ignores the header", status: 200, unsigned: 1, signed: 3},
		{name: "refuses unsigned bodies", status: 400, code: "InvalidRequest", unsigned: 1, signed: 3},
		{name: "does not implement the header", status: 501, code: "NotImplemented", unsigned: 1, signed: 3},
		{name: "policy denies unsigned bodies", status: 403, code: "AccessDenied", unsigned: 1, signed: 3},
		{name: "damage on the way", status: 400, code: "BadDigest", unsigned: 1, fails: true},
		{name: "clock skew", status: 403, code: "RequestTimeTooSkewed", unsigned: 1, fails: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			setCreds(t, "ak", "sk")
			var unsigned, signed atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if r.Header.Get("X-Amz-Content-Sha256") != "UNSIGNED-PAYLOAD" {
					signed.Add(1)
					w.Header().Set("ETag", `"x"`)
					return
				}
				unsigned.Add(1)
				if c.code != "" {
					w.WriteHeader(c.status)
					fmt.Fprintf(w, `<Error><Code>%s</Code><Message>no</Message></Error>`, c.code)
					return
				}
				if c.echo {
					w.Header().Set("X-Amz-Checksum-Crc32c", r.Header.Get("X-Amz-Checksum-Crc32c"))
				}
				w.Header().Set("ETag", `"x"`)
			}))
			defer srv.Close()
			s, err := OpenS3(context.Background(), Site{Endpoint: srv.URL, Bucket: "b"}, WithAttempts(1))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				err := s.Put(context.Background(), fmt.Sprint("k", i), []byte("data"))
				if c.fails {
					if err == nil {
						t.Fatalf("put %d succeeded", i)
					}
					break
				}
				if err != nil {
					t.Fatalf("put %d: %v", i, err)
				}
			}
			if unsigned.Load() != c.unsigned || signed.Load() != c.signed {
				t.Errorf("requests: %d unsigned, %d signed; want %d and %d", unsigned.Load(), signed.Load(), c.unsigned, c.signed)
			}
		})
	}
}

// TestReadHeaderTimeout: a server that takes a GET and never answers
// (a cut-off host's established connection) fails the read after the
// read header bound, so the router can go to the next site; a server that
// answers at once and then sends the body slowly is not cut off by it.
func TestReadHeaderTimeout(t *testing.T) {
	setCreds(t, "ak", "sk")
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/silent") {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		// Headers now, the body after longer than the bound.
		w.Header().Set("Content-Length", "4")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte("body"))
	}))
	defer srv.Close()
	defer close(release)
	s, err := OpenS3(context.Background(), Site{Endpoint: srv.URL, Bucket: "b"}, WithAttempts(1),
		WithReadHeaderTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(context.Background(), "silent", 0, -1)
	if err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Errorf("GET of a server that never answers: err = %v, want one saying no answer within 100ms", err)
	}
	got, err := s.Get(context.Background(), "slow-body", 0, -1)
	if err != nil || string(got) != "body" {
		t.Errorf("GET of a slow body = %q, %v; want \"body\" (the bound is on the headers only)", got, err)
	}
}
