package e2e

// Helpers shared by the hardening tests (hostile, crash, churn,
// resources, load): a raw in-process ZRE node that plays a hostile host,
// raw ZRE frames for DEALER sockets, a .events recorder and /proc readers.
// Every socket binds or connects to 127.0.0.1 only and no beacon is ever
// sent.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"filippo.io/age"
	"fmt"
	"github.com/messagefs/messagefs/chat"
	"github.com/messagefs/messagefs/keyring"
	"github.com/messagefs/messagefs/store"
	zmq "github.com/pebbe/zmq4"
	iofs "io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/mesh"
)

// knownBug skips a test that demonstrates a production bug that is not
// fixed yet, unless MFS_KNOWN_BUGS=1 (then it runs and fails on the bug).
// Remove the call once the bug is fixed.
func knownBug(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("MFS_KNOWN_BUGS") != "1" {
		t.Skipf("known bug (run with MFS_KNOWN_BUGS=1 to see it fail): %s", what)
	}
}

func genKey(t testing.TB) crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubOf(t testing.TB, recipient string) crypto.PublicKey {
	t.Helper()
	k, err := crypto.ParseRecipient(recipient)
	if err != nil {
		t.Fatalf("parsing %q: %v", recipient, err)
	}
	return k
}

func randID(t testing.TB) crypto.MessageID {
	t.Helper()
	id, err := crypto.NewMessageID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// writeMsg sends one message with one write(2).
func writeMsg(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
		t.Fatalf("writing %q to %s: %v", text, path, err)
	}
}

// count returns how many entries of list equal s.
func count(list []string, s string) int {
	n := 0
	for _, l := range list {
		if l == s {
			n++
		}
	}
	return n
}

// pid returns the process id of a running node.
func pid(t testing.TB, n *Node) int {
	t.Helper()
	if n.cmd == nil || n.cmd.Process == nil {
		t.Fatalf("%s is not running", n.Name)
	}
	return n.cmd.Process.Pid
}

// alive reports whether the node's process has not exited.
func alive(n *Node) bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// procStatusKiB returns a "VmRSS"-style field of /proc/PID/status in KiB.
func procStatusKiB(t testing.TB, pid int, field string) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading /proc/%d/status: %v", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return v
				}
			}
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// --- .events recorder ---

// eventWatch records the lines of one open of a node's .events.
type eventWatch struct {
	mu    sync.Mutex
	lines []string
	f     *os.File
	done  chan struct{}
}

// watchEvents opens n's .events and records its lines until the test ends
// or the node stops. Events are seen from the moment it returns.
func watchEvents(t testing.TB, n *Node) *eventWatch {
	t.Helper()
	f, err := os.Open(n.Path(".events"))
	if err != nil {
		t.Fatalf("opening %s/.events: %v", n.Name, err)
	}
	w := &eventWatch{f: f, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		r := bufio.NewReaderSize(f, 1<<20)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				w.mu.Lock()
				w.lines = append(w.lines, line)
				w.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *eventWatch) close() {
	w.f.Close()
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
	}
}

// snapshot returns the lines recorded so far.
func (w *eventWatch) snapshot() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

