package mesh

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// zrePeer is a hand-made ZRE peer built from raw sockets and the fact
// sheet alone, standing in for zyre/pyre/gyre: a ROUTER inbox and a DEALER
// to the node under test.
type zrePeer struct {
	t     *testing.T
	uuid  UUID
	inbox *zmq.Socket
	poll  *zmq.Poller
	out   *zmq.Socket
	ep    string
	seq   uint16
}

func newZREPeer(t *testing.T, zctx *zmq.Context, nodeEP string) *zrePeer {
	t.Helper()
	in, err := zctx.NewSocket(zmq.ROUTER)
	if err != nil {
		t.Fatal(err)
	}
	in.SetLinger(0)
	if err := in.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	ep, _ := in.GetLastEndpoint()
	p := &zrePeer{t: t, uuid: newUUID(), inbox: in, ep: ep, poll: zmq.NewPoller()}
	p.poll.Add(in, zmq.POLLIN)
	if nodeEP != "" {
		p.out = rawDealer(t, zctx, zreIdentity(p.uuid), nodeEP)
	}
	t.Cleanup(func() {
		if p.out != nil {
			p.out.Close()
		}
		p.inbox.Close()
	})
	return p
}

// send sends a message with the next sequence number and content frames.
func (p *zrePeer) send(m message, content ...[]byte) {
	p.t.Helper()
	p.seq++
	m.Seq = p.seq
	f, err := m.appendFrame(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	parts := []any{f}
	for _, c := range content {
		parts = append(parts, c)
	}
	if _, err := p.out.SendMessage(parts...); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next message the node sent to our inbox: its routing
// id, decoded frame and content frames.
func (p *zrePeer) recv() ([]byte, message, [][]byte) {
	p.t.Helper()
	polled, err := p.poll.Poll(waitLong)
	if err != nil || len(polled) == 0 {
		p.t.Fatalf("nothing from the node: %v", err)
	}
	parts, err := p.inbox.RecvMessageBytes(0)
	if err != nil || len(parts) < 2 {
		p.t.Fatalf("receive: %v (%d parts)", err, len(parts))
	}
	m, err := parseFrame(parts[1])
	if err != nil {
		p.t.Fatalf("node sent an invalid frame % X: %v", parts[1], err)
	}
	return parts[0], m, parts[2:]
}

// TestWireBehaviour checks the node's side of the conversation with a peer
// built from the fact sheet: routing id, HELLO contents, sequence numbers,
// PING-OK, JOIN/LEAVE status, one-frame payloads, and how it takes zyre
// and pyre content (0, 1, 2 frames), ELECT/LEADER and GOODBYE.
func TestWireBehaviour(t *testing.T) {
	n, rec := startNode(t, Config{Name: "node", Headers: map[string]string{"X-MFS-PROTO": "1"}})
	if err := n.Join("chat"); err != nil {
		t.Fatal(err)
	}
	zctx := zmqContext(t)
	p := newZREPeer(t, zctx, n.Endpoint())
	p.send(message{Type: msgHello, Endpoint: p.ep, Groups: []string{"chat", "ops"}, Status: 2, Name: "zyre1", Headers: []header{{"X-A", "b"}}})

	// The node answers with a DEALER to our inbox and a HELLO with seq 1.
	rid, m, content := p.recv()
	nu := n.UUID()
	wantRID := append([]byte{0x01}, nu[:]...)
	if !bytes.Equal(rid, wantRID) || m.Type != msgHello || m.Seq != 1 || m.Endpoint != n.Endpoint() ||
		len(m.Groups) != 1 || m.Groups[0] != "chat" || m.Status != 1 || m.Name != "node" ||
		len(m.Headers) != 1 || m.Headers[0] != (header{"X-MFS-PROTO", "1"}) || len(content) != 0 {
		t.Fatalf("node HELLO: rid % X, %+v, %d content frames", rid, m, len(content))
	}
	ev := rec.waitFor(t, 1, waitLong, "ENTER", isType(EventEnter, p.uuid))
	if ev.Name != "zyre1" || ev.Endpoint != p.ep || ev.Headers["X-A"] != "b" {
		t.Errorf("ENTER %+v", ev)
	}
	rec.waitFor(t, 1, waitLong, "JOIN chat", isGroupEvent(EventJoin, p.uuid, "chat"))
	rec.waitFor(t, 1, waitLong, "JOIN ops", isGroupEvent(EventJoin, p.uuid, "ops"))

	// PING -> PING-OK with the next sequence number.
	p.send(message{Type: msgPing})
	if _, m, _ = p.recv(); m.Type != msgPingOK || m.Seq != 2 {
		t.Fatalf("want PING-OK seq 2, got %+v", m)
	}
	// JOIN/LEAVE status continues from the HELLO's.
	p.send(message{Type: msgJoin, Group: "dev", Status: 3})
	p.send(message{Type: msgLeave, Group: "ops", Status: 4})
	rec.waitFor(t, 1, waitLong, "JOIN dev", isGroupEvent(EventJoin, p.uuid, "dev"))
	rec.waitFor(t, 1, waitLong, "LEAVE ops", isGroupEvent(EventLeave, p.uuid, "ops"))

	// Content: pyre's empty (no frame), one frame, zyre's two frames
	// (dropped, counted), a shout.
	p.send(message{Type: msgWhisper})
	p.send(message{Type: msgWhisper}, []byte("one"))
	p.send(message{Type: msgWhisper}, []byte("two"), []byte("frames"))
	p.send(message{Type: msgShout, Group: "chat"}, []byte("to chat"))
	// ELECT and LEADER are parsed and ignored, in sequence.
	p.send(message{Type: msgElect, Group: "chat", Candidate: "x"})
	p.send(message{Type: msgLeader, Group: "chat", Candidate: "x"})
	p.send(message{Type: msgWhisper}, []byte("after leader"))
	rec.waitFor(t, 1, waitLong, "empty whisper", isPayload(EventWhisper, p.uuid, ""))
	rec.waitFor(t, 1, waitLong, "whisper", isPayload(EventWhisper, p.uuid, "one"))
	rec.waitFor(t, 1, waitLong, "shout", func(ev Event) bool {
		return ev.Type == EventShout && ev.Group == "chat" && string(ev.Payload) == "to chat"
	})
	rec.waitFor(t, 1, waitLong, "whisper", isPayload(EventWhisper, p.uuid, "after leader"))
	if s := n.Stats(); s.DroppedMultiFrame != 1 || s.DroppedOutOfSequence != 0 || s.StatusMismatches != 0 {
		t.Errorf("stats %+v", s)
	}

	// Our side: JOIN with status 2, WHISPER and SHOUT as exactly one frame.
	if err := n.Join("dev"); err != nil {
		t.Fatal(err)
	}
	if _, m, _ = p.recv(); m.Type != msgJoin || m.Group != "dev" || m.Status != 2 || m.Seq != 3 {
		t.Fatalf("want JOIN dev status 2 seq 3, got %+v", m)
	}
	if err := n.Whisper(p.uuid, []byte("hi zyre")); err != nil {
		t.Fatal(err)
	}
	if _, m, content = p.recv(); m.Type != msgWhisper || m.Seq != 4 || len(content) != 1 || string(content[0]) != "hi zyre" {
		t.Fatalf("want WHISPER seq 4 with one frame, got %+v %q", m, content)
	}
	if err := n.Shout("dev", []byte("hi dev")); err != nil {
		t.Fatal(err)
	}
	if _, m, content = p.recv(); m.Type != msgShout || m.Group != "dev" || m.Seq != 5 || len(content) != 1 || string(content[0]) != "hi dev" {
		t.Fatalf("want SHOUT dev seq 5 with one frame, got %+v %q", m, content)
	}
	if err := n.Shout("ops", []byte("nobody")); err != nil { // p left ops
		t.Fatal(err)
	}
	if err := n.Leave("chat"); err != nil {
		t.Fatal(err)
	}
	if _, m, _ = p.recv(); m.Type != msgLeave || m.Group != "chat" || m.Status != 3 || m.Seq != 6 {
		t.Fatalf("want LEAVE chat status 3 seq 6 (no shout to ops), got %+v", m)
	}

	// A group status that skips is logged and resynchronised, not fatal.
	p.send(message{Type: msgJoin, Group: "x", Status: 42})
	rec.waitFor(t, 1, waitLong, "JOIN x", isGroupEvent(EventJoin, p.uuid, "x"))
	p.send(message{Type: msgLeave, Group: "x", Status: 43})
	rec.waitFor(t, 1, waitLong, "LEAVE x", isGroupEvent(EventLeave, p.uuid, "x"))
	if s := n.Stats(); s.StatusMismatches != 1 {
		t.Errorf("StatusMismatches = %d, want 1", s.StatusMismatches)
	}

	// GOODBYE (zyre gossip mode) removes the peer.
	p.send(message{Type: msgGoodbye})
	rec.waitFor(t, 1, waitLong, "EXIT", isType(EventExit, p.uuid))
	if len(n.Peers()) != 0 {
		t.Errorf("peers after GOODBYE: %+v", n.Peers())
	}
}

// TestSequenceRules: a gap removes the peer (EXIT); the uint16 wrap
// 65535 -> 0 (zyre, gyre) and pyre's 65534 -> 0 do not.
func TestSequenceRules(t *testing.T) {
	n, rec := startNode(t, Config{})
	zctx := zmqContext(t)

	p := newZREPeer(t, zctx, n.Endpoint())
	p.send(message{Type: msgHello, Endpoint: p.ep})
	rec.waitFor(t, 1, waitLong, "ENTER", isType(EventEnter, p.uuid))
	p.seq += 5 // gap
	p.send(message{Type: msgWhisper}, []byte("late"))
	rec.waitFor(t, 1, waitLong, "EXIT", isType(EventExit, p.uuid))
	if s := n.Stats(); s.DroppedOutOfSequence != 1 {
		t.Errorf("DroppedOutOfSequence = %d", s.DroppedOutOfSequence)
	}

	// Wrap-around: 65535 -> 0 (zyre, gyre) and 65534 -> 0 (pyre) are fine.
	for _, last := range []uint16{0xFFFF, 0xFFFE} {
		q := newZREPeer(t, zctx, n.Endpoint())
		q.send(message{Type: msgHello, Endpoint: q.ep})
		rec.waitFor(t, 1, waitLong, "ENTER", isType(EventEnter, q.uuid))
		n.dirMu.RLock()
		np := n.peers[q.uuid]
		n.dirMu.RUnlock()
		// Jump both counters to just below the wrap (sending 65534 PINGs
		// would take too long).
		setGotSeq(t, n, np, last-1)
		q.seq = last - 1
		q.send(message{Type: msgWhisper}, []byte("before wrap"))
		q.seq = 0xFFFF // next is 0
		q.send(message{Type: msgWhisper}, []byte("after wrap"))
		rec.waitFor(t, 1, waitLong, "after wrap", isPayload(EventWhisper, q.uuid, "after wrap"))
		if c := rec.count(isType(EventExit, q.uuid)); c != 0 {
			t.Errorf("wrap after %d: peer removed", last)
		}
	}
}

// setGotSeq sets a peer's received sequence number inside the reactor
// (test only), by running a function on the reactor goroutine.
func setGotSeq(t *testing.T, n *Node, p *peer, v uint16) {
	t.Helper()
	done := make(chan struct{})
	if err := n.post(command{kind: cmdTest, fn: func() { p.gotSeq = v; close(done) }}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(waitLong):
		t.Fatal("reactor did not run the test command")
	}
}

// TestStaticEndpointAlias: a static endpoint may name another address of
// the node's listener than the one its HELLO advertises (--peer
// tcp://127.0.0.1:P for a node advertising its LAN address). The node
// connected to us from the static endpoint's address with the same port:
// its HELLO is matched to the pending connection, and no second DEALER
// (which would make it see two HELLOs from us) is created.
func TestStaticEndpointAlias(t *testing.T) {
	zctx := zmqContext(t)
	p := newZREPeer(t, zctx, "") // its DEALER is connected once the node runs
	ap, _ := parseEndpoint(p.ep)
	advertised := fmt.Sprintf("tcp://127.0.0.2:%d", ap.Port())
	n := startNodeFiltered(t, Config{Peers: []string{p.ep}}, func(ep netip.AddrPort) bool { return ep.Addr().IsLoopback() }, false)
	rec := record(n)
	p.out = rawDealer(t, zctx, zreIdentity(p.uuid), n.Endpoint())

	if _, m, _ := p.recv(); m.Type != msgHello || m.Seq != 1 {
		t.Fatalf("want the node's HELLO, got %+v", m)
	}
	p.send(message{Type: msgHello, Endpoint: advertised, Name: "aliased"})
	ev := rec.waitFor(t, 1, waitLong, "ENTER", isType(EventEnter, p.uuid))
	if ev.Endpoint != advertised {
		t.Errorf("ENTER endpoint %q, want %q", ev.Endpoint, advertised)
	}
	if err := n.Whisper(p.uuid, []byte("via the static connection")); err != nil {
		t.Fatal(err)
	}
	if _, m, c := p.recv(); m.Type != msgWhisper || m.Seq != 2 || string(c[0]) != "via the static connection" {
		t.Fatalf("want WHISPER seq 2 on the first connection, got %+v %q", m, c)
	}
	if s := n.Stats(); s.PeersCreated != 1 {
		t.Errorf("PeersCreated = %d, want 1 (no second DEALER)", s.PeersCreated)
	}
}
