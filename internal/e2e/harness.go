// Package e2e runs real messagefs processes with real FUSE mounts for
// end-to-end tests: it builds the binaries once, starts nodes on loopback
// with static endpoints (never beacons in the machine's own namespace),
// waits for their mounts, and always unmounts and kills what it started,
// by PID, even when a test fails.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries holds the paths of the built commands.
type Binaries struct {
	Messagefs string
	Keygen    string
	Chat      string
}

var (
	buildOnce sync.Once
	built     Binaries
	buildErr  error
)

// Build compiles messagefs, mfs-keygen and mfs-chat once per test binary
// into a temporary directory.
func Build(t testing.TB) Binaries {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mfs-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		built = Binaries{
			Messagefs: filepath.Join(dir, "messagefs"),
			Keygen:    filepath.Join(dir, "mfs-keygen"),
			Chat:      filepath.Join(dir, "mfs-chat"),
		}
		for bin, pkg := range map[string]string{built.Messagefs: ".", built.Keygen: "./cmd/keygen", built.Chat: "./cmd/chat"} {
			cmd := exec.Command("go", "build", "-o", bin, pkg)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the messagefs module")
	}
	return filepath.Dir(mod), nil
}

// RequireFUSE skips the test when FUSE mounts cannot be made here.
func RequireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("skipping: /dev/fuse is missing (load the fuse module)")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		t.Skip("skipping: fusermount3 is missing (apt-get install fuse3)")
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Node is one messagefs process and its directories.
type Node struct {
	Name     string
	Dir      string // holds identity, state and mnt
	Identity string
	State    string
	Mount    string
	Port     int
	Peers    []string // static endpoints
	ExtraEnv []string

	t    testing.TB
	bins Binaries
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
}

// NewNode prepares a node with a fresh identity under t.TempDir(). It does
// not start it.
func NewNode(t testing.TB, name string) *Node {
	t.Helper()
	bins := Build(t)
	dir := filepath.Join(t.TempDir(), name)
	n := &Node{
		Name: name, Dir: dir, t: t, bins: bins,
		Identity: filepath.Join(dir, "identity"),
		State:    filepath.Join(dir, "state"),
		Mount:    filepath.Join(dir, "mnt"),
		Port:     FreePort(t),
	}
	if err := os.MkdirAll(n.Mount, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bins.Keygen, "-o", n.Identity).CombinedOutput()
	if err != nil {
		t.Fatalf("mfs-keygen: %v\n%s", err, out)
	}
	return n
}

// Endpoint is the node's ZRE endpoint on loopback.
func (n *Node) Endpoint() string { return fmt.Sprintf("tcp://127.0.0.1:%d", n.Port) }

// Recipient returns the node's age1... public key.
func (n *Node) Recipient() string {
	n.t.Helper()
	out, err := exec.Command(n.bins.Keygen, "-y", n.Identity).Output()
	if err != nil {
		n.t.Fatalf("mfs-keygen -y: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// Connect makes n list the other nodes as static peers (both directions
// are not needed: the other side connects back after the HELLO).
func (n *Node) Connect(others ...*Node) {
	for _, o := range others {
		n.Peers = append(n.Peers, o.Endpoint())
	}
}

// Start runs the node and waits until its mount serves keys/self.pub.
func (n *Node) Start() {
	n.t.Helper()
	args := []string{
		"--identity", n.Identity, "--state", n.State, "--name", n.Name,
		"--no-beacon", "--bind", "127.0.0.1", "--port", fmt.Sprint(n.Port),
		"--log-level", "debug",
	}
	for _, p := range n.Peers {
		args = append(args, "--peer", p)
	}
	args = append(args, n.Mount)
	n.log = &lockedBuffer{}
	n.cmd = exec.Command(n.bins.Messagefs, args...)
	n.cmd.Stdout = n.log
	n.cmd.Stderr = n.log
	n.cmd.Env = append(os.Environ(), n.ExtraEnv...)
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("starting %s: %v", n.Name, err)
	}
	n.done = make(chan struct{})
	cmd, done := n.cmd, n.done
	go func() { cmd.Wait(); close(done) }()
	n.t.Cleanup(func() { n.stop(syscall.SIGTERM) })

	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(n.Mount, "keys", "self.pub")); err == nil {
			return
		}
		select {
		case <-done:
			n.t.Fatalf("%s exited before mounting:\n%s", n.Name, n.log.String())
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s did not mount within 15s:\n%s", n.Name, n.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the node with SIGTERM (clean unmount) and waits for it.
func (n *Node) Stop() { n.stop(syscall.SIGTERM) }

// Kill ends the node with SIGKILL, as a crash would, then removes the
// stale mount it leaves.
func (n *Node) Kill() { n.stop(syscall.SIGKILL) }

func (n *Node) stop(sig syscall.Signal) {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.done:
	default:
		n.cmd.Process.Signal(sig)
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
			n.cmd.Process.Kill()
			<-n.done
		}
	}
	Unmount(n.Mount)
	if n.t.Failed() {
		n.t.Logf("log of %s:\n%s", n.Name, n.log.String())
	}
	n.cmd = nil
}

// Log returns what the node printed so far.
func (n *Node) Log() string { return n.log.String() }

// Path joins elements under the node's mount.
func (n *Node) Path(elem ...string) string {
	return filepath.Join(append([]string{n.Mount}, elem...)...)
}

// Unmount removes a FUSE mount at dir if there is one (lazily if busy).
func Unmount(dir string) {
	if !isMounted(dir) {
		return
	}
	if exec.Command("fusermount3", "-u", dir).Run() != nil {
		exec.Command("fusermount3", "-uz", dir).Run()
	}
}

func isMounted(dir string) bool {
	data, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return false
	}
	abs, _ := filepath.Abs(dir)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == abs {
			return true
		}
	}
	return false
}

// Eventually polls cond every 50ms until it returns nil or timeout passes,
// then fails the test with cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("condition not met within %v: %v", timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
