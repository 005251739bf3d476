package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/keyring"
)

type binaries struct {
	messagefs string
}

// build compiles messagefs from this tree into dir.
func build(ctx context.Context, root, dir string) (binaries, error) {
	b := binaries{messagefs: filepath.Join(dir, "messagefs")}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b.messagefs, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return b, fmt.Errorf("go build messagefs: %v\n%s", err, out)
	}
	return b, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// mfsNode is one messagefs process with its own identity, state and mount.
type mfsNode struct {
	name                        string
	dir, identity, state, mount string
	port                        int
	key                         crypto.PrivateKey
	peers                       []string

	keys *keyring.Keyring // open before start only

	cmd  *exec.Cmd
	done chan struct{}
	log  *tailBuffer
}

func newMFSNode(e *env, name string) (*mfsNode, error) {
	dir := filepath.Join(e.work, "node-"+name)
	n := &mfsNode{
		name: name, dir: dir,
		identity: filepath.Join(dir, "identity"),
		state:    filepath.Join(dir, "state"),
		mount:    filepath.Join(dir, "mnt"),
	}
	var err error
	if n.port, err = freePort(); err != nil {
		return nil, err
	}
	if n.key, err = crypto.GenerateKey(crand.Reader); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(n.mount, 0o700); err != nil {
		return nil, err
	}
	if err := keyring.WriteIdentity(n.identity, crypto.MarshalIdentityFile(n.key, time.Now())); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *mfsNode) endpoint() string { return fmt.Sprintf("tcp://127.0.0.1:%d", n.port) }

// trust adds key to the node's keyring before it starts.
func (n *mfsNode) trust(alias string, key crypto.PublicKey) error {
	if n.keys == nil {
		k, err := keyring.Open(filepath.Join(n.state, "keys"))
		if err != nil {
			return err
		}
		n.keys = k
	}
	return n.keys.Add(alias, key)
}

func (n *mfsNode) path(elem ...string) string {
	return filepath.Join(append([]string{n.mount}, elem...)...)
}

func (n *mfsNode) pid() int { return n.cmd.Process.Pid }

// start runs the process and waits until its mount serves keys/self.pub.
func (n *mfsNode) start(ctx context.Context, e *env) error {
	n.keys = nil
	args := []string{
		"--identity", n.identity, "--state", n.state, "--name", n.name,
		"--no-beacon", "--bind", "127.0.0.1", "--port", strconv.Itoa(n.port),
		"--log-level", "info",
	}
	for _, p := range n.peers {
		args = append(args, "--peer", p)
	}
	args = append(args, n.mount)
	n.log = &tailBuffer{max: 64 << 10}
	n.cmd = exec.Command(e.bins.messagefs, args...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	// If the bench dies without cleaning up, the node still unmounts.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", n.name, err)
	}
	n.done = make(chan struct{})
	cmd, done := n.cmd, n.done
	go func() { cmd.Wait(); close(done) }()
	atExit(n.stop)

	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(n.path("keys", "self.pub")); err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before mounting:\n%s", n.name, n.log.String())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not mount within 20s:\n%s", n.name, n.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the process with SIGTERM (clean unmount), SIGKILL after 10s,
// and removes its mount if it is still there. It only signals its own
// child, by PID.
func (n *mfsNode) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.done:
	default:
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
			logf("%s did not stop within 10s; killing pid %d", n.name, n.cmd.Process.Pid)
			n.cmd.Process.Kill()
			<-n.done
		}
	}
	unmount(n.mount)
}

// unmount removes a FUSE mount at dir if there is one (lazily if busy).
func unmount(dir string) {
	if !isMounted(dir) {
		return
	}
	if exec.Command("fusermount3", "-u", dir).Run() != nil {
		if err := exec.Command("fusermount3", "-uz", dir).Run(); err != nil {
			logf("fusermount3 -uz %s: %v", dir, err)
		}
	}
}

func isMounted(dir string) bool {
	data, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return false
	}
	abs, _ := filepath.Abs(dir)
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == abs {
			return true
		}
	}
	return false
}

