package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/messagefs/messagefs/crypto"
)

// testNode is an in-process node on loopback with beacons off.
type testNode struct {
	*Node
	key    crypto.PrivateKey
	cancel context.CancelFunc
	done   chan error
	events *Subscription
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newTestNode(t *testing.T, name string, state string, key crypto.PrivateKey, port int, peers ...string) *testNode {
	t.Helper()
	return newTestNodeState(t, name, state, key, port, nil, peers...)
}

// newTestNodeConfig starts a node with a fresh state directory and lets
// edit change its configuration first.
func newTestNodeConfig(t *testing.T, name string, key crypto.PrivateKey, port int, edit func(*Config), peers ...string) *testNode {
	t.Helper()
	return newTestNodeState(t, name, t.TempDir(), key, port, edit, peers...)
}

func newTestNodeState(t *testing.T, name string, state string, key crypto.PrivateKey, port int, edit func(*Config), peers ...string) *testNode {
	t.Helper()
	tn := startTestNode(t, name, state, key, port, edit, peers...)
	t.Cleanup(tn.stop)
	return tn
}

// startTestNode starts a node and leaves stopping it to the caller (a test
// that starts many in turn must not keep each one reachable from a
// cleanup). MFS_NODE_LOG=FILE appends every node's debug log to FILE.
func startTestNode(t *testing.T, name string, state string, key crypto.PrivateKey, port int, edit func(*Config), peers ...string) *testNode {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if path := os.Getenv("MFS_NODE_LOG"); path != "" {
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
			logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
		}
	} else if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
	}
	cfg := Config{
		Identity: key, StateDir: state, Name: name,
		Bind: "127.0.0.1", Port: port, Peers: peers,
		RetryMin: 200 * time.Millisecond, RetryMax: time.Second,
		Logger: logger,
	}
	if edit != nil {
		edit(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{Node: n, key: key, cancel: cancel, done: make(chan error, 1)}
	tn.events = n.Subscribe()
	go func() { tn.done <- n.Run(ctx) }()
	return tn
}

func (tn *testNode) stop() {
	if tn.cancel == nil {
		return
	}
	tn.cancel()
	<-tn.done
	tn.cancel = nil
}

// waitEvent reads tn's events until one contains substr.
func (tn *testNode) waitEvent(t *testing.T, substr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		b, err := tn.events.Read(ctx, 1, true)
		if err != nil {
			t.Fatalf("waiting for event %q: %v", substr, err)
		}
		if strings.Contains(string(b), substr) {
			return string(b)
		}
	}
}

func genKey(t *testing.T) crypto.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyFile(k crypto.PrivateKey) []byte {
	return []byte("# public key\n" + k.Public().String() + "\n")
}

func readAll(t *testing.T, n *Node, where string) string {
	t.Helper()
	size, _, err := n.LogStat(where)
	if err != nil {
		t.Fatalf("LogStat(%s): %v", where, err)
	}
	buf := make([]byte, size)
	if size == 0 {
		return ""
	}
	if _, err := n.ReadLog(where, buf, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("ReadLog(%s): %v", where, err)
	}
	return string(buf)
}

func TestTwoNodesExchangeMessages(t *testing.T) {
	ka, kb := genKey(t), genKey(t)
	pa, pb := freePort(t), freePort(t)
	b := newTestNode(t, "bob", t.TempDir(), kb, pb)
	a := newTestNode(t, "alice", t.TempDir(), ka, pa, fmt.Sprintf("tcp://127.0.0.1:%d", pb))

	b.waitEvent(t, "pending "+ka.Public().Fingerprint())
	if err := a.TrustKeyFile("bob", keyFile(kb)); err != nil {
		t.Fatalf("alice trusts bob: %v", err)
	}
	if err := b.TrustPending(ka.Public().Fingerprint(), "alice"); err != nil {
		t.Fatalf("bob trusts alice's pending key: %v", err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := a.Send(ctx, "bob", []byte(fmt.Sprintf("hello %d\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		b.waitEvent(t, fmt.Sprintf("msg alice alice hello %d", i))
	}
	a.waitEvent(t, "delivered")
	log := readAll(t, b.Node, "alice")
	if strings.Count(log, "\n") != 3 || !strings.Contains(log, " alice hello 2\n") {
		t.Errorf("bob's log:\n%s", log)
	}
	if err := b.Send(ctx, "alice", []byte("back")); err != nil {
		t.Fatal(err)
	}
	a.waitEvent(t, "msg bob bob back")
}

func TestSendErrors(t *testing.T) {
	a := newTestNode(t, "alice", t.TempDir(), genKey(t), freePort(t))
	ctx := context.Background()
	tests := []struct {
		name  string
		where string
		text  string
		want  error
	}{
		{"unknown peer", "nobody", "hi", ErrNotFound},
		{"invalid UTF-8", "nobody", "\xff", ErrInvalid},
		{"too large", "nobody", strings.Repeat("x", MaxMessageSize+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.Send(ctx, tt.where, []byte(tt.text)); !errors.Is(err, tt.want) {
				t.Errorf("Send = %v, want %v", err, tt.want)
			}
		})
	}
	if err := a.Send(ctx, "nobody", []byte("\n")); err != nil {
		t.Errorf("empty message: %v, want a no-op", err)
	}
}

func TestTrustErrors(t *testing.T) {
	ka, kb := genKey(t), genKey(t)
	a := newTestNode(t, "alice", t.TempDir(), ka, freePort(t))
	if err := a.TrustKeyFile("bob", keyFile(kb)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, alias string
		content     []byte
		want        error
	}{
		{"secret key", "x", []byte(ka.String() + "\n"), ErrInvalid},
		{"own key", "me2", keyFile(ka), ErrInvalid},
		{"bad alias", "Bob", keyFile(genKey(t)), ErrInvalid},
		{"reserved alias", "self", keyFile(genKey(t)), ErrInvalid},
		{"alias taken by another key", "bob", keyFile(genKey(t)), ErrExists},
		{"key trusted under another alias", "robert", keyFile(kb), ErrExists},
		{"garbage", "carol", []byte("hello\n"), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.TrustKeyFile(tt.alias, tt.content); !errors.Is(err, tt.want) {
				t.Errorf("TrustKeyFile(%q) = %v, want %v", tt.alias, err, tt.want)
			}
		})
	}
	if err := a.TrustKeyFile("bob", keyFile(kb)); err != nil {
		t.Errorf("trusting the same key under the same alias again: %v, want nil", err)
	}
	if got := a.Aliases(); len(got) != 1 || got[0] != "bob" {
		t.Errorf("Aliases = %q", got)
	}
}
