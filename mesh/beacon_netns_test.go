package mesh

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/messagefs/messagefs/internal/netns"
)

// Beacon discovery is tested only inside network namespaces the test
// creates (SAFETY): the test binary re-executes itself in each lab host
// with MESH_TEST_CHILD=beacon and runs one beaconing node there, driven
// over stdin/stdout with JSON lines.

// TestMain runs the child role when asked to, the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv("MESH_TEST_CHILD") == "beacon" {
		os.Exit(beaconChild())
	}
	os.Exit(m.Run())
}

// childMsg is one line between the test and a child node.
type childMsg struct {
	Op       string `json:"op"` // child -> parent: READY, an EventType, STATS; parent -> child: whisper, shout, stop
	UUID     string `json:"uuid,omitempty"`
	Peer     string `json:"peer,omitempty"`
	Name     string `json:"name,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Group    string `json:"group,omitempty"`
	Payload  string `json:"payload,omitempty"`
	Err      string `json:"err,omitempty"`
	Stats    *Stats `json:"stats,omitempty"`
}

// beaconChild is the child's main: refuse to run in the test's own
// namespace, start a beaconing node, report events, obey commands.
func beaconChild() int {
	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	emit := func(m childMsg) {
		outMu.Lock()
		defer outMu.Unlock()
		out.Encode(m)
	}
	self, err := netns.Current()
	parent := os.Getenv("MESH_TEST_PARENT_NETNS")
	if err != nil || parent == "" || self == parent {
		emit(childMsg{Op: "ERROR", Err: fmt.Sprintf("SAFETY: refusing to beacon from the parent's network namespace (%s, %v)", self, err)})
		return 3
	}
	n, err := New(Config{
		Name:         os.Getenv("MESH_TEST_NAME"),
		Interface:    os.Getenv("MESH_TEST_IFACE"),
		Beacon:       true,
		EvasiveAfter: time.Second,
		ExpireAfter:  20 * time.Second, // so that a quick EXIT proves the port-0 beacon
		Logger:       testLogger(),
	})
	if err == nil {
		err = n.Start(context.Background())
	}
	if err == nil {
		err = n.Join("lab")
	}
	if err != nil {
		emit(childMsg{Op: "ERROR", Err: err.Error()})
		return 1
	}
	emit(childMsg{Op: "READY", UUID: n.UUID().String(), Endpoint: n.Endpoint()})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range n.Events() {
			emit(childMsg{Op: ev.Type.String(), Peer: ev.Peer.String(), Name: ev.Name, Endpoint: ev.Endpoint, Group: ev.Group, Payload: string(ev.Payload)})
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var c childMsg
		if json.Unmarshal(in.Bytes(), &c) != nil {
			continue
		}
		var err error
		switch c.Op {
		case "whisper":
			var id UUID
			if id, err = ParseUUID(c.Peer); err == nil {
				err = n.Whisper(id, []byte(c.Payload))
			}
		case "shout":
			err = n.Shout(c.Group, []byte(c.Payload))
		case "stop":
			s := n.Stats()
			emit(childMsg{Op: "STATS", Stats: &s})
			n.Stop()
			<-done
			return 0
		}
		if err != nil {
			emit(childMsg{Op: "ERROR", Err: err.Error()})
		}
	}
	n.Stop() // stdin closed: the test is gone
	<-done
	return 0
}

// child is a running beacon child as the test sees it.
type child struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	mu   sync.Mutex
	msgs []childMsg
	more chan struct{} // closed and replaced on every message
	uuid string
	ep   string
}

func startChild(t *testing.T, h *netns.Host, name, iface string) *child {
	t.Helper()
	parent, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MESH_TEST_CHILD=beacon", "MESH_TEST_NAME="+name,
		"MESH_TEST_IFACE="+iface, "MESH_TEST_PARENT_NETNS="+parent)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, name: name, cmd: cmd, in: in, more: make(chan struct{})}
	t.Cleanup(func() {
		// Kill our child by PID (if still running) and reap it.
		c.cmd.Process.Kill()
		c.cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(outPipe)
		for sc.Scan() {
			var m childMsg
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			close(c.more)
			c.more = make(chan struct{})
			c.mu.Unlock()
		}
	}()
	ready := c.waitFor("READY", func(m childMsg) bool { return m.Op == "READY" })
	c.uuid, c.ep = ready.UUID, ready.Endpoint
	return c
}

// waitFor waits for a message from the child that matches.
func (c *child) waitFor(what string, match func(childMsg) bool) childMsg {
	c.t.Helper()
	deadline := time.After(waitLong)
	for i := 0; ; {
		c.mu.Lock()
		for ; i < len(c.msgs); i++ {
			m := c.msgs[i]
			if m.Op == "ERROR" {
				c.mu.Unlock()
				c.t.Fatalf("%s: %s", c.name, m.Err)
			}
			if match(m) {
				c.mu.Unlock()
				return m
			}
		}
		more := c.more
		c.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			c.t.Fatalf("%s: timed out waiting for %s", c.name, what)
		}
	}
}

func (c *child) count(match func(childMsg) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.msgs {
		if match(m) {
			n++
		}
	}
	return n
}

func (c *child) send(m childMsg) {
	c.t.Helper()
	b, _ := json.Marshal(m)
	if _, err := c.in.Write(append(b, '\n')); err != nil {
		c.t.Fatalf("%s: %v", c.name, err)
	}
}

// TestBeaconDiscoveryInNamespaces: two nodes in two namespaces of a lab
// find each other by beacons only (no static peers), exchange a whisper and
// a shout, and a node that stops is seen leaving at once (port-0 beacon),
// long before it would expire.
func TestBeaconDiscoveryInNamespaces(t *testing.T) {
	lab := netns.ForTest(t, 2)
	a := startChild(t, lab.Hosts[0], "alpha", "eth0")
	b := startChild(t, lab.Hosts[1], "beta", "") // default interface choice
	if a.ep[:len("tcp://10.99.0.1:")] != "tcp://10.99.0.1:" || b.ep[:len("tcp://10.99.0.2:")] != "tcp://10.99.0.2:" {
		t.Fatalf("endpoints %s %s: want the lab addresses", a.ep, b.ep)
	}
	isEnter := func(of *child) func(childMsg) bool {
		return func(m childMsg) bool { return m.Op == "ENTER" && m.Peer == of.uuid }
	}
	e := a.waitFor("ENTER beta", isEnter(b))
	if e.Name != "beta" || e.Endpoint != b.ep {
		t.Errorf("alpha saw ENTER %+v", e)
	}
	b.waitFor("ENTER alpha", isEnter(a))
	a.waitFor("JOIN lab", func(m childMsg) bool { return m.Op == "JOIN" && m.Peer == b.uuid && m.Group == "lab" })
	b.waitFor("JOIN lab", func(m childMsg) bool { return m.Op == "JOIN" && m.Peer == a.uuid && m.Group == "lab" })

	a.send(childMsg{Op: "whisper", Peer: b.uuid, Payload: "hello beta"})
	b.waitFor("whisper", func(m childMsg) bool { return m.Op == "WHISPER" && m.Peer == a.uuid && m.Payload == "hello beta" })
	b.send(childMsg{Op: "shout", Group: "lab", Payload: "hello lab"})
	a.waitFor("shout", func(m childMsg) bool {
		return m.Op == "SHOUT" && m.Peer == b.uuid && m.Group == "lab" && m.Payload == "hello lab"
	})

	// Beacons keep flowing; still exactly one ENTER each.
	time.Sleep(3 * time.Second)
	if n1, n2 := a.count(isEnter(b)), b.count(isEnter(a)); n1 != 1 || n2 != 1 {
		t.Errorf("ENTER counts %d %d, want 1 1", n1, n2)
	}

	start := time.Now()
	a.send(childMsg{Op: "stop"})
	st := a.waitFor("STATS", func(m childMsg) bool { return m.Op == "STATS" })
	if st.Stats == nil || st.Stats.BeaconsReceived == 0 {
		t.Fatalf("alpha stats %+v", st.Stats)
	}
	t.Logf("alpha: %d beacons received, %d dropped", st.Stats.BeaconsReceived, st.Stats.BeaconsDropped)
	b.waitFor("EXIT alpha", func(m childMsg) bool { return m.Op == "EXIT" && m.Peer == a.uuid })
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("EXIT %v after stop: the port-0 beacon was not heard", d)
	} else {
		t.Logf("beta saw alpha leave %v after its stop", d)
	}
	if err := a.cmd.Wait(); err != nil {
		t.Errorf("alpha: %v", err)
	}
	b.send(childMsg{Op: "stop"})
	b.waitFor("STATS", func(m childMsg) bool { return m.Op == "STATS" })
	if err := b.cmd.Wait(); err != nil {
		t.Errorf("beta: %v", err)
	}
}
