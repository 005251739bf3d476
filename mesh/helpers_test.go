package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// Generous deadlines: the machines are small and shared.
const waitLong = 20 * time.Second

// testLogger logs to stderr when MESH_TEST_LOG is set (debug, info, ...).
func testLogger() *slog.Logger {
	lvl := os.Getenv("MESH_TEST_LOG")
	if lvl == "" {
		return nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(lvl)); err != nil {
		l = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// loopbackOnly lets a node under test connect only to 127.0.0.1.
func loopbackOnly(ep netip.AddrPort) bool {
	return ep.Addr() == netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// startNode starts a node for a root-namespace test: beacons off (SAFETY),
// bound to loopback, connecting only to loopback. It is stopped at cleanup.
func startNode(t testing.TB, cfg Config) (*Node, *recorder) {
	t.Helper()
	if cfg.Beacon {
		t.Fatal("SAFETY: beacons must never be enabled in the root network namespace")
	}
	cfg.Bind = "127.0.0.1"
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	n.filter = loopbackOnly
	if err := n.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec := record(n)
	t.Cleanup(func() { n.Stop(); rec.wait() })
	return n, rec
}

// recorder collects a node's events.
type recorder struct {
	n      *Node
	mu     sync.Mutex
	events []Event
	notify chan struct{} // closed and replaced on every event
	done   chan struct{}
}

func record(n *Node) *recorder {
	r := &recorder{n: n, notify: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ev := range n.Events() {
			r.mu.Lock()
			r.events = append(r.events, ev)
			close(r.notify)
			r.notify = make(chan struct{})
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recorder) wait() { <-r.done }

// snapshot returns the events so far.
func (r *recorder) snapshot() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// count returns how many events so far match.
func (r *recorder) count(match func(Event) bool) int {
	n := 0
	for _, ev := range r.snapshot() {
		if match(ev) {
			n++
		}
	}
	return n
}

// waitFor waits until at least k events match, and returns the first.
func (r *recorder) waitFor(t testing.TB, k int, timeout time.Duration, what string, match func(Event) bool) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		var first Event
		n := 0
		for _, ev := range r.events {
			if match(ev) {
				if n == 0 {
					first = ev
				}
				n++
			}
		}
		ch := r.notify
		r.mu.Unlock()
		if n >= k {
			return first
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: timed out after %v waiting for %d matching events (have %d)", r.n.Name(), timeout, k, n)
		}
	}
}

func isType(typ EventType, peer UUID) func(Event) bool {
	return func(ev Event) bool { return ev.Type == typ && ev.Peer == peer }
}

func isGroupEvent(typ EventType, peer UUID, group string) func(Event) bool {
	return func(ev Event) bool { return ev.Type == typ && ev.Peer == peer && ev.Group == group }
}

func isPayload(typ EventType, peer UUID, payload string) func(Event) bool {
	return func(ev Event) bool { return ev.Type == typ && ev.Peer == peer && string(ev.Payload) == payload }
}

// mesh starts k nodes; node i connects to every node j < i (each pair
// once), so every pair should meet exactly once.
func startMesh(t testing.TB, k int, mod func(i int, c *Config)) ([]*Node, []*recorder) {
	t.Helper()
	nodes := make([]*Node, k)
	recs := make([]*recorder, k)
	for i := range k {
		cfg := Config{Name: fmt.Sprintf("n%d", i), Headers: map[string]string{"X-IDX": fmt.Sprint(i)}}
		for j := range i {
			cfg.Peers = append(cfg.Peers, nodes[j].Endpoint())
		}
		if mod != nil {
			mod(i, &cfg)
		}
		nodes[i], recs[i] = startNode(t, cfg)
	}
	return nodes, recs
}

// waitAllEntered waits until every node has seen every other one enter.
func waitAllEntered(t testing.TB, nodes []*Node, recs []*recorder) {
	t.Helper()
	for i, r := range recs {
		for j, o := range nodes {
			if i != j {
				r.waitFor(t, 1, waitLong, fmt.Sprintf("ENTER of n%d", j), isType(EventEnter, o.UUID()))
			}
		}
	}
}
