package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "measure a mounted filesystem against a local directory",
		UsageText: "hafs bench [--big-size MiB] [--small-files N] [--small-size KiB] [--local DIR] PATH",
		Description: "Writes and reads one big file, writes, reads and stats many small ones, in a\n" +
			"scratch directory under PATH (a HAFS mount) and the same in --local, and prints\n" +
			"a table with each figure's ratio to the local one (above 1: faster than local).\n" +
			"The scratch directories are removed at the end. Reads may come from the page\n" +
			"cache, as an application's would.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "big-size", Value: 1024, Usage: "size of the big file, in `MiB`"},
			&cli.IntFlag{Name: "small-files", Value: 1000, Usage: "how many small files (`N`)"},
			&cli.IntFlag{Name: "small-size", Value: 128, Usage: "size of each small file, in `KiB`"},
			&cli.StringFlag{Name: "local", Value: os.TempDir(), Usage: "local `DIR` to compare with (empty: none)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return errors.New("need exactly one PATH, a directory in the mounted filesystem")
			}
			o := benchOptions{big: int64(c.Int("big-size")) << 20, files: c.Int("small-files"), small: c.Int("small-size") << 10}
			if o.big <= 0 || o.files <= 0 || o.small < 0 {
				return errors.New("--big-size and --small-files must be positive, --small-size not negative")
			}
			fsRes, err := runBench(c.Args().First(), o)
			if err != nil {
				return err
			}
			var local []benchResult
			if dir := c.String("local"); dir != "" {
				if local, err = runBench(dir, o); err != nil {
					return fmt.Errorf("local %w", err)
				}
			}
			return printBench(c.Args().First(), c.String("local"), fsRes, local)
		},
	}
}

type benchOptions struct {
	big   int64
	files int
	small int
}

// benchResult is one measured figure: amount of work per second.
type benchResult struct {
	name, unit string
	rate       float64
}

// runBench measures in a scratch directory under dir.
func runBench(dir string, o benchOptions) ([]benchResult, error) {
	scratch, err := os.MkdirTemp(dir, ".hafs-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench in %s: %w", dir, err)
	}
	defer os.RemoveAll(scratch)
	big := filepath.Join(scratch, "big")
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	var out []benchResult
	mib := float64(o.big) / (1 << 20)
	d, err := timed(func() error { return writeBig(big, buf, o.big) })
	if err != nil {
		return nil, err
	}
	out = append(out, benchResult{"big file write", "MiB/s", mib / d.Seconds()})
	if d, err = timed(func() error { return readAll(big, buf) }); err != nil {
		return nil, err
	}
	out = append(out, benchResult{"big file read", "MiB/s", mib / d.Seconds()})
	small := buf[:min(o.small, len(buf))]
	name := func(i int) string { return filepath.Join(scratch, fmt.Sprintf("small-%06d", i)) }
	steps := []struct {
		what string
		fn   func(i int) error
	}{
		{"small file write", func(i int) error { return writeSmall(name(i), small) }},
		{"small file read", func(i int) error { return readAll(name(i), buf) }},
		{"stat", func(i int) error { _, err := os.Stat(name(i)); return err }},
	}
	for _, s := range steps {
		d, err := timed(func() error {
			for i := range o.files {
				if err := s.fn(i); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, benchResult{s.what, "files/s", float64(o.files) / d.Seconds()})
	}
	return out, nil
}

func timed(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return max(time.Since(start), time.Microsecond), err
}

func writeBig(path string, buf []byte, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeSmall(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readAll(path string, buf []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		n, err := f.Read(buf)
		if n == 0 || err != nil {
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return nil
		}
	}
}

func printBench(path, local string, fs, loc []benchResult) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	if loc == nil {
		fmt.Fprintf(w, "ITEM\t%s\t\n", path)
	} else {
		fmt.Fprintf(w, "ITEM\t%s\t%s (local)\tRATIO\n", path, local)
	}
	for i, r := range fs {
		if loc == nil {
			fmt.Fprintf(w, "%s\t%.1f %s\t\n", r.name, r.rate, r.unit)
			continue
		}
		fmt.Fprintf(w, "%s\t%.1f %s\t%.1f %s\t%.2f\n", r.name, r.rate, r.unit, loc[i].rate, loc[i].unit, r.rate/loc[i].rate)
	}
	return w.Flush()
}
