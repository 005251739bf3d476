// Package netns builds throw-away Linux network namespaces for tests that
// must send broadcast or multicast traffic (ZRE beacons) without touching
// the machine's own network.
//
// A Lab is an isolated layer-2 segment: a "switch" namespace holding a
// bridge, and N host namespaces, each with lo up and an interface eth0
// (one end of a veth pair whose other end is a bridge port) addressed
// 10.99.0.(i+1)/24. Every link is created directly inside a lab namespace,
// so nothing is ever added to the root namespace, and the lab's traffic
// cannot leave it. Different labs (of this or other processes) are
// separate segments even though they use the same addresses.
//
// Creating namespaces needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and
// iproute2's ip; Available says whether they are there. Close deletes
// every namespace; RemoveStale deletes those left by processes that died.
package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Prefix starts the name of every namespace this package creates:
// Prefix + "<pid>-<random>-<role>".
const Prefix = "mfsnet-"

// Subnet is the address range of every lab; Broadcast its broadcast
// address.
const (
	Subnet    = "10.99.0.0/24"
	Broadcast = "10.99.0.255"
)

// ErrUnavailable is wrapped by Available's error.
var ErrUnavailable = errors.New("network namespaces unavailable")

// maxHosts is the most hosts a lab can have (10.99.0.1 - 10.99.0.200).
const maxHosts = 200

// Host is one namespace of a lab.
type Host struct {
	// NS is the namespace's name (as in ip netns).
	NS string
	// Iface is the host's interface on the lab segment.
	Iface string
	// Addr is the host's address and prefix on Iface.
	Addr netip.Prefix
}

// Lab is a segment with hosts. Close it when done.
type Lab struct {
	// Hosts are the lab's hosts, Hosts[i] at 10.99.0.(i+1).
	Hosts []*Host

	mu     sync.Mutex
	names  []string // every namespace created, switch first
	closed bool
}

// Available reports why namespaces cannot be created here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root", ErrUnavailable)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: iproute2's ip not found: %v", ErrUnavailable, err)
	}
	return nil
}

// New creates a lab with the given number of hosts. On error it deletes
// whatever it created.
func New(ctx context.Context, hosts int) (lab *Lab, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if hosts < 1 || hosts > maxHosts {
		return nil, fmt.Errorf("netns: %d hosts: want 1..%d", hosts, maxHosts)
	}
	RemoveStale(ctx)
	var rnd [3]byte
	rand.Read(rnd[:])
	base := fmt.Sprintf("%s%d-%s-", Prefix, os.Getpid(), hex.EncodeToString(rnd[:]))
	lab = &Lab{}
	defer func() {
		if err != nil {
			lab.Close()
		}
	}()
	sw := base + "sw"
	if err := lab.addNS(ctx, sw); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"-n", sw, "link", "set", "lo", "up"},
		{"-n", sw, "link", "add", "br0", "type", "bridge"},
		{"-n", sw, "link", "set", "br0", "up"},
	} {
		if err := ip(ctx, args...); err != nil {
			return nil, err
		}
	}
	for i := range hosts {
		h := &Host{
			NS:    fmt.Sprintf("%sh%d", base, i),
			Iface: "eth0",
			Addr:  netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, 0, byte(i + 1)}), 24),
		}
		if err := lab.addNS(ctx, h.NS); err != nil {
			return nil, err
		}
		port := fmt.Sprintf("p%d", i)
		for _, args := range [][]string{
			{"-n", sw, "link", "add", port, "type", "veth", "peer", "name", h.Iface, "netns", h.NS},
			{"-n", sw, "link", "set", port, "master", "br0"},
			{"-n", sw, "link", "set", port, "up"},
			{"-n", h.NS, "link", "set", "lo", "up"},
			{"-n", h.NS, "addr", "add", h.Addr.String(), "broadcast", Broadcast, "dev", h.Iface},
			{"-n", h.NS, "link", "set", h.Iface, "up"},
		} {
			if err := ip(ctx, args...); err != nil {
				return nil, err
			}
		}
		lab.Hosts = append(lab.Hosts, h)
	}
	return lab, nil
}

// ForTest returns a lab with the given number of hosts that is closed when
// the test ends (even if it fails). It skips the test, saying why, where
// namespaces cannot be created.
func ForTest(t testing.TB, hosts int) *Lab {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := New(ctx, hosts)
	if err != nil {
		// Namespaces can be forbidden even to root (containers without
		// CAP_SYS_ADMIN, seccomp): skip rather than fail.
		t.Skipf("skipping: cannot create network namespaces: %v", err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("netns cleanup: %v", err)
		}
	})
	return lab
}

func (l *Lab) addNS(ctx context.Context, name string) error {
	if err := ip(ctx, "netns", "add", name); err != nil {
		return err
	}
	l.mu.Lock()
	l.names = append(l.names, name)
	l.mu.Unlock()
	return nil
}

// Close deletes the lab's namespaces (with them their links). Processes
// still running inside a namespace keep it alive anonymously until they
// exit: stop them first. Close is idempotent.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for i := len(l.names) - 1; i >= 0; i-- {
		if err := ip(ctx, "netns", "del", l.names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Command returns a command that runs name with args inside h's namespace
// (via ip netns exec, which also gives it a private mount namespace). The
// child is killed if the thread that started it dies (Pdeathsig), so a
// test that crashes leaves no process behind.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Run runs name with args inside h's namespace and returns its combined
// output.
func (h *Host) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := h.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("netns: %s in %s: %w: %s", name, h.NS, err, bytes.TrimSpace(out))
	}
	return out, nil
}

// List returns the names of the namespaces that exist now.
func List(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("netns: ip netns list: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// RemoveStale deletes namespaces this package created in processes that
// no longer exist (a test binary killed before its cleanup ran). It
// returns what it deleted.
func RemoveStale(ctx context.Context) []string {
	names, err := List(ctx)
	if err != nil {
		return nil
	}
	var removed []string
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, Prefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // its creator still runs
		}
		if ip(ctx, "netns", "del", name) == nil {
			removed = append(removed, name)
		}
	}
	return removed
}

// Current returns the identity of the calling process's network
// namespace ("net:[inode]"). A parent passes its own to a child it starts
// in a lab, and the child compares: code that must never broadcast from
// the machine's own namespace refuses to run when they are equal. (PID 1's
// namespace is not always readable, even by root, so it is no reference.)
func Current() (string, error) {
	id, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return "", fmt.Errorf("netns: %w", err)
	}
	return id, nil
}

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
