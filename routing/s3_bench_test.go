package routing

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkS3Direct measures what the object store itself allows on this
// machine, with no filesystem in the way: 1 GiB as 4 MiB objects (HAFS's
// default block) put 16 at a time and read back 8 at a time, as the data
// path does, through the same client settings. It reports MiB/s and the
// CPU seconds the MinIO server spent per GiB each way: the part of the
// machine no client can have. Reads run after dropping the page cache
// when the benchmark runs as root, as the filesystem benchmark does.
func BenchmarkS3Direct(b *testing.B) {
	const (
		objSize = 4 << 20
		objects = 256
		puts    = 16
		gets    = 8
	)
	s, srv := minioS3(b, "bench")
	ctx := context.Background()
	data := make([]byte, objSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	key := func(i int) string { return fmt.Sprintf("obj/%04d", i) }
	run := func(parallel int, fn func(i int) error) time.Duration {
		start := time.Now()
		for _, err := range inParallel(objects, parallel, fn) {
			if err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	gib := float64(objects*objSize) / (1 << 30)
	mib := float64(objects*objSize) / (1 << 20)
	for range b.N {
		cpu0 := srv.CPU()
		put := run(puts, func(i int) error { return s.Put(ctx, key(i), data) })
		cpu1 := srv.CPU()
		if os.Geteuid() == 0 {
			_ = os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0)
		}
		cpu2 := srv.CPU()
		get := run(gets, func(i int) error {
			buf := make([]byte, objSize)
			n, err := s.GetInto(ctx, key(i), 0, buf)
			if err == nil && n != objSize {
				err = fmt.Errorf("%s: read %d bytes of %d", key(i), n, objSize)
			}
			return err
		})
		cpu3 := srv.CPU()
		b.ReportMetric(mib/put.Seconds(), "put-MiB/s")
		b.ReportMetric(mib/get.Seconds(), "get-MiB/s")
		b.ReportMetric((cpu1-cpu0).Seconds()/gib, "server-put-cpu-s/GiB")
		b.ReportMetric((cpu3-cpu2).Seconds()/gib, "server-get-cpu-s/GiB")
	}
}
