package mesh

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// startNodeFiltered is startNode with a given connect filter.
func startNodeFiltered(t testing.TB, cfg Config, filter func(netip.AddrPort) bool, slowIO bool) *Node {
	t.Helper()
	cfg.Beacon = false
	cfg.Bind = "127.0.0.1"
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.filter = filter
	n.slowIO = slowIO
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	return n
}

// zmqContext returns a fresh context terminated at cleanup (after the
// sockets made from it, which the test closes).
func zmqContext(t testing.TB) *zmq.Context {
	t.Helper()
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zctx.Term() })
	return zctx
}

// rawDealer connects a plain DEALER with the given identity to endpoint.
func rawDealer(t testing.TB, zctx *zmq.Context, identity []byte, endpoint string) *zmq.Socket {
	t.Helper()
	d, err := zctx.NewSocket(zmq.DEALER)
	if err != nil {
		t.Fatal(err)
	}
	d.SetLinger(0)
	d.SetSndhwm(100000)
	d.SetSndtimeo(2 * time.Second)
	if len(identity) > 0 {
		if err := d.SetIdentity(string(identity)); err != nil {
			t.Fatalf("identity % X: %v", identity, err)
		}
	}
	if err := d.Connect(endpoint); err != nil {
		t.Fatal(err)
	}
	return d
}

// isPeer reports whether n knows id.
func isPeer(n *Node, id UUID) bool {
	n.dirMu.RLock()
	defer n.dirMu.RUnlock()
	return n.peers[id] != nil
}

func zreIdentity(u UUID) []byte { return append([]byte{0x01}, u[:]...) }

