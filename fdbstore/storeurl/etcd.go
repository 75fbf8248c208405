package storeurl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/fdbstore/etcdstore"
)

// Environment variables holding etcd credentials.
const (
	EnvEtcdUser     = "HAFS_ETCD_USER"
	EnvEtcdPassword = "HAFS_ETCD_PASSWORD"
)

// parseEtcd checks etcd://HOST:PORT[,HOST:PORT...]/PREFIX[?cacert=&cert=&key=].
func parseEtcd(raw string, u *url.URL) (Spec, error) {
	if u.User != nil {
		return Spec{}, fmt.Errorf("store URL: etcd credentials go in $%s and $%s, never in the URL", EnvEtcdUser, EnvEtcdPassword)
	}
	if u.Host == "" || u.Fragment != "" {
		return Spec{}, fmt.Errorf("store URL %q: want etcd://HOST:PORT[,HOST:PORT...]/PREFIX", raw)
	}
	spec := Spec{Scheme: "etcd"}
	for _, ep := range strings.Split(u.Host, ",") {
		if _, port, err := net.SplitHostPort(ep); err != nil || port == "" {
			return Spec{}, fmt.Errorf("store URL %q: endpoint %q: want HOST:PORT", raw, ep)
		}
		spec.Endpoints = append(spec.Endpoints, ep)
	}
	spec.Path = path.Clean("/" + u.Path)
	if spec.Path == "/" {
		return Spec{}, fmt.Errorf("store URL %q: want a key prefix, etcd://HOST:PORT/PREFIX", raw)
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "cacert", "cert", "key", "max-txn-ops", "max-request-bytes", "quota-backend-bytes", "probe-interval":
		default:
			return Spec{}, fmt.Errorf("store URL %q: unknown parameter %q; want cacert, cert, key, max-txn-ops, max-request-bytes, quota-backend-bytes or probe-interval", raw, k)
		}
	}
	spec.CACert, spec.Cert, spec.Key = q.Get("cacert"), q.Get("cert"), q.Get("key")
	for k, dst := range map[string]*int{"max-txn-ops": &spec.MaxTxnOps, "max-request-bytes": &spec.MaxRequestBytes} {
		if v := q.Get(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 16 {
				return Spec{}, fmt.Errorf("store URL %q: %s=%q: want the server's value, a number of at least 16", raw, k, v)
			}
			*dst = n
		}
	}
	if v := q.Get("quota-backend-bytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return Spec{}, fmt.Errorf("store URL %q: quota-backend-bytes=%q: want the server's value in bytes", raw, v)
		}
		spec.QuotaBackendBytes = n
	}
	if v := q.Get("probe-interval"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Millisecond || d > time.Minute {
			return Spec{}, fmt.Errorf("store URL %q: probe-interval=%q: want a duration from 10ms to 1m", raw, v)
		}
		spec.ProbeInterval = d
	}
	if (spec.Cert == "") != (spec.Key == "") {
		return Spec{}, fmt.Errorf("store URL %q: cert and key go together", raw)
	}
	return spec, nil
}

// openEtcd connects to the cluster spec names.
func openEtcd(ctx context.Context, spec Spec, opts fdbstore.Options) (fdbstore.Store, error) {
	cfg := etcdstore.Config{Endpoints: spec.Endpoints, Prefix: spec.Path, Options: opts,
		MaxTxnOps: spec.MaxTxnOps, MaxRequestBytes: spec.MaxRequestBytes, QuotaBytes: spec.QuotaBackendBytes,
		// A member that does not answer within an interval is as good as
		// cut off for a session expiring in twenty.
		ProbeInterval: spec.ProbeInterval, ProbeTimeout: spec.ProbeInterval,
		Username: os.Getenv(EnvEtcdUser), Password: os.Getenv(EnvEtcdPassword)}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, fmt.Errorf("open store %s: set both %s and %s, or neither", spec, EnvEtcdUser, EnvEtcdPassword)
	}
	if spec.CACert != "" || spec.Cert != "" {
		tc, err := etcdTLS(spec)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", spec, err)
		}
		cfg.TLS = tc
	}
	s, err := etcdstore.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", spec, err)
	}
	return s, nil
}

// etcdTLS builds the client's TLS settings from the URL's files.
func etcdTLS(spec Spec) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if spec.CACert != "" {
		pem, err := os.ReadFile(spec.CACert)
		if err != nil {
			return nil, fmt.Errorf("CA certificate: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", spec.CACert)
		}
	}
	if spec.Cert != "" {
		c, err := tls.LoadX509KeyPair(spec.Cert, spec.Key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return tc, nil
}
