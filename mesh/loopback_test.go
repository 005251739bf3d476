package mesh

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestPairEnterCarriesHelloFields(t *testing.T) {
	nodes, recs := startMesh(t, 2, func(i int, c *Config) {
		c.Headers["X-MFS-KEY"] = fmt.Sprintf("age1key%d", i)
	})
	a, b := nodes[0], nodes[1]
	for _, tc := range []struct {
		rec  *recorder
		peer *Node
		idx  string
	}{{recs[0], b, "1"}, {recs[1], a, "0"}} {
		ev := tc.rec.waitFor(t, 1, waitLong, "ENTER", isType(EventEnter, tc.peer.UUID()))
		if ev.Name != "n"+tc.idx || ev.Headers["X-IDX"] != tc.idx || ev.Headers["X-MFS-KEY"] != "age1key"+tc.idx || ev.Endpoint != tc.peer.Endpoint() {
			t.Errorf("ENTER %+v; want name n%s, headers X-IDX/X-MFS-KEY, endpoint %s", ev, tc.idx, tc.peer.Endpoint())
		}
	}
	peers := a.Peers()
	if len(peers) != 1 || peers[0].UUID != b.UUID() || !peers[0].Ready || peers[0].Name != "n1" || peers[0].Headers["X-IDX"] != "1" {
		t.Errorf("a.Peers() = %+v", peers)
	}
	if got := a.UUID().String(); len(got) != 32 || a.UUID().Short() != got[:6] {
		t.Errorf("UUID text %q short %q", got, a.UUID().Short())
	}
}

