package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/messagefs/messagefs/crypto"
)

// cluster starts in-process nodes on loopback, each listing the ones before
// it as static peers, and makes every pair trust each other.
func cluster(t *testing.T, names ...string) []*testNode {
	t.Helper()
	var nodes []*testNode
	var endpoints []string
	for _, name := range names {
		port := freePort(t)
		n := newTestNode(t, name, t.TempDir(), genKey(t), port, endpoints...)
		endpoints = append(endpoints, fmt.Sprintf("tcp://127.0.0.1:%d", port))
		nodes = append(nodes, n)
	}
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				if err := a.TrustKeyFile(b.Name(), keyFile(b.key)); err != nil {
					t.Fatalf("%s trusts %s: %v", a.Name(), b.Name(), err)
				}
			}
		}
	}
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.waitOnline(t, b)
			}
		}
	}
	return nodes
}

// Name is the node's ZRE name, which the tests also use as its alias.
func (tn *testNode) Name() string { return tn.cfg.Name }

// waitOnline waits until tn has a route to other's key.
func (tn *testNode) waitOnline(t *testing.T, other *testNode) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		tn.mu.Lock()
		p := tn.peers[other.key.Public()]
		online := p != nil && p.online()
		tn.mu.Unlock()
		if online {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never saw %s online", tn.Name(), other.Name())
}

// team makes nodes[0] create group "team" with every other node in it, and
// waits for the invitations.
func team(t *testing.T, nodes []*testNode) crypto.GroupID {
	t.Helper()
	owner := nodes[0]
	if err := owner.CreateGroup("team"); err != nil {
		t.Fatal(err)
	}
	for _, m := range nodes[1:] {
		if err := owner.AddMember("team", m.Name()); err != nil {
			t.Fatalf("AddMember(%s): %v", m.Name(), err)
		}
	}
	for _, m := range nodes[1:] {
		m.waitEvent(t, "invite team "+owner.Name())
	}
	owner.mu.Lock()
	defer owner.mu.Unlock()
	g, err := owner.groupByNameLocked("team")
	if err != nil {
		t.Fatal(err)
	}
	return g.id
}

func TestGroupMessagesReachMembersOnce(t *testing.T) {
	nodes := cluster(t, "alice", "bob", "carol")
	team(t, nodes)
	// Members learn each other from the invitation's member list.
	for _, n := range nodes[1:] {
		members, err := n.GroupMembers("team")
		if err != nil || len(members) != 2 {
			t.Fatalf("%s: team members %q, %v", n.Name(), members, err)
		}
	}
	ctx := context.Background()
	for _, from := range nodes {
		if err := from.Send(ctx, "team/.all", []byte("hi from "+from.Name())); err != nil {
			t.Fatalf("%s sends: %v", from.Name(), err)
		}
		for _, to := range nodes {
			if to != from {
				to.waitEvent(t, fmt.Sprintf("msg team/.all %s hi from %s", from.Name(), from.Name()))
			}
		}
	}
	for _, n := range nodes {
		log := readAll(t, n.Node, "team/.all")
		if got := strings.Count(log, "\n"); got != 3 {
			t.Errorf("%s: team log has %d lines, want 3:\n%s", n.Name(), got, log)
		}
	}
}

func TestEveryoneGroup(t *testing.T) {
	nodes := cluster(t, "alice", "bob", "carol")
	if err := nodes[0].Send(context.Background(), ".all", []byte("to all")); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		n.waitEvent(t, "msg .all alice to all")
	}
}

func TestRemovedMemberGetsNoNewChain(t *testing.T) {
	nodes := cluster(t, "alice", "bob", "carol")
	alice, bob, carol := nodes[0], nodes[1], nodes[2]
	gid := team(t, nodes)
	ctx := context.Background()
	if err := alice.Send(ctx, "team/.all", []byte("before")); err != nil {
		t.Fatal(err)
	}
	carol.waitEvent(t, "msg team/.all alice before")
	before := alice.chainID(t, gid)

	if err := alice.RemoveMember("team", "carol"); err != nil {
		t.Fatal(err)
	}
	carol.waitEvent(t, "leave team me")
	if err := alice.Send(ctx, "team/.all", []byte("after")); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(t, "msg team/.all alice after")
	after := alice.chainID(t, gid)
	if before == after {
		t.Fatal("alice did not rotate her chain after removing carol")
	}
	carol.mu.Lock()
	_, has := carol.rchains[after]
	_, group := carol.groups[gid]
	carol.mu.Unlock()
	if has || group {
		t.Errorf("carol holds the new chain (%v) or still the group (%v)", has, group)
	}
}

// chainID returns the id of tn's sending chain in group gid.
func (tn *testNode) chainID(t *testing.T, gid crypto.GroupID) crypto.ChainID {
	t.Helper()
	tn.mu.Lock()
	g := tn.groups[gid]
	tn.mu.Unlock()
	g.sendMu.Lock()
	defer g.sendMu.Unlock()
	if g.chain == nil {
		t.Fatal("no sending chain")
	}
	return g.chain.ID()
}