func helloFrame(t testing.TB, seq uint16, endpoint string) []byte {
	t.Helper()
	m := message{Type: msgHello, Seq: seq, Endpoint: endpoint, Name: "evil", Headers: []header{{"X-EVIL", "1"}}}
	b, err := m.appendFrame(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startSink binds a ROUTER on k loopback ports that swallows whatever the
// node under test sends to the endpoints hostile HELLOs name.
func startSink(t testing.TB, zctx *zmq.Context, k int) []string {
	t.Helper()
	s, err := zctx.NewSocket(zmq.ROUTER)
	if err != nil {
		t.Fatal(err)
	}
	s.SetLinger(0)
	var eps []string
	for range k {
		if err := s.Bind("tcp://127.0.0.1:*"); err != nil {
			t.Fatal(err)
		}
		ep, _ := s.GetLastEndpoint()
		eps = append(eps, ep)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer s.Close()
		p := zmq.NewPoller()
		p.Add(s, zmq.POLLIN)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if polled, _ := p.Poll(50 * time.Millisecond); len(polled) > 0 {
				for range 1000 {
					if _, err := s.RecvMessageBytes(zmq.DONTWAIT); err != nil {
						break
					}
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return eps
}

// TestHelloEndpointValidation: HELLOs naming anything but tcp://IPv4:port
// (port 1..65535) are dropped, and no DEALER is created for them.
func TestHelloEndpointValidation(t *testing.T) {
	n, _ := startNode(t, Config{})
	zctx := zmqContext(t)
	bad := []string{
		"", "ipc:///tmp/zre", "inproc://mesh", "tcp://localhost:5670", "tcp://example.com:5670",
		"tcp://[::1]:5670", "tcp://127.0.0.1:0", "tcp://127.0.0.1:70000", "tcp://*:5670",
		"tcp://0.0.0.0:5670", "tcp://224.0.0.250:5670", "pgm://eth0;239.192.1.1:5555", "tcp://127.0.0.1",
	}
	for _, ep := range bad {
		d := rawDealer(t, zctx, zreIdentity(newUUID()), n.Endpoint())
		if _, err := d.SendBytes(helloFrame(t, 1, ep), 0); err != nil {
			t.Fatal(err)
		}
		defer d.Close()
	}
	deadline := time.Now().Add(waitLong)
	for n.Stats().DroppedMalformed < uint64(len(bad)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := n.Stats(); s.DroppedMalformed != uint64(len(bad)) || s.PeersCreated != 0 || len(n.Peers()) != 0 {
		t.Errorf("stats %+v, peers %v", s, n.Peers())
	}
}

// TestPeerLimits: HELLOs from many UUIDs (each naming its own endpoint)
// create at most MaxPeers peers, and no more than the rate limit allows.
func TestPeerLimits(t *testing.T) {
	zctx := zmqContext(t)
	sinks := startSink(t, zctx, 100)
	allowed := map[netip.AddrPort]bool{}
	for _, ep := range sinks {
		ap, _ := parseEndpoint(ep)
		allowed[ap] = true
	}
	for _, tc := range []struct {
		name        string
		maxPeers    int
		hellos      int
		wantCreated int
	}{
		{"cap", 16, 40, 16},
		{"rate", 1000, 100, newPeerBurst},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNodeFiltered(t, Config{MaxPeers: tc.maxPeers}, func(ep netip.AddrPort) bool { return allowed[ep] }, false)
			start := time.Now()
			for i := range tc.hellos {
				d := rawDealer(t, zctx, zreIdentity(newUUID()), n.Endpoint())
				if _, err := d.SendBytes(helloFrame(t, 1, sinks[i]), 0); err != nil {
					t.Fatal(err)
				}
				defer d.Close()
			}
			deadline := time.Now().Add(waitLong)
			for time.Now().Before(deadline) {
				if s := n.Stats(); s.PeersCreated+s.DroppedPeerLimit >= uint64(tc.hellos) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			elapsed := time.Since(start)
			s := n.Stats()
			// The bucket refills at newPeerRate per second while the HELLOs arrive.
			slack := uint64(elapsed.Seconds()*newPeerRate) + 1
			if s.PeersCreated < uint64(tc.wantCreated) || s.PeersCreated > uint64(tc.wantCreated)+slack ||
				s.PeersCreated+s.DroppedPeerLimit != uint64(tc.hellos) {
				t.Errorf("created %d, refused %d in %v; want %d created (+%d)", s.PeersCreated, s.DroppedPeerLimit, elapsed, tc.wantCreated, slack)
			}
			if s.Peers > uint64(tc.maxPeers) || len(n.Peers()) > tc.maxPeers {
				t.Errorf("%d peers, cap %d", s.Peers, tc.maxPeers)
			}
		})
	}
}

// TestHostilePeer floods a node with 20k random, mutated and hostile frames
// from raw DEALERs while an honest peer keeps talking to it. The node must
// not panic, keep serving the honest peer, keep its peer count within
// MaxPeers and its heap bounded. It runs with the node's own receive path
// and with pebbe's (the fallback).
func TestHostilePeer(t *testing.T) {
	if !rawSocketUsable() {
		t.Error("the fast ZeroMQ path is unusable with this pebbe/zmq4: check zmqio.go")
	}
	for _, slow := range []bool{false, true} {
		t.Run(map[bool]string{false: "fastio", true: "pebbeio"}[slow], func(t *testing.T) { testHostilePeer(t, slow) })
	}
}

func testHostilePeer(t *testing.T, slowIO bool) {
	const (
		maxPeers  = 16
		frames    = 20000
		floodFor  = 40 * time.Second // bound on the flood's duration
		heapBound = 48 << 20
	)
	zctx := zmqContext(t)
	sinks := startSink(t, zctx, 2*maxPeers)
	allowed := map[netip.AddrPort]bool{}
	for _, ep := range sinks {
		ap, _ := parseEndpoint(ep)
		allowed[ap] = true
	}
	sink := func() string { return sinks[rand.IntN(len(sinks))] }

	b, rb := startNode(t, Config{Name: "honest", EvasiveAfter: 500 * time.Millisecond, ExpireAfter: 4 * time.Second})
	bAP, _ := parseEndpoint(b.Endpoint())
	a := startNodeFiltered(t, Config{Name: "target", MaxPeers: maxPeers, EvasiveAfter: 500 * time.Millisecond, ExpireAfter: 4 * time.Second, EventQueue: 64},
		func(ep netip.AddrPort) bool { return allowed[ep] || ep == bAP }, slowIO)

	// a's consumer: counts everything, answers the honest peer's pings.
	var honestGot atomic.Int64
	var events atomic.Int64
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		for ev := range a.Events() {
			events.Add(1)
			if ev.Peer == b.UUID() && ev.Type == EventWhisper {
				honestGot.Add(1)
				a.Whisper(b.UUID(), append([]byte("pong "), ev.Payload...))
			}
		}
	}()
	if err := b.Connect(a.Endpoint()); err != nil {
		t.Fatal(err)
	}
	rb.waitFor(t, 1, waitLong, "ENTER target", isType(EventEnter, a.UUID()))
	// roundTrip: b whispers a until a's answer comes back. Under the flood
	// a's consumer may fall behind and lose data events (the overflow
	// policy), so b retries as the engine would.
	roundTrip := func(tag string) {
		t.Helper()
		deadline := time.Now().Add(waitLong)
		for attempt := 0; ; attempt++ {
			payload := fmt.Sprintf("ping %s %d", tag, attempt)
			if err := b.Whisper(a.UUID(), []byte(payload)); err == nil {
				wait := time.Now().Add(time.Second)
				for time.Now().Before(wait) {
					if rb.count(isPayload(EventWhisper, a.UUID(), "pong "+payload)) > 0 {
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			} else {
				time.Sleep(50 * time.Millisecond)
			}
			if time.Now().After(deadline) {
				t.Fatalf("honest round trip %s failed after %d attempts", tag, attempt+1)
			}
		}
	}
	roundTrip("before")

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapAlloc

	// Peer-count watcher.
	var maxSeen atomic.Int64
	stopWatch := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if p := int64(a.Stats().Peers); p > maxSeen.Load() {
				maxSeen.Store(p)
			}
			select {
			case <-stopWatch:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	rng := rand.New(rand.NewPCG(1, 2))
	evil := newUUID()
	h := rawDealer(t, zctx, zreIdentity(evil), a.Endpoint())
	defer h.Close()
	var seq uint16
	send := func(parts ...[]byte) {
		args := make([]any, len(parts))
		for i, p := range parts {
			args[i] = p
		}
		if _, err := h.SendMessage(args...); err != nil {
			t.Fatalf("hostile send: %v", err)
		}
	}
	next := func() uint16 { seq++; return seq }
	valid := func(s uint16) (message, []byte) {
		var m message
		switch rng.IntN(6) {
		case 0:
			m = message{Type: msgJoin, Group: fmt.Sprintf("g%d", rng.IntN(2000)), Status: byte(rng.IntN(256))}
		case 1:
			m = message{Type: msgLeave, Group: fmt.Sprintf("g%d", rng.IntN(2000)), Status: byte(rng.IntN(256))}
		case 2:
			m = message{Type: msgPing}
		case 3:
			m = message{Type: msgShout, Group: "g1"}
		case 4:
			m = message{Type: msgWhisper}
		default:
			m = message{Type: msgType(8 + rng.IntN(2)), Group: "g", Candidate: "x"}
		}
		m.Seq = s
		b, _ := m.appendFrame(nil)
		return m, b
	}
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	absurd := []string{"ipc:///tmp/x", "inproc://x", "tcp://evil.example:80", "tcp://[::1]:1", "tcp://127.0.0.1:0", "", "tcp://10.1.2.3:4"}
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

	// Bad routing ids: wrong length, wrong prefix.
	for _, id := range [][]byte{{0x01, 1, 2, 3}, append([]byte{0x02}, evil[:]...), append(zreIdentity(evil), 0), []byte("x")} {
		d := rawDealer(t, zctx, id, a.Endpoint())
		d.SendBytes(helloFrame(t, 1, sink()), 0)
		d.SendBytes([]byte{0xAA, 0xA1, 6, 2, 0, 2}, 0)
		defer d.Close()
	}

	start := time.Now()
	sent := 0
	for i := 0; i < frames && time.Since(start) < floodFor; i++ {
		sent++
		switch k := i % 20; {
		case k == 0: // re-HELLO if the node dropped us, so that later frames reach a ready peer
			send([]byte{}[:0:0], helloFrame(t, 1, sink())) // empty first frame: wrong shape, dropped
			if !isPeer(a, evil) {
				seq = 1
				send(helloFrame(t, 1, sink()))
			}
		case k == 1: // HELLO with an absurd endpoint
			send(helloFrame(t, 1, absurd[rng.IntN(len(absurd))]))
		case k == 2: // multi-frame content, content where none belongs
			send([]byte{0xAA, 0xA1, 2, 2, byte(next() >> 8), byte(seq)}, []byte("a"), []byte("b"))
			send([]byte{0xAA, 0xA1, 6, 2, byte(next() >> 8), byte(seq)}, []byte("c"))
		case k == 3 && i%400 == 3: // oversize payload (under the frame cap)
			send([]byte{0xAA, 0xA1, 2, 2, byte(next() >> 8), byte(seq)}, make([]byte, MaxPayload+1))
		case i == frames-1: // frame over ZMQ_MAXMSGSIZE: libzmq drops the connection
			send([]byte{0xAA, 0xA1, 2, 2, byte(next() >> 8), byte(seq)}, make([]byte, maxFrameSize+1))
		case k <= 8: // valid, in sequence, maybe with content
			m, f := valid(next())
			if m.Type.hasContent() {
				send(f, randBytes(rng.IntN(200)))
			} else {
				send(f)
			}
		case k <= 11: // mutated valid frame
			_, f := valid(next())
			switch rng.IntN(4) {
			case 0:
				f[rng.IntN(len(f))] ^= byte(1 << rng.IntN(8))
			case 1:
				f = f[:rng.IntN(len(f))]
			case 2:
				f = append(f, randBytes(1+rng.IntN(8))...)
			case 3:
				f[3] = byte(rng.IntN(256)) // version
			}
			if len(f) < headerLen || f[0] != zreSig0 || f[1] != zreSig1 || f[3] != zreVersion || f[2] == byte(msgHello) {
				seq-- // the node does not count what it cannot recognise (or a HELLO)
			}
			send(f)
		case k <= 13: // random bytes
			send(randBytes(rng.IntN(64)))
		case k == 14: // huge declared lengths
			hf := []byte{0xAA, 0xA1, 1, 2, 0, 1, 0}
			if rng.IntN(2) == 0 {
				hf = append(hf, u32(0xFFFFFFFF)...)
			} else {
				hf = append(append(append(hf, u32(0)...), 0, 0), u32(1)...)
				hf = append(append(hf, 1, 'k'), u32(0xFFFFFFF0)...)
			}
			send(hf)
		case k == 15 && i >= frames*3/4: // HELLO flood from fresh UUIDs (late: it fills the peer cap)
			d := rawDealer(t, zctx, zreIdentity(newUUID()), a.Endpoint())
			d.SendBytes(helloFrame(t, 1, sink()), 0)
			d.SendBytes([]byte{0xAA, 0xA1, 4, 2, 0, 2, 2, 'g', '1', 1}, 0)
			d.SetLinger(time.Second)
			d.Close()
		case k == 19 && i%200 == 19: // sequence gap
			seq += uint16(2 + rng.IntN(100))
			_, f := valid(seq)
			send(f)
		default: // a JOIN/LEAVE storm in sequence with wrong status values
			_, f := valid(next())
			send(f)
		}
		if i%500 == 499 {
			// Pace the flood so that it is read, not lost in queues.
			for a.Stats().FramesReceived < uint64(i)/2 && time.Since(start) < floodFor {
				time.Sleep(time.Millisecond)
			}
		}
		if i%2000 == 1999 {
			roundTrip(fmt.Sprintf("during-%d", i))
		}
	}
	floodTime := time.Since(start)
	roundTrip("after")
	// Let the hostile peers expire (ExpireAfter 4s): only the honest one stays.
	deadline := time.Now().Add(waitLong)
	for len(a.Peers()) != 1 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	close(stopWatch)
	wg.Wait()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapAfter := ms.HeapAlloc
	s := a.Stats()
	t.Logf("flood: %d frame groups in %v; stats %+v; events %d; max peers %d; heap %d -> %d KiB",
		sent, floodTime, s, events.Load(), maxSeen.Load(), heapBefore>>10, heapAfter>>10)
	if p := a.Peers(); len(p) != 1 || p[0].UUID != b.UUID() {
		t.Errorf("peers after expiry: %+v", p)
	}
	if m := maxSeen.Load(); m > maxPeers {
		t.Errorf("peer count reached %d, cap %d", m, maxPeers)
	}
	if heapAfter > heapBefore+heapBound {
		t.Errorf("heap grew from %d to %d KiB", heapBefore>>10, heapAfter>>10)
	}
	for name, v := range map[string]uint64{
		"DroppedRoutingID": s.DroppedRoutingID, "DroppedMalformed": s.DroppedMalformed,
		"DroppedOutOfSequence": s.DroppedOutOfSequence, "DroppedMultiFrame": s.DroppedMultiFrame,
		"DroppedOversize": s.DroppedOversize, "DroppedPeerLimit": s.DroppedPeerLimit,
		"DroppedUnknownPeer": s.DroppedUnknownPeer, "StatusMismatches": s.StatusMismatches,
	} {
		if v == 0 {
			t.Errorf("%s = 0: that input was not exercised", name)
		}
	}
	a.Stop()
	<-aDone
}