func TestJoinLeaveWhisperShout(t *testing.T) {
	nodes, recs := startMesh(t, 3, nil)
	waitAllEntered(t, nodes, recs)
	a, b, c := nodes[0], nodes[1], nodes[2]

	// b and c join "team"; a does not.
	for _, n := range []*Node{b, c} {
		if err := n.Join("team"); err != nil {
			t.Fatal(err)
		}
		if err := n.Join("team"); err != nil { // no-op
			t.Fatal(err)
		}
	}
	for i, r := range recs {
		for _, n := range []*Node{b, c} {
			if n != nodes[i] {
				r.waitFor(t, 1, waitLong, "JOIN team", isGroupEvent(EventJoin, n.UUID(), "team"))
			}
		}
	}
	if got := a.PeerGroups(); !slices.Equal(got, []string{"team"}) {
		t.Errorf("a.PeerGroups() = %v", got)
	}
	if got := b.Groups(); !slices.Equal(got, []string{"team"}) {
		t.Errorf("b.Groups() = %v", got)
	}

	// a shouts to team (not a member): b and c get it, a does not.
	if err := a.Shout("team", []byte("to team")); err != nil {
		t.Fatal(err)
	}
	// b shouts: only c gets it (a is not in team; b does not hear itself).
	if err := b.Shout("team", []byte("from b")); err != nil {
		t.Fatal(err)
	}
	// whispers go to exactly one peer.
	if err := c.Whisper(a.UUID(), []byte("c->a")); err != nil {
		t.Fatal(err)
	}
	recs[1].waitFor(t, 1, waitLong, "shout", isPayload(EventShout, a.UUID(), "to team"))
	recs[2].waitFor(t, 1, waitLong, "shout", isPayload(EventShout, a.UUID(), "to team"))
	recs[2].waitFor(t, 1, waitLong, "shout", isPayload(EventShout, b.UUID(), "from b"))
	recs[0].waitFor(t, 1, waitLong, "whisper", isPayload(EventWhisper, c.UUID(), "c->a"))

	// Leave: everyone else sees LEAVE, and shouts no longer reach c.
	if err := c.Leave("team"); err != nil {
		t.Fatal(err)
	}
	recs[0].waitFor(t, 1, waitLong, "LEAVE", isGroupEvent(EventLeave, c.UUID(), "team"))
	recs[1].waitFor(t, 1, waitLong, "LEAVE", isGroupEvent(EventLeave, c.UUID(), "team"))
	if err := a.Shout("team", []byte("after leave")); err != nil {
		t.Fatal(err)
	}
	recs[1].waitFor(t, 1, waitLong, "shout", isPayload(EventShout, a.UUID(), "after leave"))
	// Sync point: a whisper from a to c sent after the shout arrives after it would have.
	if err := a.Whisper(c.UUID(), []byte("marker")); err != nil {
		t.Fatal(err)
	}
	recs[2].waitFor(t, 1, waitLong, "marker", isPayload(EventWhisper, a.UUID(), "marker"))

	want := map[int]map[string]int{ // node -> "TYPE payload" -> count
		0: {"WHISPER c->a": 1},
		1: {"SHOUT to team": 1, "SHOUT after leave": 1},
		2: {"SHOUT to team": 1, "SHOUT from b": 1, "WHISPER marker": 1},
	}
	for i, r := range recs {
		got := map[string]int{}
		for _, ev := range r.snapshot() {
			if ev.Type == EventWhisper || ev.Type == EventShout {
				got[ev.Type.String()+" "+string(ev.Payload)]++
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("node %d data events %v, want %v", i, got, want[i])
		}
	}
	for _, n := range nodes {
		if s := n.Stats(); s.StatusMismatches != 0 || s.DroppedOutOfSequence != 0 || s.DroppedMalformed != 0 {
			t.Errorf("%s stats %+v", n.Name(), s)
		}
	}
}

// TestIdleNoFlap: every pair sees exactly one ENTER and no EXIT over 10 s
// of idle running, with 2, 3 and 20 nodes (static endpoints, each pair
// connected in one direction), and with two nodes that list each other.
// All four meshes idle during the same 10 s.
func TestIdleNoFlap(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s idle run")
	}
	const idle = 10 * time.Second
	// Short timers so that pings run during the idle time too.
	timers := func(_ int, c *Config) {
		c.EvasiveAfter = time.Second
		c.ExpireAfter = 6 * time.Second
	}
	type setup struct {
		name  string
		nodes []*Node
		recs  []*recorder
	}
	var setups []setup
	for _, k := range []int{2, 3, 20} {
		nodes, recs := startMesh(t, k, timers)
		setups = append(setups, setup{fmt.Sprintf("%d nodes", k), nodes, recs})
	}
	nodes, recs := startMesh(t, 2, func(i int, c *Config) {
		timers(i, c)
		c.Peers = nil
	})
	// Both list each other, at about the same time.
	errs := make(chan error, 2)
	go func() { errs <- nodes[0].Connect(nodes[1].Endpoint()) }()
	go func() { errs <- nodes[1].Connect(nodes[0].Endpoint()) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	setups = append(setups, setup{"mutual static", nodes, recs})
	for _, s := range setups {
		waitAllEntered(t, s.nodes, s.recs)
	}
	time.Sleep(idle)
	for _, s := range setups {
		for i, r := range s.recs {
			for j, o := range s.nodes {
				if i == j {
					continue
				}
				if n := r.count(isType(EventEnter, o.UUID())); n != 1 {
					t.Errorf("%s: n%d saw %d ENTERs of n%d, want 1", s.name, i, n, j)
				}
				if n := r.count(isType(EventExit, o.UUID())); n != 0 {
					t.Errorf("%s: n%d saw %d EXITs of n%d, want 0", s.name, i, n, j)
				}
			}
			if got, want := len(s.nodes[i].Peers()), len(s.nodes)-1; got != want {
				t.Errorf("%s: n%d has %d peers, want %d", s.name, i, got, want)
			}
			if st := s.nodes[i].Stats(); st.PeersCreated != uint64(len(s.nodes)-1) || st.PeersRemoved != 0 {
				t.Errorf("%s: n%d created %d and removed %d peers, want %d and 0", s.name, i, st.PeersCreated, st.PeersRemoved, len(s.nodes)-1)
			}
		}
	}
}

func TestExitAfterStop(t *testing.T) {
	nodes, recs := startMesh(t, 3, func(_ int, c *Config) {
		c.EvasiveAfter = 300 * time.Millisecond
		c.ExpireAfter = 1500 * time.Millisecond
	})
	waitAllEntered(t, nodes, recs)
	if err := nodes[1].Stop(); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].Stop(); err != nil { // idempotent
		t.Fatal(err)
	}
	start := time.Now()
	recs[0].waitFor(t, 1, waitLong, "EXIT", isType(EventExit, nodes[1].UUID()))
	recs[2].waitFor(t, 1, waitLong, "EXIT", isType(EventExit, nodes[1].UUID()))
	t.Logf("EXIT seen %v after Stop", time.Since(start))
	recs[1].wait() // the stopped node's channel is closed
	n := len(recs[1].snapshot())
	if err := nodes[1].Whisper(nodes[0].UUID(), []byte("x")); !errors.Is(err, ErrStopped) {
		t.Errorf("Whisper after Stop: %v, want ErrStopped", err)
	}
	if err := nodes[1].Join("g"); !errors.Is(err, ErrStopped) {
		t.Errorf("Join after Stop: %v, want ErrStopped", err)
	}
	if len(recs[1].snapshot()) != n {
		t.Error("events after Stop")
	}
	// The survivors still talk.
	if err := nodes[0].Whisper(nodes[2].UUID(), []byte("still here")); err != nil {
		t.Fatal(err)
	}
	recs[2].waitFor(t, 1, waitLong, "whisper", isPayload(EventWhisper, nodes[0].UUID(), "still here"))
}