func TestGroupReplayRefusedReorderAccepted(t *testing.T) {
	nodes := cluster(t, "alice", "bob")
	alice, bob := nodes[0], nodes[1]
	gid := team(t, nodes)
	ctx := context.Background()
	// The first send distributes alice's chain to bob.
	if err := alice.Send(ctx, "team/.all", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(t, "msg team/.all alice hello")

	// Seal three more messages with a copy of alice's chain, as she would,
	// and deliver them to bob out of order, then once more.
	alice.mu.Lock()
	g := alice.groups[gid]
	alice.mu.Unlock()
	g.sendMu.Lock()
	chain, err := cloneSender(g.chain)
	g.sendMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	for i := 1; i <= 3; i++ {
		id, _ := crypto.NewMessageID(rand.Reader)
		plain := append(id[:], binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))...)
		plain = append(plain, fmt.Sprintf("m%d", i)...)
		m, err := chain.Seal(rand.Reader, plain)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	for _, i := range []int{2, 0, 1} {
		bob.receiveGroupMessage(ctx, msgs[i], false)
	}
	for _, want := range []string{"alice m3", "alice m1", "alice m2"} {
		bob.waitEvent(t, "msg team/.all "+want)
	}
	bob.receiveGroupMessage(ctx, msgs[0], false)
	bob.waitEvent(t, "warn replay")

	// A forged signature and a swapped chain id are refused too.
	forged := append([]byte(nil), msgs[2]...)
	forged[len(forged)-1] ^= 1
	bob.receiveGroupMessage(ctx, forged, false)
	bob.waitEvent(t, "warn forged")
	swapped := append([]byte(nil), msgs[2]...)
	copy(swapped[18:50], make([]byte, 32))
	bob.receiveGroupMessage(ctx, swapped, false)
	bob.mu.Lock()
	held := len(bob.held)
	bob.mu.Unlock()
	if held != 1 {
		t.Errorf("a message with an unknown chain id should be held (unacknowledged), held = %d", held)
	}
	if log := readAll(t, bob.Node, "team/.all"); strings.Count(log, "\n") != 4 {
		t.Errorf("bob's team log:\n%s", log)
	}
}

func TestPeriodicRotation(t *testing.T) {
	ka, kb := genKey(t), genKey(t)
	pb := freePort(t)
	mk := func(name string, k crypto.PrivateKey, port int, peers ...string) *testNode {
		return newTestNodeConfig(t, name, k, port, func(c *Config) {
			c.RotateAfterMessages = 3
			c.RotateMinInterval = -1
		}, peers...)
	}
	bob := mk("bob", kb, pb)
	alice := mk("alice", ka, freePort(t), fmt.Sprintf("tcp://127.0.0.1:%d", pb))
	for _, p := range [][2]*testNode{{alice, bob}, {bob, alice}} {
		if err := p[0].TrustKeyFile(p[1].Name(), keyFile(p[1].key)); err != nil {
			t.Fatal(err)
		}
	}
	alice.waitOnline(t, bob)
	gid := team(t, []*testNode{alice, bob})
	ctx := context.Background()
	seen := map[crypto.ChainID]bool{}
	for i := 0; i < 7; i++ {
		if err := alice.Send(ctx, "team/.all", []byte(fmt.Sprintf("n%d", i))); err != nil {
			t.Fatal(err)
		}
		seen[alice.chainID(t, gid)] = true
		bob.waitEvent(t, fmt.Sprintf("msg team/.all alice n%d", i))
	}
	if len(seen) != 3 {
		t.Errorf("7 messages with rotation every 3 used %d chains, want 3", len(seen))
	}
}

func TestGroupErrors(t *testing.T) {
	nodes := cluster(t, "alice", "bob")
	alice := nodes[0]
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"group named like an alias", func() error { return alice.CreateGroup("bob") }, ErrExists},
		{"bad group name", func() error { return alice.CreateGroup("Team!") }, ErrInvalid},
		{"add to unknown group", func() error { return alice.AddMember("nope", "bob") }, ErrNotFound},
		{"add untrusted", func() error {
			if err := alice.CreateGroup("g1"); err != nil {
				return err
			}
			return alice.AddMember("g1", "mallory")
		}, ErrNotFound},
		{"duplicate group", func() error { return alice.CreateGroup("g1") }, ErrExists},
		{"remove non-member", func() error { return alice.RemoveMember("g1", "bob") }, ErrNotFound},
		{"send to unknown group", func() error { return alice.Send(context.Background(), "nope/.all", []byte("x")) }, ErrNotFound},
		{"alias named like a group", func() error { return alice.TrustKeyFile("g1", keyFile(genKey(t))) }, ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}
