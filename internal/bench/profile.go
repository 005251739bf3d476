package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// profileSeq numbers profile files.
var (
	profileMu  sync.Mutex
	profileSeq int
)

func profilePath(e *env, name, ext string) string {
	profileMu.Lock()
	defer profileMu.Unlock()
	profileSeq++
	return filepath.Join(e.work, fmt.Sprintf("profile-%02d-%s.%s", profileSeq, name, ext))
}

// profileInProcess runs f in a loop for d under the CPU profiler and
// returns the diagnosis followed by the profile's top entries.
func profileInProcess(ctx context.Context, e *env, name string, d time.Duration, f func(), diagnosis string) string {
	return profileWhile(ctx, e, name, func(ctx context.Context) {
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			f()
		}
	}, diagnosis)
}

// profileWhile profiles this process while work runs.
func profileWhile(ctx context.Context, e *env, name string, work func(ctx context.Context), diagnosis string) string {
	if !opt.profile {
		return diagnosis + "\n\n(profiling disabled with -profile=false)\n"
	}
	path := profilePath(e, name, "pprof")
	f, err := os.Create(path)
	if err != nil {
		return diagnosis + "\n\nprofile failed: " + err.Error() + "\n"
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return diagnosis + "\n\nprofile failed: " + err.Error() + "\n"
	}
	t0 := time.Now()
	work(ctx)
	pprof.StopCPUProfile()
	el := time.Since(t0)
	top := pprofTop(ctx, path)
	logf("profiled %s for %v", name, el.Round(time.Millisecond))
	return fmt.Sprintf("%s\n\nCPU profile of this workload in the bench process (runtime/pprof, %v; `go tool pprof -top`, "+
		"flat = time in the function itself, cum = with callees):\n\n```\n%s```\n", diagnosis, el.Round(time.Millisecond), top)
}

