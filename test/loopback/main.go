// Command loopback mounts a go-fuse loopback of SRC at MNT and serves it in
// the foreground until SIGINT or SIGTERM, then unmounts.
//
// Kernel passthrough (FUSE_PASSTHROUGH, which lets the kernel read and write
// the backing files directly) is disabled, so every byte of file data goes
// through this process: over a tmpfs directory this is the FUSE ceiling of
// the machine, the reference of the benchmark in scripts/bench.sh.
//
//	loopback [-debug] SRC MNT
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

func main() {
	debug := flag.Bool("debug", false, "log every FUSE request")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: loopback [-debug] SRC MNT")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *debug); err != nil {
		fmt.Fprintln(os.Stderr, "loopback:", err)
		os.Exit(1)
	}
}

// run mounts the loopback of src at mnt and returns once it is unmounted.
func run(src, mnt string, debug bool) error {
	src, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	root, err := fs.NewLoopbackRoot(src)
	if err != nil {
		return fmt.Errorf("loopback root %s: %w", src, err)
	}
	// One-second timeouts, as libfuse's defaults.
	sec := time.Second
	opts := &fs.Options{
		AttrTimeout:     &sec,
		EntryTimeout:    &sec,
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			FsName: src,
			Name:   "loopback",
			Debug:  debug,
			// Without the capability the kernel refuses to register
			// backing files, so go-fuse serves READ and WRITE itself.
			DisabledCapabilities: fuse.CAP_PASSTHROUGH,
		},
	}
	server, err := fs.Mount(mnt, root, opts)
	if err != nil {
		return fmt.Errorf("mount %s at %s: %w", src, mnt, err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for range sigs {
			// A busy mount point refuses; the next signal tries again.
			if err := server.Unmount(); err != nil {
				fmt.Fprintf(os.Stderr, "loopback: unmount %s: %v\n", mnt, err)
			}
		}
	}()
	server.Wait()
	return nil
}
