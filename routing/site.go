package routing

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Site describes one bucket. It is stored in the filesystem's metadata (as
// JSON) so every mount sees the same set; it holds no secret.
type Site struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"` // scheme://host[:port]
	Bucket   string `json:"bucket"`
	Prefix   string `json:"prefix,omitempty"` // key prefix inside the bucket, "" or ending in "/"
	Region   string `json:"region,omitempty"`
	Role     string `json:"role"`              // primary | burst | backup
	Profile  string `json:"profile,omitempty"` // AWS shared-config profile
}

// ParseBucketURL parses ENDPOINT/BUCKET[/PREFIX], for example
// http://127.0.0.1:9000/hafs or https://s3.example.com/data/fs1, or a
// local directory as file:///DIR.
func ParseBucketURL(s string) (Site, error) {
	u, err := url.Parse(s)
	if err == nil && u.Scheme == "file" {
		if u.Host != "" || !filepath.IsAbs(u.Path) || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return Site{}, fmt.Errorf("bucket %q: want file:///ABSOLUTE/DIR", s)
		}
		return Site{Endpoint: "file://" + filepath.Clean(u.Path)}, nil
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Site{}, fmt.Errorf("bucket %q: want http(s)://HOST[:PORT]/BUCKET[/PREFIX] or file:///DIR", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Site{}, fmt.Errorf("bucket %q: no query, fragment or credentials allowed in the URL", s)
	}
	path := strings.Trim(u.Path, "/")
	bucket, prefix, _ := strings.Cut(path, "/")
	if bucket == "" {
		return Site{}, fmt.Errorf("bucket %q: no bucket name after the endpoint", s)
	}
	if !validBucket(bucket) {
		return Site{}, fmt.Errorf("bucket %q: %q is not a valid S3 bucket name", s, bucket)
	}
	if prefix != "" {
		prefix = strings.TrimSuffix(prefix, "/") + "/"
	}
	return Site{Endpoint: u.Scheme + "://" + u.Host, Bucket: bucket, Prefix: prefix}, nil
}

// validBucket applies S3's bucket naming rules: 3-63 characters of
// lowercase letters, digits, dots and hyphens, starting and ending with a
// letter or digit.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (c == '.' || c == '-') && i > 0 && i < len(b)-1
		if !ok {
			return false
		}
	}
	return true
}

// String is the site as an operator writes it.
func (s Site) String() string {
	if s.Bucket == "" { // a directory: file:///DIR
		return s.Endpoint + "/"
	}
	return s.Endpoint + "/" + s.Bucket + "/" + s.Prefix
}

// OpenSite connects to site: a directory for file:// sites, else an S3
// client with options.
func OpenSite(ctx context.Context, site Site, options ...S3Option) (ObjectStore, error) {
	if _, ok := DirOf(site); ok {
		return OpenDir(site)
	}
	return OpenS3(ctx, site, options...)
}
