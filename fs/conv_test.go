package fs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/messagefs/messagefs/node"
)

// messages returns the messages of a rendered log: "FROM TEXT" per line,
// timestamps stripped.
func messages(log string) []string {
	var out []string
	for _, line := range strings.SplitAfter(log, "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "\t") && len(out) > 0 {
			out[len(out)-1] += "\n" + strings.TrimSuffix(line[1:], "\n")
			continue
		}
		_, rest, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		out = append(out, rest)
	}
	return out
}

func TestWriteErrnos(t *testing.T) {
	m := startMount(t)
	big := bytes.Repeat([]byte("x"), node.MaxMessageSize+1)
	for _, tc := range []struct {
		name  string
		file  string
		data  []byte
		flags int
		errno syscall.Errno
		want  []string // alice's messages afterwards
	}{
		{"message", "alice", []byte("hello\n"), 0, 0, []string{"me hello"}},
		{"O_TRUNC keeps history", "alice", []byte("again\n"), syscall.O_TRUNC, 0, []string{"me hello", "me again"}},
		{"O_APPEND", "alice", []byte("third"), syscall.O_APPEND, 0, []string{"me hello", "me again", "me third"}},
		{"multi-line", "alice", []byte("a\nb\n"), 0, 0, []string{"me hello", "me again", "me third", "me a\nb"}},
		{"empty write", "alice", []byte{}, 0, 0, nil},
		{"newline only", "alice", []byte("\n"), 0, 0, nil},
		{"invalid UTF-8", "alice", []byte("\xff\xfe\n"), 0, syscall.EINVAL, nil},
		{"64 KiB + 1", "alice", big, 0, syscall.EMSGSIZE, nil},
		{"exactly 64 KiB plus newline", "bob", append(big[1:], '\n'), 0, 0, nil},
		{"unknown peer", "carol", []byte("hi\n"), syscall.O_CREAT, syscall.ENOENT, nil},
		{"no create in root", "carol", []byte("hi\n"), 0, syscall.ENOENT, nil},
		{".peers is read-only", ".peers", []byte("x\n"), 0, syscall.EACCES, nil},
		{".events is read-only", ".events", []byte("x\n"), 0, syscall.EACCES, nil},
		{"self.pub is read-only", "keys/self.pub", []byte("x\n"), 0, syscall.EACCES, nil},
		{"self.pub O_TRUNC", "keys/self.pub", nil, syscall.O_TRUNC, syscall.EACCES, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := m.readFile("alice")
			n, err := m.writeOnce(tc.file, tc.data, tc.flags)
			if tc.errno != 0 {
				if !errors.Is(err, tc.errno) {
					t.Fatalf("write: n=%d err=%v, want %v", n, err, tc.errno)
				}
			} else if err != nil || n != len(tc.data) {
				t.Fatalf("write: n=%d err=%v, want %d", n, err, len(tc.data))
			}
			after := m.readFile("alice")
			if tc.want == nil {
				if after != before {
					t.Errorf("alice changed:\n%q\n->\n%q", before, after)
				}
				return
			}
			if got := messages(after); !slicesEqual(got, tc.want) {
				t.Errorf("alice = %q, want %q", got, tc.want)
			}
		})
	}
	if got := messages(m.readFile("bob")); len(got) != 1 || len(got[0]) != len("me ")+node.MaxMessageSize {
		t.Errorf("bob has %d messages, first of %d bytes", len(got), len(got[0]))
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestShellTools(t *testing.T) {
	m := startMount(t)
	m.mustSh(`echo hello > alice && echo 'hi there' >> alice && printf 'no newline' > alice`)
	if got, want := messages(m.readFile("alice")), []string{"me hello", "me hi there", "me no newline"}; !slicesEqual(got, want) {
		t.Fatalf("alice = %q, want %q", got, want)
	}
	line := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ me hello\n`)
	if out := m.mustSh("cat alice"); !line.MatchString(out) {
		t.Errorf("cat alice = %q", out)
	}

	// Sizes are true (ls -l, stat, wc agree).
	size := m.mustSh("stat -c %s alice")
	if wc := m.mustSh("wc -c < alice"); strings.TrimSpace(size) != strings.TrimSpace(wc) {
		t.Errorf("stat size %s, wc -c %s", size, wc)
	}

	// cp out and in: cp a log to a file; cp a file into a conversation
	// sends its content as one message.
	m.mustSh("printf 'from a file\n' > /tmp/mfs-fstest-msg.$$ && cp /tmp/mfs-fstest-msg.$$ bob; rc=$?; rm -f /tmp/mfs-fstest-msg.$$; exit $rc")
	if got := messages(m.readFile("bob")); !slicesEqual(got, []string{"me from a file"}) {
		t.Errorf("bob after cp = %q", got)
	}
	tmp := t.TempDir() + "/copy"
	m.mustSh("cp alice " + tmp)
	if b, _ := os.ReadFile(tmp); string(b) != m.readFile("alice") {
		t.Errorf("cp alice: %q", b)
	}

	// truncate(0) is accepted and changes nothing; other sizes are refused.
	before := m.readFile("alice")
	m.mustSh("truncate -s 0 alice")
	if after := m.readFile("alice"); after != before {
		t.Errorf("truncate -s 0 changed alice")
	}
	if r := m.sh("truncate -s 5 alice"); r.code == 0 {
		t.Errorf("truncate -s 5 succeeded")
	}
	if r := m.sh("chmod 644 alice"); r.code == 0 {
		t.Errorf("chmod succeeded")
	}
	m.mustSh("touch alice")
	m.mustSh("sync alice keys/alice.pub keys/self.pub .events keys")
	for _, script := range []string{"ln alice x", "ln -s alice x", "mkfifo x", "ln keys/alice.pub keys/x.pub"} {
		if r := m.sh(script); r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("%s: exit %d %q, want EPERM", script, r.code, r.stderr)
		}
	}

	// Unknown peer: a shell error, not a file.
	if r := m.sh("echo hi > carol"); r.code == 0 || !strings.Contains(r.stderr, "No such file") {
		t.Errorf("echo > carol: %+v", r)
	}
	if r := m.sh("mv alice carol"); r.code == 0 {
		t.Errorf("mv alice carol succeeded")
	}

	// rm deletes history and keeps the peer.
	m.mustSh("rm alice")
	if fi, err := os.Stat(m.path("alice")); err != nil || fi.Size() != 0 {
		t.Errorf("after rm: stat alice = %v, %v; want an empty file", fi, err)
	}
	for _, name := range []string{".events", ".peers", ".outbox"} {
		if r := m.sh("rm -f " + name); r.code == 0 {
			t.Errorf("rm %s succeeded", name)
		}
	}
	// Reading .outbox works (snapshot per open).
	if out := m.mustSh("cat .outbox"); !strings.HasPrefix(out, "interrupted-sends") {
		t.Errorf(".outbox = %q", out)
	}
}

// TestTailFollows checks that tail -f (which polls the file once a
// second) and stat see an incoming message.
func TestTailFollows(t *testing.T) {
	m := startMount(t)
	m.ctl("recv alice alice first")

	tail := exec.Command("tail", "-n", "+1", "-f", m.path("alice"))
	out, err := tail.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tail.Process.Kill(); _ = tail.Wait() })
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		buf := make([]byte, 4096)
		var acc string
		for {
			n, err := out.Read(buf)
			acc += string(buf[:n])
			for {
				l, rest, ok := strings.Cut(acc, "\n")
				if !ok {
					break
				}
				lines <- l
				acc = rest
			}
			if err != nil {
				return
			}
		}
	}()
	expect := func(want string) {
		t.Helper()
		timeout := time.After(3 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("tail exited before %q", want)
				}
				if strings.HasSuffix(l, want) {
					return
				}
			case <-timeout:
				t.Fatalf("tail -f did not show %q within 3 s", want)
			}
		}
	}
	expect("alice first")

	fi1, _ := os.Stat(m.path("alice"))
	m.ctl("recv alice alice second")
	expect("alice second")
	fi2, _ := os.Stat(m.path("alice"))
	if fi2.Size() <= fi1.Size() || fi2.ModTime().Before(fi1.ModTime()) {
		t.Errorf("stat after a message: size %d -> %d, mtime %v -> %v", fi1.Size(), fi2.Size(), fi1.ModTime(), fi2.ModTime())
	}
	if ls := m.mustSh("ls -l alice"); !strings.Contains(ls, " "+itoa(fi2.Size())+" ") {
		t.Errorf("ls -l alice = %q, want size %d", ls, fi2.Size())
	}

	// A message I write shows too.
	m.mustSh("echo mine > alice")
	expect("me mine")
}

func itoa(n int64) string { return strconvFormat(n) }

// TestNoEINTRAfterCommit interrupts a write(2) that is waiting in Send: the
// fake's Send to "slow" waits for the interruption, then commits anyway.
// The write must report success (an EINTR would make the writer send the
// message again) and the message must be there once.
func TestNoEINTRAfterCommit(t *testing.T) {
	m := startMount(t)
	w := exec.Command(os.Args[0], "-test.run=^$")
	w.Env = append(os.Environ(), writerEnv+"="+m.path("slow"))
	out, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Process.Kill(); _ = w.Wait() })
	lines := lineReader(out)
	var tid int
	select {
	case l := <-lines:
		if _, err := fmt.Sscanf(l, "tid %d", &tid); err != nil {
			t.Fatalf("writer: %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writer did not start")
	}
	// Signal the writing thread until the write returns: a signal that
	// arrives while it waits for the FUSE reply makes the kernel send an
	// INTERRUPT.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(8 * time.Second)
	var result string
	for result == "" {
		select {
		case <-tick.C:
			_ = syscall.Tgkill(w.Process.Pid, tid, syscall.SIGUSR1)
		case l, ok := <-lines:
			if !ok {
				t.Fatal("writer exited without a result")
			}
			result = l
		case <-deadline:
			t.Fatal("write did not return")
		}
	}
	if result != "n 13 err <nil>" {
		t.Errorf("interrupted write: %q, want success", result)
	}
	if got := messages(m.readFile("slow")); !slicesEqual(got, []string{"me interrupt me"}) {
		t.Errorf("slow = %q, want the message once", got)
	}
	if ob := m.readFile(".outbox"); !strings.HasPrefix(ob, "interrupted-sends 1") {
		t.Errorf(".outbox = %q: the write was not interrupted, so this test proved nothing", ob)
	}
}