// procStatus returns a field of /proc/PID/status in bytes (kB fields).
func procStatus(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseFloat(f[0], 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// procCPU returns the user+system CPU seconds of pid so far.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

// eventReader reads a .events file: each line with the time the read
// that returned it came back. Two kinds: openEvents polls and reads (as a
// Go program or mfs-chat does: os.Open makes the file non-blocking and
// polls it); catEvents runs `cat .events` (blocking reads) into a pipe.
type eventReader struct {
	read  func(buf []byte) (int, error) // (0, nil): nothing yet, try again
	fin   func()                        // releases the source after the loop
	kill  func()                        // makes a blocked read return, if needed
	lines chan evLine
	stop  chan struct{}
	done  chan struct{}
}

type evLine struct {
	text string
	at   time.Time
}

func newEventReader(read func([]byte) (int, error), fin, kill func()) *eventReader {
	r := &eventReader{read: read, fin: fin, kill: kill, lines: make(chan evLine, 1<<14), stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	atExit(r.close)
	return r
}

// openEvents polls (100 ms at a time, so that it can stop on its own) and
// reads the file.
func openEvents(path string) (*eventReader, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	read := func(buf []byte) (int, error) {
		ready, err := pollIn(fd, 100)
		if err != nil || !ready {
			return 0, err
		}
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR || err == syscall.EAGAIN {
			return 0, nil
		}
		if err == nil && n == 0 {
			err = io.EOF
		}
		return n, err
	}
	return newEventReader(read, func() { syscall.Close(fd) }, nil), nil
}

// catEvents runs cat on the file, which blocks in read(2), and reads its
// output from a pipe. It is stopped by killing that cat (by PID).
func catEvents(path string) (*eventReader, error) {
	cmd := exec.Command("cat", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	read := func(buf []byte) (int, error) {
		n, err := out.Read(buf)
		if n > 0 {
			return n, nil
		}
		if err == nil {
			err = io.EOF
		}
		return 0, err
	}
	kill := func() { cmd.Process.Kill() }
	return newEventReader(read, func() { kill(); cmd.Wait() }, kill), nil
}

func (r *eventReader) loop() {
	defer close(r.done)
	defer r.fin()
	buf := make([]byte, 64<<10)
	var part []byte
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		n, err := r.read(buf)
		at := time.Now()
		if err != nil {
			return
		}
		part = append(part, buf[:n]...)
		for {
			i := bytes.IndexByte(part, '\n')
			if i < 0 {
				break
			}
			select {
			case r.lines <- evLine{string(part[:i]), at}:
			default: // nobody reads: drop
			}
			part = part[i+1:]
		}
		part = append([]byte(nil), part...)
	}
}

// close stops the reader and closes its file.
func (r *eventReader) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
		if r.kill != nil {
			r.kill()
		}
	}
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		logf("an .events reader did not stop")
	}
}

// waitLine returns the first line that contains substr, within timeout.
func (r *eventReader) waitLine(ctx context.Context, substr string, timeout time.Duration) (evLine, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l := <-r.lines:
			if strings.Contains(l.text, substr) {
				return l, nil
			}
		case <-t.C:
			return evLine{}, fmt.Errorf("no event %q within %v", substr, timeout)
		case <-ctx.Done():
			return evLine{}, ctx.Err()
		case <-r.done:
			return evLine{}, errors.New("the .events stream ended")
		}
	}
}

// drain discards queued lines.
func (r *eventReader) drain() {
	for {
		select {
		case <-r.lines:
		default:
			return
		}
	}
}

// pollIn waits up to ms milliseconds for fd to be readable (or hung up).
func pollIn(fd int, ms int) (bool, error) {
	type pollFd struct {
		fd              int32
		events, revents int16
	}
	const pollIn, pollErr, pollHup = 0x1, 0x8, 0x10
	p := pollFd{fd: int32(fd), events: pollIn}
	ts := syscall.NsecToTimespec(int64(ms) * 1e6)
	n, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&p)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	switch {
	case errno == syscall.EINTR:
		return false, nil
	case errno != 0:
		return false, errno
	}
	return n > 0 && p.revents&(pollIn|pollErr|pollHup) != 0, nil
}

// procSwitches returns the context switches (voluntary and not) of all
// threads of pid so far: how often its threads went to sleep and woke.
func procSwitches(pid int) float64 {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var total float64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			for _, f := range []string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
				if v, ok := strings.CutPrefix(l, f); ok {
					n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
					total += n
				}
			}
		}
	}
	return total
}
