package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// goal is a target of DESIGN.md's table.
type goal struct {
	text string
	// check reports whether the measured number meets the target. The
	// number is the ratio when the row has a baseline, else the value.
	check func(v float64) bool
}

func atMost(x float64, text string) goal {
	return goal{text: text, check: func(v float64) bool { return v <= x }}
}

func atLeast(x float64, text string) goal {
	return goal{text: text, check: func(v float64) bool { return v >= x }}
}

// row is one line of the targets table.
type row struct {
	what     string
	value    string
	baseline string // "—" when there is none
	ratio    string // "—" when there is no baseline
	target   string
	verdict  string // pass, MISS, or n/a
	note     string // how it was measured (short)
	// miss is the explanation of a missed target: diagnosis and profile.
	miss string
}

func (r *row) judge(g goal, v float64) {
	r.target = g.text
	switch {
	case v != v: // NaN
		r.verdict = "n/a"
	case g.check(v):
		r.verdict = "pass"
	default:
		r.verdict = "MISS"
	}
}

// report collects everything the run measured.
type report struct {
	started  time.Time
	duration time.Duration
	machine  []string
	rows     []*row
	growth   []string // markdown blocks of the "how cost grows" section
	details  []string // markdown blocks of the details section
	notes    []string // problems met during the run
}

func (rp *report) add(r *row) { rp.rows = append(rp.rows, r) }

func (rp *report) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	rp.notes = append(rp.notes, msg)
	logf("note: %s", msg)
}

// machineInfo describes where the run happened.
func machineInfo(stateDir string) []string {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown"
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		kernel = strings.TrimSpace(string(out))
	}
	fsType := "unknown"
	if out, err := exec.Command("df", "--output=fstype,source", stateDir).Output(); err == nil {
		if l := strings.Split(strings.TrimSpace(string(out)), "\n"); len(l) == 2 {
			fsType = strings.Join(strings.Fields(l[1]), " on ")
		}
	}
	load := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				mem = strings.TrimSpace(strings.TrimPrefix(l, "MemTotal:"))
			}
		}
	}
	return []string{
		"CPU: " + cpu,
		fmt.Sprintf("cores: %d (GOMAXPROCS %d)", runtime.NumCPU(), runtime.GOMAXPROCS(0)),
		"memory: " + mem,
		"kernel: " + kernel,
		"Go: " + runtime.Version(),
		"state directories, bbolt baseline: " + fsType + " (" + stateDir + ")",
		"load average at start: " + load,
	}
}

func (rp *report) table() string {
	var b strings.Builder
	b.WriteString("| what | value | baseline (same run) | ratio | target | result |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rp.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.what, r.value, r.baseline, r.ratio, r.target, verdictMD(r.verdict))
	}
	return b.String()
}

func verdictMD(v string) string {
	if v == "MISS" {
		return "**MISS**"
	}
	return v
}

// markdown renders BENCHMARKS.md.
func (rp *report) markdown() string {
	var b strings.Builder
	b.WriteString("# messagefs benchmarks\n\n")
	b.WriteString("Written by `make bench` (`go run ./internal/bench`); do not edit by hand.\n\n")
	fmt.Fprintf(&b, "Run of %s, %s.\n\n", rp.started.UTC().Format("2006-01-02 15:04 MST"), rp.duration.Round(time.Second))
	b.WriteString("## Machine\n\n")
	for _, m := range rp.machine {
		b.WriteString("- " + m + "\n")
	}
	b.WriteString("\n## Method\n\n")
	b.WriteString(methodText)
	b.WriteString("\n## Targets (DESIGN.md, \"Performance targets\")\n\n")
	b.WriteString(rp.table())
	b.WriteString("\nHow each row was measured:\n\n")
	for _, r := range rp.rows {
		if r.note != "" {
			fmt.Fprintf(&b, "- **%s**: %s\n", r.what, r.note)
		}
	}
	pass, miss := 0, 0
	for _, r := range rp.rows {
		switch r.verdict {
		case "pass":
			pass++
		case "MISS":
			miss++
		}
	}
	fmt.Fprintf(&b, "\n%d of %d targets met, %d missed.\n", pass, len(rp.rows), miss)

	b.WriteString("\n## How cost grows\n\n")
	for _, g := range rp.growth {
		b.WriteString(g + "\n")
	}
	if miss > 0 {
		b.WriteString("\n## Missed targets: profiles and causes\n\n")
		for _, r := range rp.rows {
			if r.verdict == "MISS" {
				fmt.Fprintf(&b, "### %s\n\n%s\n", r.what, r.miss)
			}
		}
	}
	b.WriteString("\n## Details\n\n")
	for _, d := range rp.details {
		b.WriteString(d + "\n")
	}
	if len(rp.notes) > 0 {
		b.WriteString("\n## Notes from this run\n\n")
		for _, n := range rp.notes {
			b.WriteString("- " + n + "\n")
		}
	}
	b.WriteString("\n## How to reproduce\n\n")
	b.WriteString("```\nmake bench\n```\n\n")
	b.WriteString("It needs FUSE (`/dev/fuse`, `fusermount3`), root for the tmpfs baseline mount, and about " +
		"3-5 minutes on a 2-core machine. `go run ./internal/bench -h` lists the options " +
		"(`-quick` for a smoke run, `-out` for another file, `-profile=false` to skip profiles).\n")
	return b.String()
}

const methodText = `Every ratio compares numbers taken in the same run, with the baseline
and the subject measured in alternating repetitions so that both see the
same machine load (this machine is shared, so absolute numbers are noisy;
ratios are what the targets are about). Each repetition follows a warm-up
that is thrown away. Values are medians; the spread is min–max over the
repetitions (or p99 where stated), n is the number of repetitions or
samples. A ratio's spread is the min–max of the per-repetition ratios.

Three kinds of measurement:

- *in-process* (crypto, mesh, bare bbolt, store, groups): the bench program
  calls the packages directly; the group rows run real node.Node engines
  (store, mesh on 127.0.0.1, crypto) in one process, without FUSE.
- *end-to-end*: real messagefs processes (built from this tree) with real
  FUSE mounts, started with --no-beacon --bind 127.0.0.1 and --peer
  endpoints on loopback; the bench program drives their mounts with
  write(2)/read(2) and reads their /proc/PID/status.
- *profiles* of missed targets: runtime/pprof for in-process work, perf
  (cpu-clock sampling, kernel included) for the messagefs processes.

No beacons are sent: every node has beacons off and static loopback
endpoints. Everything the run starts (processes, mounts, tmpfs) is removed
at its end.
`

// print writes the targets table and the growth section to stdout.
func (rp *report) print() {
	fmt.Println()
	fmt.Print(rp.table())
	fmt.Println()
	for _, g := range rp.growth {
		fmt.Println(g)
	}
}