// pprofTop returns the top entries of a CPU profile, by flat and by
// cumulative time.
func pprofTop(ctx context.Context, path string) string {
	var b strings.Builder
	for _, args := range [][]string{
		{"-top", "-nodecount=14"},
		{"-top", "-cum", "-nodecount=14"},
	} {
		cmd := exec.CommandContext(ctx, "go", append(append([]string{"tool", "pprof"}, args...), path)...)
		out, err := cmd.Output()
		if err != nil {
			fmt.Fprintf(&b, "go tool pprof %s: %v\n", strings.Join(args, " "), err)
			continue
		}
		// Keep the summary lines and the table; drop file/type headers.
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") || strings.HasPrefix(l, "Build ID:") || l == "" {
				continue
			}
			cumList := len(args) > 2
			if strings.HasPrefix(l, "Showing top") && cumList {
				b.WriteString("\n--- sorted by cum ---\n")
				continue
			}
			if strings.HasPrefix(l, "Showing top") || strings.HasPrefix(l, "Dropped") ||
				(cumList && (strings.HasPrefix(l, "Duration:") || strings.HasPrefix(l, "Showing nodes"))) {
				continue
			}
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// perfProfile samples process pid with perf (cpu-clock, kernel included)
// while work runs and returns the diagnosis with the top symbols.
// procs maps the PIDs to profile to a short role ("A", "bench", ...).
func perfProfile(ctx context.Context, e *env, name string, procs map[int]string, work func(ctx context.Context), diagnosis string) string {
	var pids []int
	for p := range procs {
		pids = append(pids, p)
	}
	slices.Sort(pids)
	if !opt.profile {
		return diagnosis + "\n\n(profiling disabled with -profile=false)\n"
	}
	if _, err := exec.LookPath("perf"); err != nil {
		work(ctx)
		return diagnosis + "\n\n(no profile: perf is not installed)\n"
	}
	path := profilePath(e, name, "perf")
	var ps []string
	for _, p := range pids {
		ps = append(ps, strconv.Itoa(p))
	}
	rec := exec.Command("perf", "record", "-q", "-g", "-F", "4999", "-p", strings.Join(ps, ","), "-o", path)
	var errb bytes.Buffer
	rec.Stderr = &errb
	if err := rec.Start(); err != nil {
		work(ctx)
		return diagnosis + "\n\n(no profile: " + err.Error() + ")\n"
	}
	atExit(func() { rec.Process.Kill() })
	time.Sleep(300 * time.Millisecond) // let perf attach
	t0 := time.Now()
	work(ctx)
	el := time.Since(t0)
	rec.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- rec.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		rec.Process.Kill()
		<-done
	}
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	// appOnly keeps the lines of application and library code in a
	// --children report: runtime and kernel frames are in every stack.
	appOnly := func(l string) bool {
		for _, p := range []string{"github.com/", "go.etcd.io/", "bazil.org/", "golang.org/x/", "crypto/", "filippo.io/", "main."} {
			if strings.Contains(l, "[.] "+p) {
				return true
			}
		}
		return false
	}
	report := func(limit int, filter func(string) bool, args ...string) (string, error) {
		out, err := exec.CommandContext(rctx, "perf", append([]string{"report", "-i", path, "--stdio"}, args...)...).Output()
		if err != nil {
			return "", err
		}
		var b strings.Builder
		n := 0
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "# Samples") {
				b.WriteString(strings.TrimPrefix(l, "# ") + "\n")
				continue
			}
			if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "|") ||
				strings.HasPrefix(strings.TrimSpace(l), "-") || strings.HasPrefix(strings.TrimSpace(l), "---") {
				continue
			}
			if filter != nil && !filter(l) {
				continue
			}
			if n < limit {
				b.WriteString(strings.TrimRight(l, " ") + "\n")
				n++
			}
		}
		return b.String(), nil
	}
	byComm, err1 := perfByProcess(rctx, path, procs)
	self, err2 := report(25, nil, "--no-children", "--sort", "comm,dso,sym", "-g", "none", "--percent-limit", "0.7")
	cum, err3 := report(30, appOnly, "--children", "--comm", "messagefs", "--sort", "sym", "-g", "none", "--percent-limit", "1.5")
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Sprintf("%s\n\n(perf report failed: %v; %s)\n", diagnosis, err, strings.TrimSpace(errb.String()))
	}
	logf("perf-profiled %s (pids %v) for %v", name, pids, el.Round(time.Millisecond))
	return fmt.Sprintf("%s\n\nProfile during this workload: `perf record -g -F 4999 -p PIDS` (cpu-clock sampling, kernel "+
		"included; %v). Samples by process and thread name (messagefs: a node's Go threads, ZMQbg: libzmq's, bench: this program):\n\n"+
		"```\n%s```\n\nSelf time by thread name, binary and symbol:\n\n```\n%s```\n\n"+
		"Time including callees, messagefs threads, application and library functions only (call graphs from frame pointers):\n\n```\n%s```\n",
		diagnosis, el.Round(time.Millisecond), byComm, self, cum)
}

// perfByProcess counts the samples of a perf recording by process and
// thread name.
func perfByProcess(ctx context.Context, path string, procs map[int]string) (string, error) {
	out, err := exec.CommandContext(ctx, "perf", "script", "-i", path, "-F", "pid,comm").Output()
	if err != nil {
		return "", err
	}
	type key struct {
		pid  int
		comm string
	}
	counts := map[key]int{}
	total := 0
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		pid, err := strconv.Atoi(f[len(f)-1])
		if err != nil {
			continue
		}
		counts[key{pid, strings.Join(f[:len(f)-1], " ")}]++
		total++
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return counts[b] - counts[a] })
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples\n", total)
	for _, k := range keys {
		fmt.Fprintf(&b, "%7.2f%%  %-10s %-8d %s\n", 100*float64(counts[k])/float64(total), procs[k.pid], k.pid, k.comm)
	}
	return b.String(), nil
}

// runtimeMem is a snapshot of this process's Go heap after a GC.
type runtimeMem struct{ heapInuse uint64 }

func (m *runtimeMem) read() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.heapInuse = ms.HeapInuse
}

// heapTop writes a heap profile of this process and returns its top
// entries by space in use.
func heapTop(ctx context.Context, e *env) string {
	runtime.GC()
	path := profilePath(e, "heap", "pprof")
	f, err := os.Create(path)
	if err != nil {
		return err.Error() + "\n"
	}
	err = pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
	if err != nil {
		return err.Error() + "\n"
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-sample_index=inuse_space", "-nodecount=14", path).Output()
	if err != nil {
		return "go tool pprof: " + err.Error() + "\n"
	}
	var b strings.Builder
	for _, l := range strings.Split(string(out), "\n") {
		if l == "" || strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") || strings.HasPrefix(l, "Build ID:") {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}
