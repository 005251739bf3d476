package fs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testMount is a mount served by a child process with a fakeBackend.
type testMount struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	stdin  *os.File
	lines  chan string
	stderr *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func requireFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no /dev/fuse: %v", err)
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		t.Skip("no fusermount3")
	}
}

// startMount mounts a fresh tree (trusted peers alice, bob and slow) in a
// child process. It is unmounted, and the child killed, when the test
// ends, even if it fails.
func startMount(t *testing.T) *testMount {
	t.Helper()
	requireFUSE(t)
	dir := t.TempDir() // removed after the unmount below (cleanups run LIFO)
	testMounts.Store(dir, true)

	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	m := &testMount{
		t: t, dir: dir, stdin: stdinW, stderr: &syncBuffer{},
		lines: make(chan string, 16), exited: make(chan struct{}),
	}
	m.cmd = exec.Command(os.Args[0], "-test.run=^$")
	m.cmd.Env = append(os.Environ(), childEnv+"="+dir)
	m.cmd.Stdin, m.cmd.Stdout, m.cmd.Stderr = stdinR, stdoutW, m.stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdinR.Close()
	stdoutW.Close()
	go func() {
		defer close(m.lines)
		sc := bufio.NewScanner(stdoutR)
		for sc.Scan() {
			m.lines <- sc.Text()
		}
	}()
	go func() {
		_ = m.cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(m.stop)

	select {
	case line := <-m.lines:
		if line != "ready" {
			t.Fatalf("child: %s\n%s", line, m.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("mount not ready after 20 s\n%s", m.stderr)
	}
	return m
}

// stop unmounts and ends the child: EOF on its stdin makes it unmount and
// exit; if it does not, fusermount3 -u (then -u -z) and SIGKILL by PID.
func (m *testMount) stop() {
	t := m.t
	m.stdin.Close()
	select {
	case <-m.exited:
	case <-time.After(8 * time.Second):
		t.Errorf("child did not exit after EOF; killing it")
	}
	if _, ok := mountedAt(m.dir); ok {
		if err := exec.Command("fusermount3", "-u", m.dir).Run(); err != nil {
			_ = exec.Command("fusermount3", "-u", "-z", m.dir).Run()
		}
		t.Errorf("child left its mount behind")
	}
	if m.cmd.ProcessState == nil {
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	if t.Failed() {
		t.Logf("child log:\n%s", m.stderr)
	}
}

// ctl sends a control command to the child and returns its reply.
func (m *testMount) ctl(format string) string {
	m.t.Helper()
	if _, err := m.stdin.WriteString(format + "\n"); err != nil {
		m.t.Fatalf("ctl %q: %v", format, err)
	}
	select {
	case line, ok := <-m.lines:
		if !ok {
			m.t.Fatalf("ctl %q: child exited\n%s", format, m.stderr)
		}
		reply, isOK := strings.CutPrefix(line, "ok")
		if !isOK {
			m.t.Fatalf("ctl %q: %s", format, line)
		}
		return strings.TrimSpace(reply)
	case <-time.After(15 * time.Second):
		m.t.Fatalf("ctl %q: no reply in 15 s", format)
	}
	return ""
}

// path returns the absolute path of a name in the mount.
func (m *testMount) path(elem ...string) string {
	return filepath.Join(append([]string{m.dir}, elem...)...)
}

// result is what a shell command did.
type result struct {
	stdout, stderr string
	code           int
}

// sh runs a shell script with bash (its messages name the errno; dash
// says "I/O error" for every failed write) in the mount's root, for 10 s
// at most.
func (m *testMount) sh(script string) result {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = m.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		m.t.Fatalf("sh %q: %v", script, err)
	}
	if ctx.Err() != nil {
		m.t.Fatalf("sh %q: timed out", script)
	}
	return r
}

// mustSh runs a script that must succeed and returns its stdout.
func (m *testMount) mustSh(script string) string {
	m.t.Helper()
	r := m.sh(script)
	if r.code != 0 {
		m.t.Fatalf("sh %q: exit %d: %s", script, r.code, r.stderr)
	}
	return r.stdout
}

// readFile reads a file of the mount.
func (m *testMount) readFile(name string) string {
	m.t.Helper()
	b, err := os.ReadFile(m.path(name))
	if err != nil {
		m.t.Fatal(err)
	}
	return string(b)
}

// writeOnce opens name with flags (plus O_WRONLY), makes one write(2)
// and returns its result.
func (m *testMount) writeOnce(name string, data []byte, flags int) (int, error) {
	fd, err := syscall.Open(m.path(name), flags|syscall.O_WRONLY|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	return syscall.Write(fd, data)
}

// eventually polls cond every 20 ms for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }
