package netns

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// The test binary re-executes itself inside a namespace with NETNS_TEST_ROLE
// set; TestMain then plays that role instead of running tests.
func TestMain(m *testing.M) {
	switch role := os.Getenv("NETNS_TEST_ROLE"); role {
	case "":
		os.Exit(m.Run())
	case "listen":
		os.Exit(childListen(os.Getenv("NETNS_TEST_ADDR")))
	case "dial":
		os.Exit(childDial(os.Getenv("NETNS_TEST_ADDR")))
	case "whereami":
		id, err := Current()
		fmt.Println(id != "" && id != os.Getenv("NETNS_TEST_PARENT"), err)
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown role", role)
		os.Exit(2)
	}
}

// childListen accepts one TCP connection and echoes one line.
func childListen(addr string) int {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	fmt.Println("listening")
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		fmt.Println("accept:", err)
		return 1
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 1
	}
	io.WriteString(c, "echo "+line)
	return 0
}

func childDial(addr string) int {
	c, err := net.DialTimeout("tcp4", addr, 10*time.Second)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "hello\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Println("read:", err)
		return 1
	}
	fmt.Print(line)
	return 0
}

func TestLab(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab := ForTest(t, 2)
	h0, h1 := lab.Hosts[0], lab.Hosts[1]
	if h0.Addr.String() != "10.99.0.1/24" || h1.Addr.String() != "10.99.0.2/24" {
		t.Fatalf("addresses %v %v", h0.Addr, h1.Addr)
	}
	out, err := h0.Run(ctx, "ip", "-4", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(string(out), "10.99.0.1/24 brd 10.99.0.255") {
		t.Fatalf("h0 eth0: %v\n%s", err, out)
	}

	// A process inside is in another namespace than its parent.
	parent, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	cmd := h0.Command(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NETNS_TEST_ROLE=whereami", "NETNS_TEST_PARENT="+parent)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "true <nil>" {
		t.Fatalf("whereami in h0: %q %v", out, err)
	}

	// h1 reaches h0 over the lab's bridge.
	addr := "10.99.0.1:7000"
	ln := h0.Command(ctx, os.Args[0], "-test.run=^$")
	ln.Env = append(os.Environ(), "NETNS_TEST_ROLE=listen", "NETNS_TEST_ADDR="+addr)
	stdout, _ := ln.StdoutPipe()
	if err := ln.Start(); err != nil {
		t.Fatal(err)
	}
	defer ln.Wait()
	defer ln.Process.Kill()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "listening\n" {
		t.Fatalf("listener: %q", line)
	}
	dial := h1.Command(ctx, os.Args[0], "-test.run=^$")
	dial.Env = append(os.Environ(), "NETNS_TEST_ROLE=dial", "NETNS_TEST_ADDR="+addr)
	if out, err := dial.CombinedOutput(); err != nil || string(out) != "echo hello\n" {
		t.Fatalf("dial from h1: %q %v", out, err)
	}
}

func TestCloseRemovesEverything(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := New(ctx, 3)
	if err != nil {
		t.Skipf("skipping: cannot create network namespaces: %v", err)
	}
	names, _ := List(ctx)
	for _, h := range lab.Hosts {
		if !slices.Contains(names, h.NS) {
			t.Errorf("%s missing from %v", h.NS, names)
		}
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	if err := lab.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	names, _ = List(ctx)
	for _, n := range names {
		if strings.HasPrefix(n, fmt.Sprintf("%s%d-", Prefix, os.Getpid())) {
			t.Errorf("left behind: %s", n)
		}
	}
}

func TestNewRejectsBadSizes(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	for _, n := range []int{0, -1, maxHosts + 1} {
		if _, err := New(context.Background(), n); err == nil {
			t.Errorf("New(%d) accepted", n)
		}
	}
}
