package e2e

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// arrivalRecorder reads a node's .events and records when each message
// line arrived, keyed by the message text.
type arrivalRecorder struct {
	mu   sync.Mutex
	at   map[string]time.Time
	f    *os.File
	done chan struct{}
}

func recordArrivals(t *testing.T, n *Node) *arrivalRecorder {
	t.Helper()
	f, err := os.Open(n.Path(".events"))
	if err != nil {
		t.Fatal(err)
	}
	r := &arrivalRecorder{at: map[string]time.Time{}, f: f, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		br := bufio.NewReaderSize(f, 1<<20)
		for {
			line, err := br.ReadString('\n')
			if i := strings.Index(line, " msg "); i > 0 {
				// TS msg WHERE FROM TEXT
				f := strings.SplitN(strings.TrimSuffix(line[i+5:], "\n"), " ", 3)
				if len(f) == 3 && f[1] != "me" {
					now := time.Now()
					r.mu.Lock()
					if _, ok := r.at[f[2]]; !ok {
						r.at[f[2]] = now
					}
					r.mu.Unlock()
				}
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		f.Close()
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
		}
	})
	return r
}

func (r *arrivalRecorder) arrival(text string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.at[text]
	return at, ok
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// TestLoad20Nodes runs 20 real messagefs processes with real FUSE mounts
// on loopback (node i talks to i+1, i+2 and i+3 in a ring, so every node
// has six peers) and makes each send to its three peers for 20 seconds
// (MFS_LOAD_SECONDS), four messages a second per peer (240 a second in all), from the test
// process through the mounts. After a settle period every acknowledged
// write must be in the receiver's conversation exactly once and in order.
// It reports delivered/lost/duplicated counts, the p50/p99 latency from
// write(2) to the line on the receiver's .events, and each node's peak RSS
// (VmHWM). Skipped with -short (it takes about 25 seconds); `make test` runs
// it.
//
// Real processes rather than in-process nodes: 20 mounts start in a few
// seconds and idle at ~20 MiB each, so the whole stack (FUSE, engine,
// store with fsync, mesh) is what gets loaded, as users run it.
func TestLoad20Nodes(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped with -short")
	}
	RequireFUSE(t)
	const n, fanout = 20, 3
	duration := 20 * time.Second
	if s := os.Getenv("MFS_LOAD_SECONDS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			duration = time.Duration(v) * time.Second
		}
	}
	const interval = 250 * time.Millisecond // per sender and peer

	nodes := make([]*Node, n)
	for i := range nodes {
		nodes[i] = NewNode(t, fmt.Sprintf("n%02d", i))
	}
	targets := func(i int) []*Node {
		var out []*Node
		for k := 1; k <= fanout; k++ {
			out = append(out, nodes[(i+k)%n])
		}
		return out
	}
	for i, nd := range nodes {
		nd.Connect(targets(i)...)
	}
	start := time.Now()
	for _, nd := range nodes {
		nd.Start()
	}
	t.Logf("%d nodes mounted in %v", n, time.Since(start))
	// Trust both ways by copying self.pub (no need to wait for HELLOs).
	for i, a := range nodes {
		for _, b := range targets(i) {
			run(t, "cp", b.Path("keys", "self.pub"), a.Path("keys", b.Name+".pub"))
			run(t, "cp", a.Path("keys", "self.pub"), b.Path("keys", a.Name+".pub"))
		}
	}
	recorders := make([]*arrivalRecorder, n)
	for i, nd := range nodes {
		recorders[i] = recordArrivals(t, nd)
	}
	// Everyone sees its peers before the clock starts.
	for _, nd := range nodes {
		Eventually(t, 30*time.Second, func() error {
			data, err := os.ReadFile(nd.Path(".peers"))
			if err != nil {
				return err
			}
			if c := strings.Count(string(data), " online "); c < 2*fanout {
				return fmt.Errorf("%s sees %d of its %d peers online:\n%s", nd.Name, c, 2*fanout, data)
			}
			return nil
		})
	}
	t.Logf("all nodes see their peers %v after the start", time.Since(start))

	type edge struct{ from, to int }
	type sentMsg struct {
		text string
		at   time.Time
	}
	var mu sync.Mutex
	sent := map[edge][]sentMsg{}
	failed := 0
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq := 0
			for next := time.Now(); time.Now().Before(stop); next = next.Add(interval) {
				time.Sleep(time.Until(next))
				for k, to := range targets(i) {
					text := fmt.Sprintf("L %s %d", nodes[i].Name, seq)
					at := time.Now()
					err := os.WriteFile(nodes[i].Path(to.Name), []byte(text+"\n"), 0o600)
					mu.Lock()
					if err == nil {
						e := edge{i, (i + k + 1) % n}
						sent[e] = append(sent[e], sentMsg{text, at})
					} else {
						failed++
					}
					mu.Unlock()
				}
				seq++
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, l := range sent {
		total += len(l)
	}
	t.Logf("%d messages written in %v (%d writes failed)", total, duration, failed)

	// Settle: everything arrives, exactly once, in order.
	var delivered, lost, duplicated, reordered int
	check := func() error {
		delivered, lost, duplicated, reordered = 0, 0, 0, 0
		for e, msgs := range sent {
			got := logTexts(t, nodes[e.to].Path(nodes[e.from].Name))
			pos := map[string][]int{}
			for j, l := range got {
				text := strings.TrimPrefix(l, nodes[e.from].Name+": ")
				pos[text] = append(pos[text], j)
			}
			last := -1
			for _, m := range msgs {
				p := pos[m.text]
				switch {
				case len(p) == 0:
					lost++
				default:
					delivered++
					duplicated += len(p) - 1
					if p[0] < last {
						reordered++
					}
					last = p[0]
				}
			}
		}
		if lost > 0 || duplicated > 0 || reordered > 0 {
			return fmt.Errorf("%d delivered, %d lost, %d duplicated, %d out of order", delivered, lost, duplicated, reordered)
		}
		return nil
	}
	settle := time.Now()
	Eventually(t, 60*time.Second, check)
	t.Logf("settled %v after the last write", time.Since(settle))

	var lat []time.Duration
	missing := 0
	for e, msgs := range sent {
		for _, m := range msgs {
			if at, ok := recorders[e.to].arrival(m.text); ok {
				lat = append(lat, at.Sub(m.at))
			} else {
				missing++
			}
		}
	}
	slices.Sort(lat)
	var hwm []int64
	for _, nd := range nodes {
		hwm = append(hwm, procStatusKiB(t, pid(t, nd), "VmHWM"))
	}
	slices.Sort(hwm)
	t.Logf("load: %d nodes, %d peers each, %v: %d messages written, %d delivered, %d lost, %d duplicated, %d out of order",
		n, 2*fanout, duration, total, delivered, lost, duplicated, reordered)
	t.Logf("latency write(2) -> receiver's .events over %d messages (%d not seen on .events): p50 %v, p90 %v, p99 %v, max %v",
		len(lat), missing, percentile(lat, 0.5), percentile(lat, 0.9), percentile(lat, 0.99), percentile(lat, 1))
	t.Logf("peak RSS (VmHWM) per node: min %d KiB, median %d KiB, max %d KiB", hwm[0], hwm[len(hwm)/2], hwm[len(hwm)-1])
	if duplicated != 0 || lost != 0 {
		t.Errorf("lost %d, duplicated %d", lost, duplicated)
	}
}

// TestBacklogAfterOutage: 2000 messages queued for bob while he was down
// reach him promptly once he is back. (Before the send window, all were
// sent at once, bob's mesh dropped what exceeded its 256-event queue,
// everything after the first loss was a gap, and the shared backoff of
// 1s, 2s, 4s ... 30s stretched the delivery to minutes.)
func TestBacklogAfterOutage(t *testing.T) {
	alice, bob := pair(t)
	bob.Stop()
	const total, writers = 2000, 4
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/writers; i++ {
				if err := os.WriteFile(alice.Path("bob"), []byte(fmt.Sprintf("b%d-%d\n", w, i)), 0o600); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	bob.Connect(alice)
	start := time.Now()
	bob.Start()
	Eventually(t, 20*time.Second, func() error {
		if got := len(logTexts(t, bob.Path("alice"))); got != total {
			return fmt.Errorf("bob has %d of %d messages after %v", got, total, time.Since(start))
		}
		return nil
	})
	t.Logf("a backlog of %d messages arrived in %v", total, time.Since(start))
}
