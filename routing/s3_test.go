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

func setCreds(t *testing.T, access, secret string) {
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
}

func TestS3AgainstMinIO(t *testing.T) {
	srv := minio.Start(t)
	setCreds(t, minio.AccessKey, minio.SecretKey)
	ctx := context.Background()
	site, err := ParseBucketURL(srv.Endpoint + "/hafs-test/fs1")
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
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if err := s.Put(ctx, "a/1", data); err != nil {
		t.Fatal(err)
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
	bad, err := OpenS3(ctx, site)
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

// TestPutFallsBackToSignedBodies: a server that refuses unsigned bodies
// (some S3-compatible servers and bucket policies do) gets the classic
// signed form, on the first upload and directly from then on.
func TestPutFallsBackToSignedBodies(t *testing.T) {
	setCreds(t, "ak", "sk")
	var unsigned, signed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("X-Amz-Content-Sha256") == "UNSIGNED-PAYLOAD" {
			unsigned.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `<Error><Code>InvalidRequest</Code><Message>unsigned payloads are not allowed</Message></Error>`)
			return
		}
		signed.Add(1)
		w.Header().Set("ETag", `"x"`)
	}))
	defer srv.Close()
	s, err := OpenS3(context.Background(), Site{Endpoint: srv.URL, Bucket: "b"}, WithAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Put(context.Background(), fmt.Sprint("k", i), []byte("data")); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if unsigned.Load() != 1 || signed.Load() != 3 {
		t.Errorf("requests: %d unsigned, %d signed; want 1 and 3", unsigned.Load(), signed.Load())
	}
}
