package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// readyEnv names the descriptor on which a hafs-fuse started by
// --background tells its parent how the mount went: "ok", or the error.
const readyEnv = "HAFS_FUSE_READY_FD"

// notifier is the child's end of that pipe; nil in the foreground.
type notifier struct{ f *os.File }

// childNotifier returns the notifier when this process is the background
// child, and removes the variable so that nothing it starts inherits it.
func childNotifier() *notifier {
	v := os.Getenv(readyEnv)
	if v == "" {
		return nil
	}
	os.Unsetenv(readyEnv)
	fd, err := strconv.Atoi(v)
	if err != nil {
		return nil
	}
	return &notifier{f: os.NewFile(uintptr(fd), "ready")}
}

// ready tells the parent the mount serves; it may exit 0.
func (n *notifier) ready() {
	if n != nil {
		fmt.Fprintln(n.f, "ok")
		n.f.Close()
	}
}

// failed gives the parent the error it prints as its own.
func (n *notifier) failed(err error) {
	if n != nil && err != nil {
		fmt.Fprintln(n.f, strings.ReplaceAll(err.Error(), "\n", "; "))
		n.f.Close()
	}
}

// daemonize runs this program again with args (args[0] aside) in a
// session of its own, detached from the terminal and from the caller's
// output (mount(8) and scripts wait for that to close), and waits until
// the child says the mount serves (nil) or failed (its error). Its output
// goes to logFile, or nowhere: it logs to syslog itself then.
func daemonize(args []string, logFile string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("background: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("background: %w", err)
	}
	defer r.Close()
	out, err := openOutput(logFile)
	if err != nil {
		w.Close()
		return err
	}
	defer out.Close()
	cmd := exec.Command(exe, args[1:]...)
	cmd.Env = append(os.Environ(), readyEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("background: %w", err)
	}
	msg, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	line := strings.TrimSpace(string(msg))
	switch {
	case line == "ok":
		return cmd.Process.Release()
	case line != "":
		_ = cmd.Wait()
		return errors.New(line)
	}
	err = cmd.Wait()
	return fmt.Errorf("the mount process ended before mounting (%v)", err)
}

// openOutput is where the background child's own output goes (a panic's
// trace, say): the log file, or /dev/null.
func openOutput(logFile string) (*os.File, error) {
	if logFile == "" {
		return os.OpenFile(os.DevNull, os.O_RDWR, 0)
	}
	f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// newLogger is the mount's logger: to logFile when given, to syslog (the
// journal on systemd machines) in the background, else to stderr. close
// ends it.
func newLogger(logFile string, background bool) (log *slog.Logger, close func(), err error) {
	if logFile != "" {
		f, err := openOutput(logFile)
		if err != nil {
			return nil, nil, err
		}
		return slog.New(slog.NewTextHandler(f, nil)), func() { f.Close() }, nil
	}
	if background {
		if w, err := syslog.New(syslog.LOG_INFO|syslog.LOG_DAEMON, "hafs-fuse"); err == nil {
			return slog.New(slog.NewTextHandler(w, nil)), func() { w.Close() }, nil
		}
		// No syslog daemon: nothing to log to; errors that end the mount
		// still reach the parent.
		return slog.New(slog.NewTextHandler(io.Discard, nil)), func() {}, nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil)), func() {}, nil
}
