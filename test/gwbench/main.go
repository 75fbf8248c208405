// Command gwbench measures the WebDAV gateway (hafs serve) against a FUSE
// mount of the same filesystem, in the same run:
//
//	gwbench [--mib N] [--small N] [--json] NAME=URL,MOUNTDIR ...
//
// For each target it PUTs an N MiB file through the gateway (streamed, never
// held in memory) and GETs it back, writes and reads the same size through
// the mount (write and close, as a PUT does; read after a drop of the
// page cache, which needs root), and PUTs --small files of 4 KiB through the gateway, 8 at a
// time. It prints MiB/s, the gateway's ratio to the mount, and files/s.
// Every transfer is checked (sizes and a checksum); any error exits 1.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	mib       = 1 << 20
	smallSize = 4 << 10
	parallel  = 8 // clients of the small-file workload
)

type target struct{ name, url, dir string }

type figure struct {
	Target   string  `json:"target"`
	Workload string  `json:"workload"`
	Unit     string  `json:"unit"`
	Value    float64 `json:"value"`
	Ratio    float64 `json:"ratio_to_fuse,omitempty"`
}

func main() {
	size := flag.Int("mib", 1024, "MiB of the large PUT and GET")
	small := flag.Int("small", 2000, "small files PUT")
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()
	http.DefaultTransport.(*http.Transport).MaxIdleConnsPerHost = parallel
	var targets []target
	for _, a := range flag.Args() {
		name, rest, ok1 := strings.Cut(a, "=")
		url, dir, ok2 := strings.Cut(rest, ",")
		if !ok1 || !ok2 {
			fmt.Fprintf(os.Stderr, "gwbench: bad target %q (want NAME=URL,MOUNTDIR)\n", a)
			os.Exit(2)
		}
		targets = append(targets, target{name, strings.TrimSuffix(url, "/"), dir})
	}
	if len(targets) == 0 {
		fmt.Fprintln(os.Stderr, "usage: gwbench [--mib N] [--small N] [--json] NAME=URL,MOUNTDIR ...")
		os.Exit(2)
	}
	var all []figure
	for _, t := range targets {
		fs, err := run(t, int64(*size)*mib, *small)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gwbench: %s: %v\n", t.name, err)
			os.Exit(1)
		}
		all = append(all, fs...)
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(all)
		return
	}
	fmt.Printf("%-10s %-28s %12s  %s\n", "target", "workload", "value", "gateway/FUSE")
	for _, f := range all {
		ratio := ""
		if f.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", f.Ratio)
		}
		fmt.Printf("%-10s %-28s %8.1f %-5s %s\n", f.Target, f.Workload, f.Value, f.Unit, ratio)
	}
}

func run(t target, size int64, small int) ([]figure, error) {
	block := make([]byte, mib)
	if _, err := rand.Read(block); err != nil {
		return nil, err
	}
	want := sumOf(block, size)
	name := fmt.Sprintf("gwbench-%d", time.Now().UnixNano())
	putD, err := timed(func() error { return put(t.url+"/"+name+".put", &pattern{block: block, left: size}, size) })
	if err != nil {
		return nil, fmt.Errorf("PUT: %w", err)
	}
	getD, err := timed(func() error { return get(t.url+"/"+name+".put", size, want) })
	if err != nil {
		return nil, fmt.Errorf("GET: %w", err)
	}
	path := filepath.Join(t.dir, name+".fuse")
	writeD, err := timed(func() error { return writeFile(path, block, size) })
	if err != nil {
		return nil, fmt.Errorf("FUSE write: %w", err)
	}
	dropCaches()
	readD, err := timed(func() error { return readFile(path, size, want) })
	if err != nil {
		return nil, fmt.Errorf("FUSE read: %w", err)
	}
	smallD, err := timed(func() error { return putSmall(t.url+"/"+name+".small", block[:smallSize], small) })
	if err != nil {
		return nil, fmt.Errorf("small PUTs: %w", err)
	}
	mibs := func(d time.Duration) float64 { return float64(size) / mib / d.Seconds() }
	_ = os.Remove(path)
	return []figure{
		{t.name, fmt.Sprintf("PUT %d MiB", size/mib), "MiB/s", mibs(putD), mibs(putD) / mibs(writeD)},
		{t.name, fmt.Sprintf("GET %d MiB", size/mib), "MiB/s", mibs(getD), mibs(getD) / mibs(readD)},
		{t.name, fmt.Sprintf("FUSE write %d MiB", size/mib), "MiB/s", mibs(writeD), 0},
		{t.name, fmt.Sprintf("FUSE read %d MiB", size/mib), "MiB/s", mibs(readD), 0},
		{t.name, fmt.Sprintf("PUT %d x 4 KiB", small), "files/s", float64(small) / smallD.Seconds(), 0},
	}, nil
}

func timed(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}

// pattern streams left bytes of block, repeated.
type pattern struct {
	block []byte
	off   int
	left  int64
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.block[p.off:])
	n = int(min(int64(n), p.left))
	p.off = (p.off + n) % len(p.block)
	p.left -= int64(n)
	return n, nil
}

func sumOf(block []byte, size int64) uint32 {
	h := crc32.NewIEEE()
	_, _ = io.Copy(h, &pattern{block: block, left: size})
	return h.Sum32()
}

func put(url string, body io.Reader, size int64) error {
	req, err := http.NewRequest(http.MethodPut, url, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func get(url string, size int64, want uint32) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	h := crc32.NewIEEE()
	n, err := io.CopyBuffer(h, resp.Body, make([]byte, mib))
	if err != nil {
		return err
	}
	if n != size || h.Sum32() != want {
		return fmt.Errorf("%s: %d bytes, checksum %08x; want %d bytes, %08x", url, n, h.Sum32(), size, want)
	}
	return nil
}

func writeFile(path string, block []byte, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(f, &pattern{block: block, left: size}, make([]byte, mib)); err != nil {
		f.Close()
		return err
	}
	// No fsync: a PUT is a write and a close (whose flush commits), and so
	// is this.
	return f.Close()
}

func readFile(path string, size int64, want uint32) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := crc32.NewIEEE()
	n, err := io.CopyBuffer(h, f, make([]byte, mib))
	if err != nil {
		return err
	}
	if n != size || h.Sum32() != want {
		return fmt.Errorf("%s: %d bytes, checksum %08x; want %d bytes, %08x", path, n, h.Sum32(), size, want)
	}
	return nil
}

// dropCaches empties the page cache so the mount's read reaches HAFS; not
// being root only makes the FUSE read figure optimistic.
func dropCaches() {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		fmt.Fprintln(os.Stderr, "gwbench: cannot drop the page cache (not root?): FUSE reads may come from it")
	}
}

func putSmall(dir string, body []byte, n int) error {
	req, err := http.NewRequest("MKCOL", dir+"/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("MKCOL %s: %s", dir, resp.Status)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, parallel)
	for w := range parallel {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := put(fmt.Sprintf("%s/f%05d", dir, i), bytes.NewReader(body), int64(len(body))); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