// count returns how many recorded lines contain substr.
func (w *eventWatch) count(substr string) int {
	n := 0
	for _, l := range w.snapshot() {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// waitFor waits until at least min recorded lines contain substr.
func (w *eventWatch) waitFor(t testing.TB, timeout time.Duration, substr string, min int) {
	t.Helper()
	Eventually(t, timeout, func() error {
		if c := w.count(substr); c < min {
			return fmt.Errorf(".events has %d lines with %q, want >= %d; lines:\n%s", c, substr, min, strings.Join(tail(w.snapshot(), 40), ""))
		}
		return nil
	})
}

func tail(l []string, n int) []string {
	if len(l) > n {
		return l[len(l)-n:]
	}
	return l
}

// --- a raw, hostile ZRE node on loopback (package mesh) ---

// rawPeer is an in-process ZRE node that plays a hostile host on the LAN.
// It announces whatever key it is told to in X-MFS-KEY, records every
// WHISPER and SHOUT it receives, and can send anything.
type rawPeer struct {
	m *mesh.Node

	mu       sync.Mutex
	captured []mesh.Event // WHISPER and SHOUT, payloads copied
	peers    map[mesh.UUID]string
	joinAll  bool
	joined   map[string]bool
}

// startRaw starts a raw ZRE node on 127.0.0.1 without beacons that
// connects to endpoints and announces key (an age1 recipient) in its HELLO.
// With joinAll it joins every messagefs ZRE group ("mfs-...") its peers
// are in, to receive their shouts.
func startRaw(t testing.TB, name, key string, joinAll bool, endpoints ...string) *rawPeer {
	t.Helper()
	m, err := mesh.New(mesh.Config{
		Name:    name,
		Headers: map[string]string{"X-MFS-KEY": key, "X-MFS-PROTO": "1"},
		Bind:    "127.0.0.1",
		Beacon:  false,
		Peers:   endpoints,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := &rawPeer{m: m, peers: map[mesh.UUID]string{}, joinAll: joinAll, joined: map[string]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range m.Events() {
			r.handle(ev)
		}
	}()
	t.Cleanup(func() {
		m.Stop()
		<-done
	})
	return r
}

func (r *rawPeer) handle(ev mesh.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev.Type {
	case mesh.EventEnter:
		r.peers[ev.Peer] = ev.Headers["X-MFS-KEY"]
	case mesh.EventExit:
		delete(r.peers, ev.Peer)
	case mesh.EventJoin:
		if r.joinAll && strings.HasPrefix(ev.Group, "mfs-") && !r.joined[ev.Group] {
			r.joined[ev.Group] = true
			g := ev.Group
			go r.m.Join(g) // never from the event loop: Join waits for the reactor
		}
	case mesh.EventWhisper, mesh.EventShout:
		ev.Payload = append([]byte(nil), ev.Payload...)
		r.captured = append(r.captured, ev)
	}
}

// uuidOf waits until a ready peer announces recipient and returns its UUID.
func (r *rawPeer) uuidOf(t testing.TB, recipient string) mesh.UUID {
	t.Helper()
	var id mesh.UUID
	Eventually(t, 15*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		for u, k := range r.peers {
			if k == recipient {
				id = u
				return nil
			}
		}
		return fmt.Errorf("raw node %s has no ready peer announcing %s", r.m.Name(), recipient)
	})
	return id
}

// groupsOf returns the ZRE groups the peer with uuid is in.
func (r *rawPeer) groupsOf(id mesh.UUID) []string {
	for _, p := range r.m.Peers() {
		if p.UUID == id {
			return p.Groups
		}
	}
	return nil
}

// capturedEvents returns copies of the recorded WHISPER and SHOUT events.
func (r *rawPeer) capturedEvents() []mesh.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mesh.Event(nil), r.captured...)
}

// whisper sends payload to a peer, retrying while its queue is busy.
func (r *rawPeer) whisper(t testing.TB, to mesh.UUID, payload []byte) {
	t.Helper()
	for i := 0; ; i++ {
		err := r.m.Whisper(to, append([]byte(nil), payload...))
		if err == nil {
			return
		}
		if !errors.Is(err, mesh.ErrPeerBusy) || i > 100 {
			t.Fatalf("raw whisper: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rawPeer) shout(t testing.TB, group string, payload []byte) {
	t.Helper()
	if err := r.m.Shout(group, append([]byte(nil), payload...)); err != nil {
		t.Fatalf("raw shout: %v", err)
	}
}

// --- raw ZRE frames, for DEALER sockets that break the rules ---

type zreHeader struct{ k, v string }

func zreStr(b []byte, s string) []byte {
	if len(s) > 255 {
		s = s[:255]
	}
	return append(append(b, byte(len(s))), s...)
}

func zreLongStr(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
}

func zreHead(id byte, seq uint16) []byte {
	return []byte{0xAA, 0xA1, id, 2, byte(seq >> 8), byte(seq)}
}

func zreHello(seq uint16, endpoint, name string, groups []string, headers []zreHeader) []byte {
	b := zreStr(zreHead(1, seq), endpoint)
	b = binary.BigEndian.AppendUint32(b, uint32(len(groups)))
	for _, g := range groups {
		b = zreLongStr(b, g)
	}
	b = append(b, byte(len(groups)))
	b = zreStr(b, name)
	b = binary.BigEndian.AppendUint32(b, uint32(len(headers)))
	for _, h := range headers {
		b = zreStr(b, h.k)
		b = zreLongStr(b, h.v)
	}
	return b
}

func zreWhisper(seq uint16) []byte { return zreHead(2, seq) }

func zreShout(seq uint16, group string) []byte { return zreStr(zreHead(3, seq), group) }

func zreJoin(seq uint16, group string, status byte) []byte {
	return append(zreStr(zreHead(4, seq), group), status)
}

func zreGoodbye(seq uint16) []byte { return zreHead(10, seq) }

// --- 1:1 hostile peers ---

// forgedEnvelope seals body from attacker to victim, then rewrites the
// cleartext sender to claimed: the envelope claims to come from claimed
// but is authenticated with the attacker's key.
func forgedEnvelope(t testing.TB, attacker crypto.PrivateKey, victim, claimed crypto.PublicKey, typ crypto.MessageType, seq uint64, body []byte) []byte {
	t.Helper()
	pw, err := crypto.NewPairwise(attacker, victim)
	if err != nil {
		t.Fatal(err)
	}
	env, err := pw.Seal(rand.Reader, crypto.Header{Type: typ, Seq: seq, ID: randID(t), Time: time.Now()}, body)
	if err != nil {
		t.Fatal(err)
	}
	copy(env[2:2+crypto.KeySize], claimed[:])
	if got, err := crypto.PeekSender(env); err != nil || got != claimed {
		t.Fatalf("forged envelope claims %v, %v", got, err)
	}
	return env
}

// assertNoPlaintext fails if any captured payload contains one of secrets.
func assertNoPlaintext(t *testing.T, who string, evs []mesh.Event, secrets ...string) {
	t.Helper()
	for _, ev := range evs {
		for _, s := range secrets {
			if bytes.Contains(ev.Payload, []byte(s)) {
				t.Errorf("%s received %q in clear in a %v", who, s, ev.Type)
			}
		}
	}
}

// TestUntrustedNodeSeesOnlyCiphertext: a third node that nobody trusts,
// joined to every ZRE group, receives only ciphertext while alice and bob
// talk (1:1 and .all), cannot open any of it, and cannot inject: envelopes
// it seals with its own key but that claim to be from bob are refused
// with a warn event and never shown.
func TestUntrustedNodeSeesOnlyCiphertext(t *testing.T) {
	alice, bob := pair(t)
	eveKey := genKey(t)
	eve := startRaw(t, "eve", eveKey.Public().String(), true, alice.Endpoint(), bob.Endpoint())
	aKey, bKey := pubOf(t, alice.Recipient()), pubOf(t, bob.Recipient())
	aUUID := eve.uuidOf(t, alice.Recipient())
	eve.uuidOf(t, bob.Recipient())
	waitPending(t, alice, eveKey.Public().String())
	waitPending(t, bob, eveKey.Public().String())
	time.Sleep(500 * time.Millisecond) // eve's JOINs reach alice and bob

	secrets := []string{"pw-a2b-" + randHex(8), "pw-b2a-" + randHex(8), "all-a-" + randHex(8), "all-b-" + randHex(8)}
	writeMsg(t, alice.Path("bob"), secrets[0])
	writeMsg(t, bob.Path("alice"), secrets[1])
	writeMsg(t, alice.Path(".all"), secrets[2])
	writeMsg(t, bob.Path(".all"), secrets[3])
	waitLog(t, bob.Path("alice"), []string{"alice: " + secrets[0], "me: " + secrets[1]})
	waitLog(t, alice.Path(".all"), []string{"me: " + secrets[2], "bob: " + secrets[3]})
	waitLog(t, bob.Path(".all"), []string{"alice: " + secrets[2], "me: " + secrets[3]})

	caps := eve.capturedEvents()
	var shouts, whispers int
	for _, ev := range caps {
		switch ev.Type {
		case mesh.EventShout:
			shouts++
			if _, err := crypto.ParseGroupHeader(ev.Payload); err != nil {
				t.Errorf("eve captured a shout that is not a group message: %v", err)
			}
		case mesh.EventWhisper:
			whispers++
			if sender, err := crypto.PeekSender(ev.Payload); err == nil {
				if pw, err := crypto.NewPairwise(eveKey, sender); err == nil {
					if _, body, err := pw.Open(ev.Payload); err == nil {
						t.Errorf("eve opened a whisper: %q", body)
					}
				}
			}
		}
	}
	assertNoPlaintext(t, "eve", caps, secrets...)
	if shouts == 0 {
		t.Errorf("eve captured no shout: she was not in a position to see group ciphertext (whispers %d)", whispers)
	}
	t.Logf("eve captured %d shouts and %d whispers, none readable", shouts, whispers)

	// Injection: eve seals with her own key and claims bob's.
	events := watchEvents(t, alice)
	var shout []byte
	for _, ev := range caps {
		if ev.Type == mesh.EventShout {
			shout = ev.Payload
		}
	}
	injected := "INJECTED-" + randHex(6)
	forged := [][]byte{
		forgedEnvelope(t, eveKey, aKey, bKey, crypto.TypeMessage, 1, []byte(injected)),
		forgedEnvelope(t, eveKey, aKey, bKey, crypto.TypeMessage, 1000, []byte(injected)),
		forgedEnvelope(t, eveKey, aKey, bKey, crypto.TypeAck, 0, make([]byte, 16)),
		forgedEnvelope(t, eveKey, aKey, bKey, crypto.TypeGroupRelay, 0, shout),
	}
	for _, env := range forged {
		eve.whisper(t, aUUID, env)
	}
	// Her own, authentic envelope: she is not trusted, so it is dropped.
	own, err := crypto.NewPairwise(eveKey, aKey)
	if err != nil {
		t.Fatal(err)
	}
	env, err := own.Seal(rand.Reader, crypto.Header{Type: crypto.TypeMessage, Seq: 1, ID: randID(t), Time: time.Now()}, []byte(injected))
	if err != nil {
		t.Fatal(err)
	}
	eve.whisper(t, aUUID, env)

	events.waitFor(t, 10*time.Second, " warn forged ", len(forged))
	time.Sleep(time.Second)
	for _, where := range []string{"bob", ".all"} {
		data, _ := os.ReadFile(alice.Path(where))
		if bytes.Contains(data, []byte(injected)) {
			t.Errorf("alice's %s shows the injected text:\n%s", where, data)
		}
	}
	if n := events.count(injected); n != 0 {
		t.Errorf(".events shows the injected text %d times", n)
	}
	if got := logTexts(t, alice.Path("bob")); len(got) != 2 {
		t.Errorf("alice's conversation with bob changed: %q", got)
	}

	// Honest traffic still flows.
	writeMsg(t, alice.Path("bob"), "after the attack")
	waitLog(t, bob.Path("alice"), []string{"alice: " + secrets[0], "me: " + secrets[1], "alice: after the attack"})
}

// TestImpersonatorOfTrustedKey: raw nodes announce trusted keys (mal-b
// claims bob's key toward alice, mal-a claims alice's key toward bob), so
// alice and bob may route ciphertext to them. What they capture is
// ciphertext; reflecting alice's own envelope back to her is refused with
// a warn event; relaying and replaying bob's envelope to alice shows it
// once.
func TestImpersonatorOfTrustedKey(t *testing.T) {
	alice, bob := pair(t)
	writeMsg(t, alice.Path("bob"), "hello bob")
	writeMsg(t, bob.Path("alice"), "hello alice")
	waitLog(t, alice.Path("bob"), []string{"me: hello bob", "bob: hello alice"})
	waitLog(t, bob.Path("alice"), []string{"alice: hello bob", "me: hello alice"})
	aKey, bKey := pubOf(t, alice.Recipient()), pubOf(t, bob.Recipient())

	malB := startRaw(t, "mal-b", bob.Recipient(), false, alice.Endpoint())
	malA := startRaw(t, "mal-a", alice.Recipient(), false, bob.Endpoint())
	aUUID := malB.uuidOf(t, alice.Recipient())
	malA.uuidOf(t, bob.Recipient())
	time.Sleep(500 * time.Millisecond) // alice and bob handle the ENTERs

	secretAB, secretBA := "a2b-"+randHex(8), "b2a-"+randHex(8)
	writeMsg(t, alice.Path("bob"), secretAB)
	writeMsg(t, bob.Path("alice"), secretBA)

	// Whatever the impostors get, in up to 5 seconds.
	find := func(r *rawPeer, sender crypto.PublicKey) []byte {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			for _, ev := range r.capturedEvents() {
				if s, err := crypto.PeekSender(ev.Payload); ev.Type == mesh.EventWhisper && err == nil && s == sender {
					return ev.Payload
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}
	envAB, envBA := find(malB, aKey), find(malA, bKey)
	assertNoPlaintext(t, "mal-b", malB.capturedEvents(), secretAB, secretBA, "hello")
	assertNoPlaintext(t, "mal-a", malA.capturedEvents(), secretAB, secretBA, "hello")
	t.Logf("mal-b captured %d whispers (alice->bob found: %v), mal-a %d (bob->alice found: %v)",
		len(malB.capturedEvents()), envAB != nil, len(malA.capturedEvents()), envBA != nil)

	events := watchEvents(t, alice)
	t.Run("reflection", func(t *testing.T) {
		if envAB == nil {
			t.Skip("alice routed nothing for bob to the impostor: nothing to reflect")
		}
		before := events.count(" warn ")
		malB.whisper(t, aUUID, envAB)
		Eventually(t, 10*time.Second, func() error {
			if events.count(" warn ") <= before {
				return errors.New("no warn event on alice for her own envelope reflected back")
			}
			return nil
		})
	})
	t.Run("relay and replay", func(t *testing.T) {
		if envBA == nil {
			t.Skip("bob routed nothing for alice to the impostor: nothing to replay")
		}
		for i := 0; i < 3; i++ {
			malB.whisper(t, aUUID, envBA)
			time.Sleep(300 * time.Millisecond)
		}
		Eventually(t, 10*time.Second, func() error {
			if n := count(logTexts(t, alice.Path("bob")), "bob: "+secretBA); n != 1 {
				return fmt.Errorf("alice shows bob's message %d times", n)
			}
			return nil
		})
		time.Sleep(time.Second)
		if n := count(logTexts(t, alice.Path("bob")), "bob: "+secretBA); n != 1 {
			t.Errorf("after replays alice shows bob's message %d times", n)
		}
	})
	if n := count(logTexts(t, alice.Path("bob")), "bob: "+secretAB); n != 0 {
		t.Errorf("alice shows her own message as coming from bob")
	}
	t.Run("replay after the history was deleted and bob re-trusted", func(t *testing.T) {
		if envBA == nil {
			t.Skip("nothing captured to replay")
		}
		run(t, "rm", alice.Path("bob")) // deletes the conversation
		if got := logTexts(t, alice.Path("bob")); len(got) != 0 {
			t.Fatalf("after rm alice still shows %q", got)
		}
		malB.whisper(t, aUUID, envBA)
		time.Sleep(time.Second)
		run(t, "rm", alice.Path("keys", "bob.pub"))
		run(t, "cp", bob.Path("keys", "self.pub"), alice.Path("keys", "bob.pub"))
		malB.whisper(t, aUUID, envBA)
		time.Sleep(time.Second)
		if n := count(logTexts(t, alice.Path("bob")), "bob: "+secretBA); n != 0 {
			t.Errorf("a replayed envelope is shown again after the history was deleted or bob re-trusted (%d times)", n)
		}
	})

	// The impostors stay connected; honest traffic must still flow.
	t.Run("honest traffic flows", func(t *testing.T) {
		writeMsg(t, alice.Path("bob"), "still there?")
		writeMsg(t, bob.Path("alice"), "yes")
		Eventually(t, 20*time.Second, func() error {
			if count(logTexts(t, bob.Path("alice")), "alice: still there?") != 1 {
				return fmt.Errorf("bob did not get alice's message: %q", logTexts(t, bob.Path("alice")))
			}
			if count(logTexts(t, alice.Path("bob")), "bob: yes") != 1 {
				return fmt.Errorf("alice did not get bob's message: %q", logTexts(t, alice.Path("bob")))
			}
			return nil
		})
	})
}

// TestSquattersOnATrustedKey: while bob restarts (on a new port, as every
// node with the default ephemeral --port does), raw nodes announce bob's
// key to alice. When the real bob comes back, alice must still reach him.
func TestSquattersOnATrustedKey(t *testing.T) {
	alice, bob := pair(t)
	writeMsg(t, bob.Path("alice"), "hi")
	waitLog(t, alice.Path("bob"), []string{"bob: hi"})
	bob.Stop()
	for i := 0; i < 3; i++ {
		r := startRaw(t, fmt.Sprintf("squat%d", i), bob.Recipient(), false, alice.Endpoint())
		r.uuidOf(t, alice.Recipient())
	}
	time.Sleep(500 * time.Millisecond)
	bob.Port = FreePort(t)
	bob.Connect(alice)
	bob.Start()
	time.Sleep(time.Second)
	writeMsg(t, alice.Path("bob"), "are you back?")
	Eventually(t, 15*time.Second, func() error {
		if got := logTexts(t, bob.Path("alice")); count(got, "alice: are you back?") != 1 {
			return fmt.Errorf("bob did not get alice's message: %q", got)
		}
		return nil
	})
}

// TestMalformedFramesAndFloods attacks alice's ZRE inbox with raw DEALER
// sockets: garbage from strangers, a ready peer sending malformed and
// forged envelopes, bad content frames, oversized frames, sequence gaps,
// and 2000 HELLOs from as many UUIDs with absurd endpoints and headers.
// Afterwards alice still serves bob, her .events shows warn lines (and no
// raw control character from the attacker), her pending keys are capped
// and her memory stayed bounded.
func TestMalformedFramesAndFloods(t *testing.T) {
	alice, bob := pair(t)
	writeMsg(t, alice.Path("bob"), "warm up")
	writeMsg(t, bob.Path("alice"), "warm up too")
	waitLog(t, alice.Path("bob"), []string{"me: warm up", "bob: warm up too"})
	apid := pid(t, alice)
	rssBefore := procStatusKiB(t, apid, "VmRSS")
	events := watchEvents(t, alice)
	aKey, bKey := pubOf(t, alice.Recipient()), pubOf(t, bob.Recipient())
	_ = aKey

	ds := newDealers(t, alice.Endpoint())
	dealer, send, newIdentity := ds.dealer, ds.send, newZREIdentity
	garbage := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	closedPort := FreePort(t) // nothing listens there
	sent := map[string]int{}
	start := time.Now()

	// 1. Strangers: garbage frames without a HELLO, bad routing ids.
	for i := 0; i < 5; i++ {
		var id []byte
		switch i {
		case 0:
			id = nil // libzmq picks a 5-byte id
		case 1:
			id = []byte{0x02, 1, 2, 3}
		default:
			id = newIdentity()
		}
		d := dealer(id, 0)
		for j := 0; j < 200; j++ {
			send(d, garbage(mrand.IntN(600)))
			sent["stranger garbage"]++
		}
		send(d, zreWhisper(2), []byte("whisper without hello"))
		sent["stranger whisper"]++
	}

	// 2. A ready peer (it sent a valid HELLO) that sends malformed and
	// forged payloads, with correct sequence numbers.
	d := dealer(newIdentity(), 0)
	evilKey := genKey(t).Public().String()
	send(d, zreHello(1, fmt.Sprintf("tcp://127.0.0.1:%d", closedPort), "evil\x1b[31m\n", nil,
		[]zreHeader{{"X-MFS-KEY", evilKey}, {"X-MFS-PROTO", "1"}}))
	seq := uint16(1)
	whisper := func(payload ...[]byte) {
		seq++
		send(d, append([][]byte{zreWhisper(seq)}, payload...)...)
	}
	time.Sleep(200 * time.Millisecond)
	whisper([]byte{})
	sent["empty whisper"]++
	for i := 0; i < 300; i++ {
		whisper(garbage(mrand.IntN(3000)))
		sent["garbage whisper"]++
	}
	for i := 0; i < 300; i++ {
		// Looks like bob's envelope: right version, kind and padded size.
		size := []int{399, 1167, 4239}[i%3]
		env := garbage(size)
		env[0], env[1] = 1, 1
		copy(env[2:], bKey[:])
		copy(env[2+crypto.KeySize:], aKey[:])
		whisper(env)
		sent["forged bob envelope"]++
	}
	for i := 0; i < 100; i++ {
		env := garbage(2 + 64 + mrand.IntN(500))
		env[0], env[1] = 1, byte(mrand.IntN(4))
		copy(env[2:], bKey[:])
		whisper(env)
		sent["malformed envelope"]++
	}
	for i := 0; i < 100; i++ {
		seq++
		group := "mfs-" + randHex(8)
		msg := garbage(400)
		msg[0], msg[1] = 1, 2
		send(d, zreShout(seq, group), msg)
		sent["garbage shout"]++
	}
	whisper([]byte("one"), []byte("two")) // multi-frame content
	sent["multi-frame whisper"]++
	whisper(garbage(70 << 10)) // over mesh.MaxPayload
	sent["oversized payload"]++
	seq++
	send(d, zreJoin(seq, strings.Repeat("g", 255), 77)) // status mismatch
	sent["join"]++
	seq++
	send(d, zreHead(99, seq)) // unknown message id
	sent["unknown id"]++
	send(d, zreWhisper(seq+100), []byte("gap")) // sequence gap: alice drops the peer
	sent["sequence gap"]++

	// 2b. Eight ready peers send 300 forged envelopes of the largest size
	// each (150 MiB in all) as fast as they can.
	var bigWG sync.WaitGroup
	for a := 0; a < 8; a++ {
		d := dealer(newIdentity(), 0)
		send(d, zreHello(1, fmt.Sprintf("tcp://127.0.0.1:%d", 21000+a), "big", nil, nil))
		bigWG.Add(1)
		go func() {
			defer bigWG.Done()
			for i := 0; i < 300; i++ {
				env := garbage(crypto.MaxEnvelope - 1024)
				env[0], env[1] = 1, 1
				copy(env[2:], bKey[:])
				copy(env[2+crypto.KeySize:], aKey[:])
				if _, err := d.SendMessage(zreWhisper(uint16(i+2)), env); err != nil {
					return
				}
			}
		}()
	}
	bigWG.Wait()
	sent["64 KiB forged envelope"] += 8 * 300

	// 3. Oversized frame: libzmq drops the connection (ZMQ_MAXMSGSIZE).
	big := dealer(newIdentity(), 0)
	send(big, zreHello(1, fmt.Sprintf("tcp://127.0.0.1:%d", closedPort), "big", nil, nil))
	send(big, zreWhisper(2), garbage(2<<20))
	sent["2 MiB frame"]++
	send(big, append(zreHello(1, "tcp://127.0.0.1:1", "big2", nil, nil), garbage(1<<20)...))
	sent["1 MiB HELLO"]++

	// 4. 2000 HELLOs from as many UUIDs, absurd endpoints and headers.
	port := alice.Port
	endpoints := []string{
		"", "tcp://", "tcp://999.1.1.1:1", "tcp://127.0.0.1:0", "tcp://127.0.0.1:70000",
		"ipc:///tmp/mfs-evil", "inproc://evil", "tcp://[::1]:5670", "tcp://localhost:5670",
		"tcp://224.0.0.1:5670", "tcp://255.255.255.255:5670", "tcp://0.0.0.0:5670",
		fmt.Sprintf("tcp://127.0.0.1:%d", port), "tcp://127.0.0.1:1\x00evil", strings.Repeat("x", 255),
		"tcp://127.0.0.1:-1", "udp://127.0.0.1:5670", "tcp://127.0.0.1:5670/extra",
	}
	lowOrder := "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z"
	manyHeaders := make([]zreHeader, 64)
	for i := range manyHeaders {
		manyHeaders[i] = zreHeader{fmt.Sprintf("X-H-%d", i), strings.Repeat("v", 4096)}
	}
	manyGroups := make([]string, 1000)
	for i := range manyGroups {
		manyGroups[i] = fmt.Sprintf("mfs-%016x", i)
	}
	const hellos = 2000
	for batch := 0; batch < hellos/100; batch++ {
		var open []*zmq.Socket
		for i := 0; i < 100; i++ {
			k := batch*100 + i
			ep := endpoints[k%len(endpoints)]
			if k%3 == 0 {
				ep = fmt.Sprintf("tcp://127.0.0.1:%d", 20000+k) // valid, nobody there
			}
			var headers []zreHeader
			var groups []string
			switch k % 7 {
			case 0:
				headers = []zreHeader{{"X-MFS-KEY", genKey(t).Public().String()}}
			case 1:
				headers = []zreHeader{{"X-MFS-KEY", "age1garbage"}}
			case 2:
				headers = []zreHeader{{"X-MFS-KEY", lowOrder}}
			case 3:
				headers = []zreHeader{{"X-MFS-KEY", alice.Recipient()}} // our own key
			case 4:
				headers = manyHeaders
			case 5:
				groups = manyGroups
			}
			s := dealer(newIdentity(), 2*time.Second)
			send(s, zreHello(1, ep, fmt.Sprintf("flood\x07%d", k), groups, headers))
			open = append(open, s)
		}
		sent["HELLO flood"] += len(open)
		time.Sleep(50 * time.Millisecond)
		for _, s := range open {
			s.Close() // linger: the HELLO still goes out
		}
		ds.forget(open)
	}

	t.Logf("sent to alice: %v (%v)", sent, time.Since(start))

	// The node is alive and keeps serving bob.
	time.Sleep(2 * time.Second)
	if !alive(alice) {
		t.Fatalf("alice died under attack:\n%s", alice.Log())
	}
	writeMsg(t, alice.Path("bob"), "after the flood")
	writeMsg(t, bob.Path("alice"), "still here")
	Eventually(t, 15*time.Second, func() error {
		if count(logTexts(t, bob.Path("alice")), "alice: after the flood") != 1 {
			return fmt.Errorf("bob: %q", logTexts(t, bob.Path("alice")))
		}
		if count(logTexts(t, alice.Path("bob")), "bob: still here") != 1 {
			return fmt.Errorf("alice: %q", logTexts(t, alice.Path("bob")))
		}
		return nil
	})
	t.Logf("honest traffic flows again %v after the attack began", time.Since(start))
	events.waitFor(t, 10*time.Second, " warn forged ", 1)
	events.waitFor(t, 10*time.Second, " warn malformed ", 1)
	lines := events.snapshot()
	for _, l := range lines {
		if strings.ContainsAny(l[:len(l)-1], "\n\x1b\x07") {
			t.Errorf("raw control characters in an event line: %q", l)
		}
	}
	pending, err := os.ReadDir(alice.Path("keys", "pending"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) > 64 {
		t.Errorf("alice has %d pending keys after the flood; the cap is 64", len(pending))
	}
	peers, _ := os.ReadFile(alice.Path(".peers"))
	rssAfter := procStatusKiB(t, apid, "VmRSS")
	hwm := procStatusKiB(t, apid, "VmHWM")
	t.Logf("alice: VmRSS %d -> %d KiB (peak %d KiB), %d pending keys, %d .peers lines, %d event lines (%d warn forged, %d warn malformed, %d warn overflow)",
		rssBefore, rssAfter, hwm, len(pending), bytes.Count(peers, []byte("\n")), len(lines),
		events.count(" warn forged "), events.count(" warn malformed "), events.count(" warn overflow "))
	if rssAfter-rssBefore > 64<<10 {
		t.Errorf("alice's RSS grew by %d KiB under attack (limit 64 MiB)", rssAfter-rssBefore)
	}
	if strings.Contains(alice.Log(), "panic") {
		t.Errorf("alice's log mentions a panic:\n%s", alice.Log())
	}
}

// dealers opens raw DEALER sockets to one ZRE inbox and closes them all
// when the test ends.
type dealers struct {
	t        testing.TB
	zctx     *zmq.Context
	endpoint string
	socks    []*zmq.Socket
}

func newDealers(t testing.TB, endpoint string) *dealers {
	t.Helper()
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	ds := &dealers{t: t, zctx: zctx, endpoint: endpoint}
	t.Cleanup(func() {
		for _, s := range ds.socks {
			s.SetLinger(0)
			s.Close()
		}
		zctx.Term()
	})
	return ds
}

// dealer connects a DEALER with identity (nil: libzmq picks one); linger
// is how long Close lets queued frames go out.
func (ds *dealers) dealer(identity []byte, linger time.Duration) *zmq.Socket {
	ds.t.Helper()
	d, err := ds.zctx.NewSocket(zmq.DEALER)
	if err != nil {
		ds.t.Fatal(err)
	}
	d.SetLinger(linger)
	d.SetSndhwm(100000)
	d.SetSndtimeo(5 * time.Second)
	if identity != nil {
		if err := d.SetIdentity(string(identity)); err != nil {
			ds.t.Fatal(err)
		}
	}
	if err := d.Connect(ds.endpoint); err != nil {
		ds.t.Fatal(err)
	}
	ds.socks = append(ds.socks, d)
	return d
}

// forget drops sockets the caller closed itself.
func (ds *dealers) forget(closed []*zmq.Socket) {
	ds.socks = slices.DeleteFunc(ds.socks, func(s *zmq.Socket) bool { return slices.Contains(closed, s) })
}

// send sends one multi-part message.
func (ds *dealers) send(d *zmq.Socket, parts ...[]byte) {
	ds.t.Helper()
	ps := make([]any, len(parts))
	for i, p := range parts {
		ps[i] = p
	}
	if _, err := d.SendMessage(ps...); err != nil {
		ds.t.Fatalf("raw send: %v", err)
	}
}

// newZREIdentity returns a ZRE routing id (0x01 and a random UUID).
func newZREIdentity() []byte {
	id := make([]byte, 17)
	rand.Read(id)
	id[0] = 0x01
	return id
}

// nodeUUID reads a node's ZRE UUID from its log.
func nodeUUID(t testing.TB, n *Node) mesh.UUID {
	t.Helper()
	var u mesh.UUID
	Eventually(t, 10*time.Second, func() error {
		m := regexp.MustCompile(`msg="node running" uuid=([0-9A-F]{32})`).FindAllStringSubmatch(n.Log(), -1)
		if m == nil {
			return fmt.Errorf("%s's log does not show its UUID", n.Name)
		}
		var err error
		u, err = mesh.ParseUUID(m[len(m)-1][1])
		return err
	})
	return u
}

// TestSpoofedDepartures: a LAN host can make alice drop bob at the ZRE
// level (ZRE authenticates nothing): a HELLO from a new UUID that names
// bob's endpoint ("the node there was replaced"), or frames sent under
// bob's own routing id (the ROUTER hands a routing id over to the newest
// connection) with a sequence gap. The layers above treat that as a hint:
// alice must reach bob again within a bounded time, exactly once.
func TestSpoofedDepartures(t *testing.T) {
	// delivered sends text both ways and returns how long it took until
	// both sides show it exactly once.
	delivered := func(t *testing.T, alice, bob *Node, text string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		writeMsg(t, alice.Path("bob"), text)
		writeMsg(t, bob.Path("alice"), text)
		Eventually(t, within, func() error {
			if n := count(logTexts(t, bob.Path("alice")), "alice: "+text); n != 1 {
				return fmt.Errorf("bob shows alice's %q %d times", text, n)
			}
			if n := count(logTexts(t, alice.Path("bob")), "bob: "+text); n != 1 {
				return fmt.Errorf("alice shows bob's %q %d times", text, n)
			}
			return nil
		})
		return time.Since(start)
	}
	takeover := func(ds *dealers, bob *Node) {
		d := ds.dealer(newZREIdentity(), 0)
		ds.send(d, zreHello(1, bob.Endpoint(), "bob", nil, []zreHeader{{"X-MFS-KEY", bob.Recipient()}}))
	}
	t.Run("endpoint takeover", func(t *testing.T) {
		alice, bob := pair(t)
		time.Sleep(2500 * time.Millisecond) // past mesh's helloGuard: see the next subtest
		ds := newDealers(t, alice.Endpoint())
		takeover(ds, bob)
		time.Sleep(300 * time.Millisecond)
		t.Logf("delivered %v after the takeover", delivered(t, alice, bob, "after takeover", 10*time.Second))
	})
	t.Run("endpoint takeover right after connecting", func(t *testing.T) {
		knownBug(t, "mesh: a HELLO that takes over bob's endpoint within helloGuard (2s) of bob's HELLO to alice makes bob restart alice in place (reactor.handleHello) without a new HELLO; alice has dropped bob's UUID, so bob->alice is dropped as 'not from a ready peer' until the impostor expires (30s)")
		alice, bob := pair(t)
		ds := newDealers(t, alice.Endpoint())
		takeover(ds, bob)
		time.Sleep(300 * time.Millisecond)
		t.Logf("delivered %v after the takeover", delivered(t, alice, bob, "after takeover", 10*time.Second))
	})
	t.Run("routing id handover", func(t *testing.T) {
		alice, bob := pair(t)
		ds := newDealers(t, alice.Endpoint())
		bu := nodeUUID(t, bob)
		d := ds.dealer(append([]byte{0x01}, bu[:]...), 0)
		ds.send(d, zreGoodbye(60000)) // sequence gap: alice removes bob
		time.Sleep(300 * time.Millisecond)
		// Alice finds bob again with a fresh HELLO to her static endpoint
		// (after ExpireAfter/2 = 15s).
		t.Logf("delivered %v after the spoofed departure", delivered(t, alice, bob, "after spoofed goodbye", 30*time.Second))
	})
	t.Run("takeover during a HELLO flood", func(t *testing.T) {
		alice, bob := pair(t)
		time.Sleep(2500 * time.Millisecond) // past mesh's helloGuard
		ds := newDealers(t, alice.Endpoint())
		// 100 HELLOs empty the new-peer limiter (burst 64, 16/s); the
		// takeover gets the one token that comes back in 80ms, and bob's
		// answering HELLO finds none.
		var open []*zmq.Socket
		for i := 0; i < 100; i++ {
			d := ds.dealer(newZREIdentity(), time.Second)
			ds.send(d, zreHello(1, fmt.Sprintf("tcp://127.0.0.1:%d", 20000+i), "flood", nil, nil))
			open = append(open, d)
		}
		time.Sleep(500 * time.Millisecond)
		for _, d := range open {
			d.Close()
		}
		ds.forget(open)
		for i := 0; i < 20; i++ {
			d := ds.dealer(newZREIdentity(), time.Second)
			ds.send(d, zreHello(1, fmt.Sprintf("tcp://127.0.0.1:%d", 20100+i), "flood", nil, nil))
		}
		time.Sleep(80 * time.Millisecond)
		takeover(ds, bob)
		time.Sleep(300 * time.Millisecond)
		t.Logf("delivered %v after the takeover", delivered(t, alice, bob, "after takeover", 10*time.Second))
	})
}

// --- groups ---

// identityOf loads a node's private key from its identity file.
func identityOf(t testing.TB, n *Node) crypto.PrivateKey {
	t.Helper()
	k, err := keyring.LoadIdentity(n.Identity, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// receivingChains opens a stopped node's database and returns the ids of
// the group chains it can open (its receiving chains).
func receivingChains(t testing.TB, n *Node) map[crypto.ChainID]bool {
	t.Helper()
	if alive(n) {
		t.Fatalf("%s must be stopped before its database is read", n.Name)
	}
	id, err := age.ParseX25519Identity(identityOf(t, n).String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(filepath.Join(n.State, "messagefs.db"), id, store.Options{})
	if err != nil {
		t.Fatalf("opening %s's database: %v", n.Name, err)
	}
	defer s.Close()
	chains := map[crypto.ChainID]bool{}
	err = s.View(func(tx *store.Tx) error {
		return tx.Secrets("rchain/", func(name string, v []byte) error {
			b, err := hex.DecodeString(strings.TrimPrefix(name, "rchain/"))
			if err != nil || len(b) != len(crypto.ChainID{}) {
				return fmt.Errorf("odd receiving chain name %q", name)
			}
			chains[crypto.ChainID(b)] = true
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return chains
}

// teamZRE waits until spy sees the ZRE group that all of members are in
// and none of others is, and returns its name.
func teamZRE(t testing.TB, spy *rawPeer, members []mesh.UUID, others []mesh.UUID) string {
	t.Helper()
	var name string
	Eventually(t, 15*time.Second, func() error {
		count := map[string]int{}
		for _, u := range members {
			for _, g := range spy.groupsOf(u) {
				count[g]++
			}
		}
		for _, u := range others {
			for _, g := range spy.groupsOf(u) {
				delete(count, g)
			}
		}
		var found []string
		for g, c := range count {
			if c == len(members) && strings.HasPrefix(g, "mfs-") {
				found = append(found, g)
			}
		}
		if len(found) != 1 {
			return fmt.Errorf("ZRE groups common to the members only: %v", found)
		}
		name = found[0]
		return nil
	})
	return name
}

// shoutsFrom returns the group messages spy captured in group from uuid.
func shoutsFrom(spy *rawPeer, group string, from mesh.UUID) [][]byte {
	var out [][]byte
	for _, ev := range spy.capturedEvents() {
		if ev.Type == mesh.EventShout && ev.Group == group && ev.Peer == from {
			out = append(out, ev.Payload)
		}
	}
	return out
}

// waitShout waits until spy has n shouts in group from uuid and returns
// the last.
func waitShout(t testing.TB, spy *rawPeer, group string, from mesh.UUID, n int) []byte {
	t.Helper()
	var last []byte
	Eventually(t, 10*time.Second, func() error {
		s := shoutsFrom(spy, group, from)
		if len(s) < n {
			return fmt.Errorf("spy captured %d shouts from %s in %s, want %d", len(s), from.Short(), group, n)
		}
		last = s[n-1]
		return nil
	})
	return last
}

func groupHeader(t testing.TB, msg []byte) crypto.GroupHeader {
	t.Helper()
	h, err := crypto.ParseGroupHeader(msg)
	if err != nil {
		t.Fatalf("captured shout is not a group message: %v", err)
	}
	return h
}

// TestGroupHostile: alice, bob and carol are in team; dave is trusted by
// alice for 1:1 only; eve, an untrusted raw node, joins team's ZRE group.
// Neither learns a word of the group. Forged group messages (a flipped
// signature byte, a swapped chain id, a chain claiming bob as its owner),
// a forged relay, a member relaying another member's message, and a
// non-member's membership change are refused with warn events and never
// shown; a replayed group message is refused (warn replay) and shown once.
func TestGroupHostile(t *testing.T) {
	alice, bob, carol := trio(t)
	dave := NewNode(t, "dave")
	dave.Connect(alice)
	dave.Start()
	trust(t, alice, dave)

	eveKey := genKey(t)
	eve := startRaw(t, "eve", eveKey.Public().String(), true, alice.Endpoint(), bob.Endpoint(), carol.Endpoint(), dave.Endpoint())
	aU, bU, cU := eve.uuidOf(t, alice.Recipient()), eve.uuidOf(t, bob.Recipient()), eve.uuidOf(t, carol.Recipient())
	dU := eve.uuidOf(t, dave.Recipient())
	team := teamZRE(t, eve, []mesh.UUID{aU, bU, cU}, []mesh.UUID{dU})
	Eventually(t, 10*time.Second, func() error {
		if !slices.Contains(eve.m.Groups(), team) {
			return fmt.Errorf("eve has not joined %s yet", team)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // eve's JOIN reaches the members

	secrets := map[*Node]string{}
	var want []string
	for _, n := range []*Node{alice, bob, carol} {
		secrets[n] = "team-" + n.Name + "-" + randHex(8)
		writeMsg(t, n.Path("team", ".all"), secrets[n])
		want = append(want, n.Name+": "+secrets[n])
		for _, r := range []*Node{alice, bob, carol} {
			Eventually(t, 15*time.Second, func() error {
				if !slices.Contains(logTexts(t, r.Path("team", ".all")), strings.Replace(want[len(want)-1], r.Name+":", "me:", 1)) {
					return fmt.Errorf("%s lacks %q", r.Name, want[len(want)-1])
				}
				return nil
			})
		}
	}
	writeMsg(t, alice.Path("dave"), "for dave only")
	waitLog(t, dave.Path("alice"), []string{"alice: for dave only"})

	capB := waitShout(t, eve, team, bU, 1)
	capC := waitShout(t, eve, team, cU, 1)
	hB, hC := groupHeader(t, capB), groupHeader(t, capC)
	if hB.Group != hC.Group || hB.Chain == hC.Chain {
		t.Fatalf("captured headers: bob %x/%x, carol %x/%x", hB.Group, hB.Chain[:4], hC.Group, hC.Chain[:4])
	}
	all := []string{secrets[alice], secrets[bob], secrets[carol]}
	assertNoPlaintext(t, "eve", eve.capturedEvents(), all...)

	// dave: nothing of the group anywhere in his mount or his log.
	if _, err := os.Stat(dave.Path("team")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dave has a team directory: %v", err)
	}
	filepath.WalkDir(dave.Mount, func(path string, d iofs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == ".events" {
			return nil
		}
		data, _ := os.ReadFile(path)
		for _, s := range all {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("dave's %s shows the group's %q", path, s)
			}
		}
		return nil
	})
	for _, s := range all {
		if strings.Contains(dave.Log(), s) {
			t.Errorf("dave's log contains %q", s)
		}
	}

	watchA, watchC := watchEvents(t, alice), watchEvents(t, carol)
	aKey, bKey := pubOf(t, alice.Recipient()), pubOf(t, bob.Recipient())

	// 1. A flipped signature byte.
	flipped := bytes.Clone(capB)
	flipped[len(flipped)-1] ^= 0x01
	eve.shout(t, team, flipped)
	// 2. Bob's message under carol's chain id.
	swapped := bytes.Clone(capB)
	copy(swapped[18:50], hC.Chain[:])
	eve.shout(t, team, swapped)
	// 3. A chain of eve's that claims bob as its owner, sent under bob's
	// chain id (her own id is unknown, so it would only be held).
	fake, err := crypto.NewSenderChain(rand.Reader, hB.Group, bKey)
	if err != nil {
		t.Fatal(err)
	}
	fid := randID(t)
	forged, err := fake.Seal(rand.Reader, append(append(fid[:], make([]byte, 8)...), "FORGED-GROUP"...))
	if err != nil {
		t.Fatal(err)
	}
	held := bytes.Clone(forged)
	copy(forged[18:50], hB.Chain[:])
	eve.shout(t, team, forged)
	eve.shout(t, team, held)
	// 4. A relay that claims to come from bob over the pairwise channel.
	eve.whisper(t, aU, forgedEnvelope(t, eveKey, aKey, bKey, crypto.TypeGroupRelay, 0, capC))
	watchA.waitFor(t, 10*time.Second, " warn forged ", 4)
	watchC.waitFor(t, 10*time.Second, " warn forged ", 2)

	// 5. Replays: the same message again, also under another ZRE group.
	eve.shout(t, team, capB)
	for _, g := range eve.m.Groups() {
		eve.shout(t, g, capB)
	}
	watchA.waitFor(t, 10*time.Second, " warn replay ", 1)
	watchC.waitFor(t, 10*time.Second, " warn replay ", 1)

	// 6. Bob, a member, relays carol's message as if it were his.
	bobPW, err := crypto.NewPairwise(identityOf(t, bob), aKey)
	if err != nil {
		t.Fatal(err)
	}
	relay, err := bobPW.Seal(rand.Reader, crypto.Header{Type: crypto.TypeGroupRelay, ID: randID(t), Time: time.Now()}, capC)
	if err != nil {
		t.Fatal(err)
	}
	before := watchA.count(" warn ")
	eve.whisper(t, aU, relay)
	Eventually(t, 10*time.Second, func() error {
		if watchA.count(" warn ") <= before {
			return errors.New("no warn on alice for bob relaying carol's message")
		}
		return nil
	})

	// 7. Dave, trusted for 1:1 only, announces himself as a member.
	dave.Stop() // his real node must not use the same sequence numbers
	davePW, err := crypto.NewPairwise(identityOf(t, dave), aKey)
	if err != nil {
		t.Fatal(err)
	}
	daveKey := pubOf(t, dave.Recipient())
	body := fmt.Sprintf(`{"op":"add","group":"%x","members":["%x"]}`, hB.Group[:], daveKey[:])
	add, err := davePW.Seal(rand.Reader, crypto.Header{Type: crypto.TypeMembership, Seq: 1, ID: randID(t), Time: time.Now()}, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	before = watchA.count(" warn forged ")
	eve.whisper(t, aU, add)
	watchA.waitFor(t, 10*time.Second, " warn forged ", before+1)
	if _, err := os.Stat(alice.Path("team", "dave")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dave became a member of alice's team: %v", err)
	}

	time.Sleep(time.Second)
	for _, r := range []*Node{alice, bob, carol} {
		got := logTexts(t, r.Path("team", ".all"))
		if len(got) != 3 {
			t.Errorf("%s/team/.all has %d messages after the attacks, want 3: %q", r.Name, len(got), got)
		}
		data, _ := os.ReadFile(r.Path("team", ".all"))
		if bytes.Contains(data, []byte("FORGED")) {
			t.Errorf("%s shows a forged group message", r.Name)
		}
	}
	t.Logf("alice: %d warn forged, %d warn replay; carol: %d warn forged, %d warn replay",
		watchA.count(" warn forged "), watchA.count(" warn replay "), watchC.count(" warn forged "), watchC.count(" warn replay "))

	// The group still works.
	writeMsg(t, bob.Path("team", ".all"), "still working")
	for _, r := range []*Node{alice, carol} {
		Eventually(t, 15*time.Second, func() error {
			if count(logTexts(t, r.Path("team", ".all")), "bob: still working") != 1 {
				return fmt.Errorf("%s: %q", r.Name, logTexts(t, r.Path("team", ".all")))
			}
			return nil
		})
	}
}

// TestGroupExMemberCannotRead: after carol is revoked (rm keys/carol.pub
// on alice and bob) or leaves (rmdir team), alice and bob rotate their
// chains: what they send next is under chains carol never received (her
// database, read after she stopped, holds no such receiving chain), and
// she shows none of it.
func TestGroupExMemberCannotRead(t *testing.T) {
	for _, how := range []string{"revoked", "left"} {
		was := map[string]string{"revoked": "was revoked", "left": "left"}[how]
		t.Run(how, func(t *testing.T) {
			alice, bob, carol := trio(t)
			spy := startRaw(t, "spy", genKey(t).Public().String(), true, alice.Endpoint(), bob.Endpoint(), carol.Endpoint())
			aU, bU := spy.uuidOf(t, alice.Recipient()), spy.uuidOf(t, bob.Recipient())
			spy.uuidOf(t, carol.Recipient())
			// The spy joins every messagefs ZRE group it sees (everyone's
			// and team's); team's is where the team/.all messages go.
			Eventually(t, 10*time.Second, func() error {
				if g := spy.m.Groups(); len(g) < 2 {
					return fmt.Errorf("spy is in ZRE groups %v, want everyone's and team's", g)
				}
				return nil
			})
			time.Sleep(500 * time.Millisecond)

			writeMsg(t, alice.Path("team", ".all"), "before")
			writeMsg(t, bob.Path("team", ".all"), "before too")
			waitLog(t, carol.Path("team", ".all"), []string{"alice: before", "bob: before too"})
			var team string
			Eventually(t, 10*time.Second, func() error {
				for _, ev := range spy.capturedEvents() {
					if ev.Type == mesh.EventShout && ev.Peer == aU {
						team = ev.Group
						return nil
					}
				}
				return errors.New("spy captured no shout from alice")
			})
			old := map[crypto.ChainID]string{
				groupHeader(t, waitShout(t, spy, team, aU, 1)).Chain: "alice's first chain",
				groupHeader(t, waitShout(t, spy, team, bU, 1)).Chain: "bob's first chain",
			}

			switch how {
			case "revoked":
				run(t, "rm", alice.Path("keys", "carol.pub"))
				run(t, "rm", bob.Path("keys", "carol.pub"))
			case "left":
				if err := os.Remove(carol.Path("team")); err != nil {
					t.Fatalf("rmdir team: %v", err)
				}
				for _, n := range []*Node{alice, bob} {
					Eventually(t, 15*time.Second, func() error {
						if _, err := os.Stat(n.Path("team", "carol")); err == nil {
							return fmt.Errorf("%s still lists carol in team", n.Name)
						}
						return nil
					})
				}
			}
			writeMsg(t, alice.Path("team", ".all"), "after A")
			writeMsg(t, bob.Path("team", ".all"), "after B")
			waitLog(t, alice.Path("team", ".all"), []string{"me: before", "bob: before too", "me: after A", "bob: after B"})
			waitLog(t, bob.Path("team", ".all"), []string{"alice: before", "me: before too", "alice: after A", "me: after B"})
			newChains := map[crypto.ChainID]string{
				groupHeader(t, waitShout(t, spy, team, aU, 2)).Chain: "alice's chain after",
				groupHeader(t, waitShout(t, spy, team, bU, 2)).Chain: "bob's chain after",
			}
			for c, what := range newChains {
				if _, ok := old[c]; ok {
					t.Errorf("%s is the chain carol had before: not rotated", what)
				}
			}
			if how == "revoked" {
				// carol still thinks she is a member; what she sends is
				// refused (her key is no longer trusted).
				writeMsg(t, carol.Path("team", ".all"), "carol after revoke")
			}
			time.Sleep(2 * time.Second)
			if data, err := os.ReadFile(carol.Path("team", ".all")); err == nil && (bytes.Contains(data, []byte("after A")) || bytes.Contains(data, []byte("after B"))) {
				t.Errorf("carol shows a message sent after she %s:\n%s", was, data)
			}
			for _, n := range []*Node{alice, bob} {
				if data, _ := os.ReadFile(n.Path("team", ".all")); bytes.Contains(data, []byte("carol after revoke")) {
					t.Errorf("%s shows carol's message after revoking her", n.Name)
				}
			}
			carol.Stop()
			chains := receivingChains(t, carol)
			for c, what := range old {
				if !chains[c] {
					t.Errorf("carol's database lacks %s (%x): the check below would prove nothing", what, c[:4])
				}
			}
			for c, what := range newChains {
				if chains[c] {
					t.Errorf("carol's database holds %s (%x): she can decrypt what was sent after she %s", what, c[:4], was)
				}
			}
			t.Logf("carol holds %d receiving chains; none of the %d chains used after she %s", len(chains), len(newChains), was)
		})
	}
}

// --- hostile local and remote input ---

// unsafeRunes returns the runes of s that must never reach a terminal raw:
// C0 controls other than tab and newline, DEL, C1 controls, Unicode format
// characters (bidi, zero-width) and the line/paragraph separators.
func unsafeRunes(s string) []rune {
	var bad []rune
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f),
			unicode.Is(unicode.Cf, r), r == '\u2028', r == '\u2029':
			bad = append(bad, r)
		}
	}
	return bad
}

// errnoOf returns the errno inside err (0 for nil, -1 if none).
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return ^syscall.Errno(0)
}

// TestHostileText: remote text with terminal escapes, bidi overrides,
// zero-width characters, C1 controls, NUL, CR and a forged log line is
// shown sanitized by cat and escaped on one line in .events; a hostile ZRE
// name never appears; invitations from a trusted peer with hostile group
// names create safely named directories.
func TestHostileText(t *testing.T) {
	alice, bob := pair(t)
	events := watchEvents(t, alice)
	hostile := "\x1b[2J\x1b]0;pwned\x07 clear \u202eevil\u202c \u2066iso\u2069 zw\u200bj\u200d \u0085nel \u009b31m csi" +
		" \x00nul \rcr \x7fdel \u2028ls \ufeffbom \u061calm \x1bP+q\x1b\\ \x08bs"
	forgedLine := "first\n2026-01-01T00:00:00Z bob I never said this\n\x1b[1A\x1b[2Kgone"
	writeMsg(t, bob.Path("alice"), hostile)
	writeMsg(t, bob.Path("alice"), forgedLine)
	Eventually(t, 15*time.Second, func() error {
		if got := logTexts(t, alice.Path("bob")); len(got) != 2 {
			return fmt.Errorf("alice has %d messages from bob", len(got))
		}
		return nil
	})
	for _, n := range []*Node{alice, bob} {
		out := run(t, "cat", n.Path(n.peerName(alice, bob)))
		if bad := unsafeRunes(out); len(bad) > 0 {
			t.Errorf("cat of %s's conversation shows unsafe characters %q:\n%q", n.Name, bad, out)
		}
		for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if !strings.HasPrefix(line, "\t") && !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (me|alice|bob) `).MatchString(line) {
				t.Errorf("%s's line %d is neither a log line nor a continuation: %q", n.Name, i, line)
			}
		}
		if c := strings.Count(out, "I never said this"); c != 1 || strings.Contains(out, "\n2026-01-01T00:00:00Z bob I never") {
			t.Errorf("the forged log line stands on its own in %s's log:\n%s", n.Name, out)
		}
	}
	events.waitFor(t, 10*time.Second, " msg bob bob ", 2)
	for _, l := range events.snapshot() {
		if bad := unsafeRunes(strings.TrimSuffix(l, "\n")); len(bad) > 0 || strings.Count(l, "\n") != 1 {
			t.Errorf("unsafe event line %q (unsafe %q)", l, bad)
		}
	}
	if n := events.count("I never said this"); n != 1 {
		t.Errorf("the forged line is in %d event lines, want 1 (escaped inside bob's message)", n)
	}

	// A raw node with a hostile ZRE name and an untrusted key.
	evilName := "zrename\x1b]0;pwned\x07\n2026-01-01T00:00:00Z msg bob bob zreforged"
	mallory := genKey(t)
	mal := startRaw(t, evilName, mallory.Public().String(), false, alice.Endpoint())
	aU := mal.uuidOf(t, alice.Recipient())
	waitPending(t, alice, mallory.Public().String())
	for _, f := range []string{".peers", ".outbox"} {
		data, _ := os.ReadFile(alice.Path(f))
		if bytes.Contains(data, []byte("zrename")) || len(unsafeRunes(string(data))) > 0 {
			t.Errorf("alice's %s shows the hostile ZRE name: %q", f, data)
		}
	}
	if events.count("zrename") != 0 || events.count("zreforged") != 0 {
		t.Errorf("alice's .events shows the hostile ZRE name: %q", events.snapshot())
	}

	// Alice trusts mallory; mallory invites her to groups with hostile
	// names (membership messages are numbered: 1, 2, ...).
	fpr := waitPending(t, alice, mallory.Public().String())
	run(t, "mv", alice.Path("keys", "pending", fpr+".pub"), alice.Path("keys", "mallory.pub"))
	pw, err := crypto.NewPairwise(mallory, pubOf(t, alice.Recipient()))
	if err != nil {
		t.Fatal(err)
	}
	aKey := pubOf(t, alice.Recipient())
	names := []string{"../../etc", "\x1b[2Jteam", "keys", "bob", ".hidden", strings.Repeat("a", 200), "team\nfake"}
	for i, name := range names {
		body, _ := json.Marshal(map[string]any{"op": "invite", "group": randHex(16), "name": name, "members": []string{hex.EncodeToString(aKey[:])}})
		env, err := pw.Seal(rand.Reader, crypto.Header{Type: crypto.TypeMembership, Seq: uint64(i + 1), ID: randID(t), Time: time.Now()}, body)
		if err != nil {
			t.Fatal(err)
		}
		mal.whisper(t, aU, env)
	}
	events.waitFor(t, 10*time.Second, " invite ", len(names))
	entries, err := os.ReadDir(alice.Mount)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "keys" {
			dirs = append(dirs, e.Name())
			if keyring.ValidAlias(e.Name()) != nil {
				t.Errorf("an invitation created directory %q", e.Name())
			}
		}
	}
	if len(dirs) != len(names) {
		t.Errorf("invitations created %d directories, want %d: %q", len(dirs), len(names), dirs)
	}
	t.Logf("hostile group names became %q", dirs)
}

// peerName returns the name of n's conversation file with the other of a, b.
func (n *Node) peerName(a, b *Node) string {
	if n == a {
		return b.Name
	}
	return a.Name
}

// TestHostileLocalInput: bad key files, enormous writes, invalid UTF-8
// and hostile names get clear errnos, and nothing is stored: keys/ and
// the keyring on disk, the root and the history are unchanged.
func TestHostileLocalInput(t *testing.T) {
	alice, bob := pair(t)
	if err := os.Mkdir(alice.Path("team"), 0o700); err != nil {
		t.Fatal(err)
	}
	ls := func(dir string) string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return strings.Join(names, " ")
	}
	rootBefore, keysBefore, ringBefore := ls(alice.Mount), ls(alice.Path("keys")), ls(filepath.Join(alice.State, "keys"))
	bobKey := bob.Recipient()
	other := genKey(t).Public().String()
	lines := func(n int, s string) string { return strings.Repeat(s+"\n", n) }
	binary := make([]byte, 512)
	rand.Read(binary)
	binary = append(binary, '\n')

	writeFile := func(path string, data []byte) error {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		_, werr := f.Write(data)
		cerr := f.Close()
		if werr != nil {
			return werr
		}
		return cerr
	}
	type tc struct {
		name string
		do   func() error
		want []syscall.Errno // any of
	}
	key := func(name, content string) func() error {
		return func() error { return writeFile(alice.Path("keys", name), []byte(content)) }
	}
	msg := func(data []byte) func() error {
		return func() error {
			f, err := os.OpenFile(alice.Path("bob"), os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write(data)
			return err
		}
	}
	mkdir := func(name string) func() error { return func() error { return os.Mkdir(alice.Path(name), 0o700) } }
	touch := func(elem ...string) func() error {
		return func() error { return writeFile(alice.Path(elem...), nil) }
	}
	EINVAL, EEXIST, EACCES, ENOENT, EPERM := syscall.EINVAL, syscall.EEXIST, syscall.EACCES, syscall.ENOENT, syscall.EPERM
	cases := []tc{
		{"key: 1 MiB of comments", key("huge.pub", lines(1<<15, "# "+strings.Repeat("c", 30))), []syscall.Errno{syscall.EFBIG}},
		{"key: two keys", key("two.pub", bobKey+"\n"+other+"\n"), []syscall.Errno{EINVAL, EEXIST}},
		{"key: trailing garbage", key("trail.pub", other+" garbage\n"), []syscall.Errno{EINVAL}},
		{"key: binary", key("bin.pub", string(binary)), []syscall.Errno{EINVAL}},
		{"key: invalid UTF-8", key("utf.pub", "age1\xff\xfe\n"), []syscall.Errno{EINVAL}},
		{"key: NUL inside", key("nul.pub", other[:20]+"\x00"+other[20:]+"\n"), []syscall.Errno{EINVAL}},
		{"key: upper-case alias", key("Bob2.pub", other+"\n"), []syscall.Errno{EINVAL}},
		{"key: reserved alias keys", key("keys.pub", other+"\n"), []syscall.Errno{EINVAL}},
		{"key: reserved alias self", key("self.pub", other+"\n"), []syscall.Errno{EACCES}},
		{"key: dot alias", key(".hidden.pub", other+"\n"), []syscall.Errno{EINVAL, EACCES, ENOENT}},
		{"key: homoglyph alias", key("b\u043eb.pub", other+"\n"), []syscall.Errno{EINVAL}},
		{"key: escape in alias", key("e\x1b[2J.pub", other+"\n"), []syscall.Errno{EINVAL}},
		{"key: 33-character alias", key(strings.Repeat("a", 33)+".pub", other+"\n"), []syscall.Errno{EINVAL}},
		{"key: no .pub suffix", key("carol.txt", other+"\n"), []syscall.Errno{EINVAL, EACCES, ENOENT, EPERM}},
		{"key: bob's key under another alias", key("robert.pub", bobKey+"\n"), []syscall.Errno{EEXIST}},
		{"key: another key over bob's", key("bob.pub", other+"\n"), []syscall.Errno{EEXIST}},
		{"key: alias of a group", key("team.pub", other+"\n"), []syscall.Errno{EEXIST}},
		{"key: into pending/", key("pending/x.pub", other+"\n"), []syscall.Errno{EACCES}},
		{"message: 10 MiB in one write", msg(bytes.Repeat([]byte("x"), 10<<20)), []syscall.Errno{syscall.EMSGSIZE}},
		{"message: 0xff", msg([]byte("bad \xff")), []syscall.Errno{EINVAL}},
		{"message: overlong '/'", msg([]byte("bad \xc0\xaf")), []syscall.Errno{EINVAL}},
		{"message: surrogate", msg([]byte("bad \xed\xa0\x80")), []syscall.Errno{EINVAL}},
		{"message: truncated sequence", msg([]byte("bad \xe2\x82")), []syscall.Errno{EINVAL}},
		{"message: above U+10FFFF", msg([]byte("bad \xf4\x90\x80\x80")), []syscall.Errno{EINVAL}},
		{"message: 5-byte form", msg([]byte("bad \xf8\x88\x80\x80\x80")), []syscall.Errno{EINVAL}},
		{"mkdir .hidden", mkdir(".hidden"), []syscall.Errno{EINVAL}},
		{"mkdir upper case", mkdir("Team2"), []syscall.Errno{EINVAL}},
		{"mkdir self", mkdir("self"), []syscall.Errno{EINVAL}},
		{"mkdir keys", mkdir("keys"), []syscall.Errno{EEXIST}},
		{"mkdir bob", mkdir("bob"), []syscall.Errno{EEXIST}},
		{"mkdir team again", mkdir("team"), []syscall.Errno{EEXIST}},
		{"mkdir 33 characters", mkdir(strings.Repeat("g", 33)), []syscall.Errno{EINVAL}},
		{"mkdir 256 characters", mkdir(strings.Repeat("g", 256)), []syscall.Errno{syscall.ENAMETOOLONG, EINVAL}},
		{"mkdir newline", mkdir("te\nam"), []syscall.Errno{EINVAL}},
		{"mkdir escape", mkdir("\x1b[2J"), []syscall.Errno{EINVAL}},
		{"mkdir non-ASCII", mkdir("t\u00ebam"), []syscall.Errno{EINVAL}},
		{"mkdir space", mkdir("a b"), []syscall.Errno{EINVAL}},
		{"mkdir leading dash", mkdir("-x"), []syscall.Errno{EINVAL}},
		{"mkdir in a group", mkdir("team/sub"), []syscall.Errno{EPERM, EINVAL, EACCES}},
		{"touch a..b", touch("a..b"), []syscall.Errno{ENOENT}},
		{"touch .hidden", touch(".hidden"), []syscall.Errno{ENOENT}},
		{"touch team/nobody", touch("team", "nobody"), []syscall.Errno{ENOENT}},
		{"touch team/.x", touch("team", ".x"), []syscall.Errno{ENOENT, EINVAL}},
		{"write .peers", touch(".peers"), []syscall.Errno{EACCES}},
		{"write .outbox", touch(".outbox"), []syscall.Errno{EACCES}},
		{"write .events", touch(".events"), []syscall.Errno{EACCES}},
		{"symlink", func() error { return os.Symlink("/etc/passwd", alice.Path("link")) }, []syscall.Errno{EPERM}},
		{"hard link", func() error { return os.Link(alice.Path("bob"), alice.Path("bob2")) }, []syscall.Errno{EPERM}},
		{"mkfifo", func() error { return syscall.Mkfifo(alice.Path("fifo"), 0o600) }, []syscall.Errno{EPERM}},
		{"mv conversation", func() error { return os.Rename(alice.Path("bob"), alice.Path("robert")) }, []syscall.Errno{EPERM}},
		{"rm .events", func() error { return os.Remove(alice.Path(".events")) }, []syscall.Errno{EACCES}},
		{"rmdir keys", func() error { return syscall.Rmdir(alice.Path("keys")) }, []syscall.Errno{EACCES}},
		{"rm self.pub", func() error { return os.Remove(alice.Path("keys", "self.pub")) }, []syscall.Errno{EACCES}},
	}
	for _, c := range cases {
		err := c.do()
		got := errnoOf(err)
		if !slices.Contains(c.want, got) {
			t.Errorf("%s: %v (errno %d), want one of %v", c.name, err, got, c.want)
		}
	}
	t.Logf("%d hostile local inputs refused with clear errnos", len(cases))
	time.Sleep(500 * time.Millisecond) // released key files disappear
	if got := ls(alice.Mount); got != rootBefore {
		t.Errorf("root changed:\n got %s\nwant %s", got, rootBefore)
	}
	if got := ls(alice.Path("keys")); got != keysBefore {
		t.Errorf("keys/ changed:\n got %s\nwant %s", got, keysBefore)
	}
	if got := ls(filepath.Join(alice.State, "keys")); got != ringBefore {
		t.Errorf("the keyring on disk changed:\n got %s\nwant %s", got, ringBefore)
	}
	if got := logTexts(t, alice.Path("bob")); len(got) != 0 {
		t.Errorf("refused writes reached the history: %q", got)
	}
	if data, _ := os.ReadFile(alice.Path(".outbox")); len(data) != 0 {
		t.Errorf("refused writes reached the outbox: %q", data)
	}
	if got := ls(alice.Path("team")); got != ".all" {
		t.Errorf("team/ holds %q, want only .all", got)
	}
	if strings.Contains(alice.Log(), "panic") {
		t.Errorf("alice's log mentions a panic")
	}
}

// FuzzChatParsers: mfs-chat parses what the node shows (.events lines,
// conversation logs, .peers), which carries remote text. Whatever it is
// given, the parsers do not panic, ParseLog consumes only complete lines,
// and every field passed through chat.Sanitize is terminal safe (Unescape
// brings escaped controls back, so that last step is what protects the
// terminal).
func FuzzChatParsers(f *testing.F) {
	for _, s := range []string{
		"2026-11-26T11:33:00Z msg alice alice hello there",
		`2026-11-26T11:33:00Z msg team/.all bob \u{001B}[2J\u{0007}\n2026-01-01T00:00:00Z msg x x forged`,
		`2026-11-26T11:33:00Z warn forged a message claiming to be from bob failed authentication`,
		"2026-11-26T11:33:00Z pending k7f3q2m9x4c8v1bz age1qqqq",
		`2026-11-26T11:33:00Z msg a b \u{D800}\u{110000}\u{}\u{zz}\`,
		"2026-11-26T11:33:00Z bob \x1b]0;pwned\x07\n\tcontinued \u202e\n",
		"bob - online 4xhoarvzmq3vf7vp\n- 1A40F6 pending sepz4z2koypu5xhr\n",
		"\t\t\n\n", "2026-11-26T11:33:00Z", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		safe := func(what, v string) {
			if r := unsafeRunes(chat.Sanitize(v)); len(r) > 0 || strings.ContainsAny(chat.Sanitize(v), "\n\t") {
				t.Fatalf("Sanitize(%s %q) keeps unsafe characters %q", what, v, r)
			}
		}
		if e, err := chat.ParseEvent(s); err == nil {
			for _, v := range []string{e.Where, e.From, e.Text, e.Alias, e.Group, e.Fingerprint, e.Key, e.ID, e.Warn} {
				safe("event field", v)
			}
		}
		entries, consumed := chat.ParseLog([]byte(s))
		if consumed < 0 || consumed > len(s) || (consumed > 0 && s[consumed-1] != '\n') {
			t.Fatalf("ParseLog consumed %d of %q", consumed, s)
		}
		for _, e := range entries {
			for _, l := range strings.Split(e.Text, "\n") {
				safe("log text", l)
			}
			safe("log sender", e.From)
		}
		for _, p := range chat.ParsePeers([]byte(s)) {
			safe("peer", p.Alias+p.Name+p.State+p.Fingerprint)
		}
		safe("unescaped", chat.Unescape(s))
	})
}