// TestKilledPeerExpires: a node that vanishes without a word (sockets
// closed, as in a crash) is pinged when evasive and removed when expired.
func TestKilledPeerExpires(t *testing.T) {
	nodes, recs := startMesh(t, 2, func(_ int, c *Config) {
		c.EvasiveAfter = 400 * time.Millisecond
		c.ExpireAfter = 2 * time.Second
	})
	waitAllEntered(t, nodes, recs)
	nodes[1].stop(true)
	start := time.Now()
	recs[0].waitFor(t, 1, waitLong, "EVASIVE", isType(EventEvasive, nodes[1].UUID()))
	recs[0].waitFor(t, 1, waitLong, "EXIT", isType(EventExit, nodes[1].UUID()))
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("EXIT %v after the kill: before ExpireAfter", d)
	}
	if err := nodes[0].Whisper(nodes[1].UUID(), []byte("x")); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("Whisper to departed peer: %v, want ErrUnknownPeer", err)
	}
}

// TestStaticPeerRestart: the node at a static endpoint restarts (new UUID,
// same endpoint) and is found again.
func TestStaticPeerRestart(t *testing.T) {
	b1, _ := startNode(t, Config{Name: "b1"})
	ep := b1.Endpoint()
	_, port, _ := parseEndpointParts(t, ep)
	a, ra := startNode(t, Config{Name: "a", Peers: []string{ep}, EvasiveAfter: 400 * time.Millisecond, ExpireAfter: 2 * time.Second})
	ra.waitFor(t, 1, waitLong, "ENTER b1", isType(EventEnter, b1.UUID()))
	b1.stop(true)
	b2, rb2 := startNode(t, Config{Name: "b2", Port: port})
	if b2.Endpoint() != ep {
		t.Fatalf("b2 bound %s, want %s", b2.Endpoint(), ep)
	}
	ra.waitFor(t, 1, waitLong, "EXIT b1", isType(EventExit, b1.UUID()))
	ra.waitFor(t, 1, waitLong, "ENTER b2", isType(EventEnter, b2.UUID()))
	rb2.waitFor(t, 1, waitLong, "ENTER a", isType(EventEnter, a.UUID()))
	if err := a.Whisper(b2.UUID(), []byte("welcome back")); err != nil {
		t.Fatal(err)
	}
	rb2.waitFor(t, 1, waitLong, "whisper", isPayload(EventWhisper, a.UUID(), "welcome back"))
}

// TestStaticPeerRestartBeforeExpiry: a node that restarts at a static
// endpoint (new UUID) and does not list us is met again long before the
// old peer would expire, because the old one ignores our pings.
func TestStaticPeerRestartBeforeExpiry(t *testing.T) {
	b1, _ := startNode(t, Config{Name: "b1"})
	ep := b1.Endpoint()
	_, port, _ := parseEndpointParts(t, ep)
	a, ra := startNode(t, Config{Name: "a", Peers: []string{ep}, EvasiveAfter: 300 * time.Millisecond, ExpireAfter: time.Minute})
	ra.waitFor(t, 1, waitLong, "ENTER b1", isType(EventEnter, b1.UUID()))
	b1.stop(true)
	b2, rb2 := startNode(t, Config{Name: "b2", Port: port})
	// waitLong (20s) is well before the old peer's expiry (1 min).
	ra.waitFor(t, 1, waitLong, "ENTER b2", isType(EventEnter, b2.UUID()))
	rb2.waitFor(t, 1, waitLong, "ENTER a", isType(EventEnter, a.UUID()))
}

