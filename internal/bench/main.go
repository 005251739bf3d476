// Command bench measures messagefs against the baselines of DESIGN.md's
// performance table, in one run, and writes BENCHMARKS.md.
//
// Run it from the module root with `make bench` or `go run ./internal/bench`.
// It needs FUSE and root (for the tmpfs baseline). Every node it starts has
// beacons off and talks only to 127.0.0.1; every process, mount and
// directory it makes is removed before it exits, also on SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	out     string
	reps    int
	quick   bool
	profile bool
	only    string
	keep    bool
	timeout time.Duration
}

var opt options

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// cleanups run in reverse order at exit, each once, also from the
// watchdog; they must be safe to call from any goroutine.
var (
	cleanMu  sync.Mutex
	cleanups []func()
)

func atExit(f func()) {
	var once sync.Once
	cleanMu.Lock()
	defer cleanMu.Unlock()
	cleanups = append(cleanups, func() { once.Do(f) })
}

func runCleanups() {
	cleanMu.Lock()
	fs := slices.Clone(cleanups)
	cleanMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// phase is one group of measurements.
type phase struct {
	name string
	run  func(ctx context.Context, e *env, rp *report) error
}

// env is what the phases share.
type env struct {
	work string   // scratch directory on the disk under test
	bins binaries // messagefs and friends built from this tree
	root string   // module root

	mu      sync.Mutex
	results map[string]float64 // numbers other phases need (baselines)
	tmpDir  string             // a tmpfs of ours, once mounted
}

// tmpfs mounts a tmpfs of our own (once); it falls back to /dev/shm.
func (e *env) tmpfs(rp *report) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tmpDir != "" {
		return e.tmpDir, nil
	}
	dir := filepath.Join(e.work, "tmpfs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256m,mode=0700", "tmpfs", dir).CombinedOutput()
	if err == nil {
		atExit(func() {
			if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
				logf("umount %s: %v %s; unmounting lazily", dir, err, out)
				exec.Command("umount", "-l", dir).Run()
			}
		})
		e.tmpDir = dir
		return dir, nil
	}
	rp.note("could not mount a tmpfs (%v: %s); using a directory in /dev/shm", err, strings.TrimSpace(string(out)))
	d, err := os.MkdirTemp("/dev/shm", "mfs-bench-")
	if err != nil {
		return "", err
	}
	atExit(func() { os.RemoveAll(d) })
	e.tmpDir = d
	return d, nil
}

func (e *env) put(k string, v float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.results[k] = v
}

func (e *env) get(k string) (float64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.results[k]
	return v, ok
}

func main() {
	flag.StringVar(&opt.out, "out", "BENCHMARKS.md", "report file (relative to the module root)")
	flag.IntVar(&opt.reps, "reps", 5, "repetitions of each alternating measurement")
	flag.BoolVar(&opt.quick, "quick", false, "smoke run: short repetitions, fewer samples (numbers are not meaningful)")
	flag.BoolVar(&opt.profile, "profile", true, "profile the workload of every missed target")
	flag.StringVar(&opt.only, "only", "", "comma-separated phases to run (crypto,mesh,durable,e2e,logs,groups); default all")
	flag.BoolVar(&opt.keep, "keep", false, "keep the scratch directory (debugging)")
	flag.DurationVar(&opt.timeout, "timeout", 9*time.Minute, "hard limit for the whole run")
	flag.Func("rss-limit-mib", "RssAnon target in MiB (testing the miss path; default 64)", func(s string) error {
		v, err := strconv.ParseFloat(s, 64)
		rssLimit = v * (1 << 20)
		return err
	})
	flag.Parse()
	if opt.quick {
		opt.reps = min(opt.reps, 3)
	}
	os.Exit(run())
}

func run() (code int) {
	ctx, cancel := context.WithTimeout(context.Background(), opt.timeout)
	defer cancel()

	// A signal cancels the run; a second one, or the hard limit plus a
	// grace period, cleans up from here and exits even if a phase hangs.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		select {
		case s := <-sigs:
			logf("%v: stopping", s)
			cancel()
		case <-ctx.Done():
		}
		select {
		case <-sigs:
		case <-time.After(45 * time.Second):
		}
		logf("forcing cleanup")
		runCleanups()
		os.Exit(2)
	}()
	defer func() {
		if p := recover(); p != nil {
			runCleanups()
			panic(p)
		}
		runCleanups()
	}()

	root, err := moduleRoot()
	if err != nil {
		logf("%v", err)
		return 1
	}
	work, err := os.MkdirTemp("", "mfs-bench-")
	if err != nil {
		logf("%v", err)
		return 1
	}
	atExit(func() {
		if opt.keep {
			logf("kept %s", work)
			return
		}
		if err := os.RemoveAll(work); err != nil {
			logf("removing %s: %v", work, err)
		}
	})
	e := &env{work: work, root: root, results: map[string]float64{}}
	rp := &report{started: time.Now(), machine: machineInfo(work)}

	logf("building messagefs")
	if e.bins, err = build(ctx, root, filepath.Join(work, "bin")); err != nil {
		logf("%v", err)
		return 1
	}

	phases := []phase{
		{"crypto", cryptoPhase},
		{"mesh", meshPhase},
		{"durable", durablePhase},
		{"e2e", e2ePhase},
		{"logs", logsPhase},
		{"groups", groupsPhase},
	}
	want := map[string]bool{}
	for _, p := range strings.Split(opt.only, ",") {
		if p = strings.TrimSpace(p); p != "" {
			want[p] = true
		}
	}
	failed := false
	for _, p := range phases {
		if len(want) > 0 && !want[p.name] {
			continue
		}
		if ctx.Err() != nil {
			rp.note("phase %s skipped: %v", p.name, ctx.Err())
			failed = true
			continue
		}
		t0 := time.Now()
		logf("phase %s", p.name)
		if err := p.run(ctx, e, rp); err != nil {
			rp.note("phase %s failed: %v", p.name, err)
			failed = true
		}
		logf("phase %s done in %v", p.name, time.Since(t0).Round(100*time.Millisecond))
	}
	if n := eintrs.Load(); n > 0 {
		rp.note("%d write(2) calls on mounts returned EINTR (a signal reached the writer before the commit) and were retried, as os.File.Write does", n)
	}
	rp.duration = time.Since(rp.started)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		rp.machine = append(rp.machine, "load average at end: "+strings.Join(strings.Fields(string(b))[:3], " "))
	}
	rp.print()
	out := opt.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	outSet := false
	flag.Visit(func(f *flag.Flag) { outSet = outSet || f.Name == "out" })
	if ctx.Err() != nil {
		logf("interrupted or out of time: not writing %s", out)
		return 1
	}
	if len(want) > 0 && !outSet {
		logf("partial run (-only): not writing %s (give -out to write it)", out)
	} else if err := os.WriteFile(out, []byte(rp.markdown()), 0o644); err != nil {
		logf("writing %s: %v", out, err)
		return 1
	} else {
		logf("wrote %s (%v)", out, rp.duration.Round(time.Second))
	}
	if failed {
		return 1
	}
	return 0
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/messagefs/messagefs\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("run me inside the messagefs module (go run ./internal/bench)")
		}
	}
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