func parseEndpointParts(t testing.TB, ep string) (string, int, error) {
	t.Helper()
	ap, err := parseEndpoint(ep)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Addr().String(), int(ap.Port()), nil
}

func TestAPIErrors(t *testing.T) {
	n, err := New(Config{Bind: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Whisper(UUID{1}, nil); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Whisper before Start: %v", err)
	}
	if err := n.Join("g"); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Join before Start: %v", err)
	}
	n.Stop()
	if err := n.Start(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("Start after Stop: %v", err)
	}
	if _, ok := <-n.Events(); ok {
		t.Error("Events open after Stop")
	}

	for _, cfg := range []Config{
		{Bind: "::1"},
		{Bind: "0.0.0.0"},
		{Bind: "localhost"},
		{Port: 70000},
		{EvasiveAfter: time.Second, ExpireAfter: time.Second},
		{Peers: []string{"tcp://localhost:5000"}},
		{Name: string(make([]byte, 256))},
		{Headers: map[string]string{"": "x"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}

	a, _ := startNode(t, Config{})
	if err := a.Start(context.Background()); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start: %v", err)
	}
	if err := a.Whisper(UUID{1}, []byte("x")); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("Whisper to unknown: %v", err)
	}
	if err := a.Whisper(UUID{1}, make([]byte, MaxPayload+1)); !errors.Is(err, ErrPayloadTooLarge) {
		t.Errorf("Whisper too large: %v", err)
	}
	if err := a.Shout("g", make([]byte, MaxPayload+1)); !errors.Is(err, ErrPayloadTooLarge) {
		t.Errorf("Shout too large: %v", err)
	}
	for _, g := range []string{"", string(make([]byte, 256))} {
		if err := a.Join(g); !errors.Is(err, ErrInvalidGroup) {
			t.Errorf("Join(%d bytes): %v", len(g), err)
		}
	}
	for _, ep := range []string{"ipc:///tmp/x", "tcp://host:1", "tcp://[::1]:5", "tcp://127.0.0.1:0", "tcp://127.0.0.1"} {
		if err := a.Connect(ep); !errors.Is(err, ErrInvalidEndpoint) {
			t.Errorf("Connect(%q): %v", ep, err)
		}
	}
	if err := a.Connect(a.Endpoint()); err != nil { // own endpoint: ignored
		t.Errorf("Connect(own): %v", err)
	}
	if err := a.Shout("nobody", []byte("x")); err != nil {
		t.Errorf("Shout to empty group: %v", err)
	}
}

// TestContextCancelStops: canceling Start's context stops the node.
func TestContextCancelStops(t *testing.T) {
	n, err := New(Config{Bind: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-n.Events():
		if ok {
			t.Error("unexpected event")
		}
	case <-time.After(waitLong):
		t.Fatal("Events not closed after cancel")
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestOverflowKeepsMembership: a consumer that does not read loses data
// events (reported by one OVERFLOW with the count) but no membership event.
func TestOverflowKeepsMembership(t *testing.T) {
	// b's events are not consumed until the end.
	a, ra := startNode(t, Config{Name: "a"})
	cfg := Config{Name: "b", Bind: "127.0.0.1", EventQueue: 4, Peers: []string{a.Endpoint()}, Logger: testLogger()}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.filter = loopbackOnly
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	ra.waitFor(t, 1, waitLong, "ENTER b", isType(EventEnter, b.UUID()))
	const whispers = 50
	for i := range whispers {
		if err := a.Whisper(b.UUID(), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Join("g1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Leave("g1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLong)
	for b.Stats().FramesReceived < whispers+3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// Now read everything.
	var got []Event
	var lost uint64
	timeout := time.After(waitLong)
	for len(got) < 3 {
		select {
		case ev := <-b.Events():
			switch ev.Type {
			case EventEnter, EventJoin, EventLeave:
				got = append(got, ev)
			case EventOverflow:
				lost += ev.Dropped
			}
		case <-timeout:
			t.Fatalf("membership events %v", got)
		}
	}
	if got[0].Type != EventEnter || got[1].Type != EventJoin || got[2].Type != EventLeave {
		t.Errorf("membership events out of order: %v", got)
	}
	if s := b.Stats(); lost == 0 || lost != s.EventsOverflowed {
		t.Errorf("overflow reported %d, stats %d", lost, s.EventsOverflowed)
	}
}
