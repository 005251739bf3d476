package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pair starts alice and bob on loopback (alice lists bob as a static peer)
// and makes them trust each other: alice copies bob's self.pub into keys/,
// bob moves alice's pending key. Both trust paths are asserted.
func pair(t *testing.T) (alice, bob *Node) {
	t.Helper()
	RequireFUSE(t)
	alice, bob = NewNode(t, "alice"), NewNode(t, "bob")
	alice.Connect(bob)
	bob.Start()
	alice.Start()
	trust(t, alice, bob)
	return alice, bob
}

// trust makes a trust b by copying b's self.pub into a's keys/, and b trust
// a by moving a's pending key.
func trust(t *testing.T, a, b *Node) {
	t.Helper()
	run(t, "cp", b.Path("keys", "self.pub"), a.Path("keys", b.Name+".pub"))
	fpr := waitPending(t, b, a.Recipient())
	run(t, "mv", b.Path("keys", "pending", fpr+".pub"), b.Path("keys", a.Name+".pub"))
	for _, n := range []*Node{a, b} {
		other := a
		if n == a {
			other = b
		}
		if _, err := os.Stat(n.Path(other.Name)); err != nil {
			t.Fatalf("%s has no conversation file for %s after trusting: %v", n.Name, other.Name, err)
		}
	}
}

// waitPending waits until n shows recipient as a pending key and returns
// its fingerprint.
func waitPending(t *testing.T, n *Node, recipient string) string {
	t.Helper()
	var fpr string
	Eventually(t, 15*time.Second, func() error {
		entries, err := os.ReadDir(n.Path("keys", "pending"))
		if err != nil {
			return err
		}
		for _, e := range entries {
			data, err := os.ReadFile(n.Path("keys", "pending", e.Name()))
			if err == nil && strings.TrimSpace(string(data)) == recipient {
				fpr = strings.TrimSuffix(e.Name(), ".pub")
				return nil
			}
		}
		return fmt.Errorf("%s has no pending key %s (entries %v)", n.Name, recipient, entries)
	})
	return fpr
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sh runs a bash command line (dash reports every failed write as "I/O error") and returns its combined output and error.
func sh(line string) (string, error) {
	out, err := exec.Command("bash", "-c", line).CombinedOutput()
	return string(out), err
}

// logTexts returns the message texts of a conversation file, in order,
// with the sender: "alice: hi".
func logTexts(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "\t") {
			out[len(out)-1] += "\n" + line[1:]
			continue
		}
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			t.Fatalf("%s: malformed log line %q", path, line)
		}
		if _, err := time.Parse(time.RFC3339, f[0]); err != nil {
			t.Fatalf("%s: bad timestamp in %q: %v", path, line, err)
		}
		out = append(out, f[1]+": "+f[2])
	}
	return out
}

// waitLog waits until the log at path holds exactly want. 30 s covers a
// peer that restarted behind a static endpoint: it is met again once it
// ignored our pings for two evasive periods (10 s).
func waitLog(t *testing.T, path string, want []string) {
	t.Helper()
	Eventually(t, 30*time.Second, func() error {
		got := logTexts(t, path)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			return fmt.Errorf("%s = %q, want %q", path, got, want)
		}
		return nil
	})
}

func TestTalkBothWays(t *testing.T) {
	alice, bob := pair(t)
	if out, err := sh(fmt.Sprintf("echo 'hi bob' > %s && echo 'second' > %s", alice.Path("bob"), alice.Path("bob"))); err != nil {
		t.Fatalf("echo: %v\n%s", err, out)
	}
	// cat writes what it read in one write(2): one multi-line message.
	note := filepath.Join(t.TempDir(), "note")
	if err := os.WriteFile(note, []byte("hello alice\nnew line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := sh(fmt.Sprintf("cat %s > %s", note, bob.Path("alice"))); err != nil {
		t.Fatalf("cat: %v\n%s", err, out)
	}
	waitLog(t, bob.Path("alice"), []string{"alice: hi bob", "alice: second", "me: hello alice\nnew line"})
	waitLog(t, alice.Path("bob"), []string{"me: hi bob", "me: second", "bob: hello alice\nnew line"})
	Eventually(t, 15*time.Second, func() error {
		if out, _ := os.ReadFile(alice.Path(".outbox")); len(out) != 0 {
			return fmt.Errorf("alice's outbox not empty: %q", out)
		}
		return nil
	})

	// ls -l and stat tell the truth: size of the log, 0600, regular file.
	st, err := os.Stat(bob.Path("alice"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(bob.Path("alice"))
	if st.Size() != int64(len(data)) || st.Mode().Perm() != 0o600 || !st.Mode().IsRegular() {
		t.Errorf("stat alice: size %d mode %v; want size %d mode 0600", st.Size(), st.Mode(), len(data))
	}
	if time.Since(st.ModTime()) > time.Minute {
		t.Errorf("mtime %v is not the time of the last message", st.ModTime())
	}
	ls := run(t, "ls", "-l", bob.Mount)
	if !strings.Contains(ls, fmt.Sprintf("%d", len(data))) || !strings.Contains(ls, "alice") {
		t.Errorf("ls -l does not show alice with size %d:\n%s", len(data), ls)
	}
}

func TestTailFollows(t *testing.T) {
	alice, bob := pair(t)
	tail := exec.Command("tail", "-f", bob.Path("alice"))
	out, err := tail.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tail.Process.Kill(); tail.Wait() })
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	time.Sleep(time.Second) // let tail read the (empty) file once
	start := time.Now()
	if err := os.WriteFile(alice.Path("bob"), []byte("follow me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-lines:
		if !strings.HasSuffix(l, " alice follow me") {
			t.Errorf("tail -f saw %q", l)
		}
		t.Logf("tail -f saw the message after %v", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("tail -f did not show the new message within 5s")
	}
}

func TestEventsStream(t *testing.T) {
	alice, bob := pair(t)

	// A blocking reader (cat) and a Go reader that polls (os.Open makes FUSE
	// files non-blocking).
	cat := exec.Command("cat", bob.Path(".events"))
	var catOut lockedBuffer
	cat.Stdout = &catOut
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Process.Kill(); cat.Wait() })
	f, err := os.Open(bob.Path(".events"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	goLines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			goLines <- sc.Text()
		}
		close(goLines)
	}()
	time.Sleep(500 * time.Millisecond) // both readers are open before the events

	for i := 1; i <= 3; i++ {
		if err := os.WriteFile(alice.Path("bob"), []byte(fmt.Sprintf("event %d\n", i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	deadline := time.After(15 * time.Second)
	for len(got) < 3 {
		select {
		case l, ok := <-goLines:
			if !ok {
				t.Fatalf("Go reader ended early; got %q", got)
			}
			if strings.Contains(l, " msg alice alice ") {
				got = append(got, l[strings.LastIndex(l, " alice ")+7:])
			}
		case <-deadline:
			t.Fatalf("Go reader got %q within 15s", got)
		}
	}
	if strings.Join(got, "|") != "event 1|event 2|event 3" {
		t.Errorf("Go reader msg events = %q", got)
	}
	Eventually(t, 10*time.Second, func() error {
		s := catOut.String()
		for i := 1; i <= 3; i++ {
			if n := strings.Count(s, fmt.Sprintf(" msg alice alice event %d\n", i)); n != 1 {
				return fmt.Errorf("cat saw event %d %d times:\n%s", i, n, s)
			}
		}
		return nil
	})

	// exit: stopping alice is announced.
	alice.Stop()
	Eventually(t, 40*time.Second, func() error {
		if !strings.Contains(catOut.String(), " exit alice\n") {
			return errors.New("no exit event for alice")
		}
		return nil
	})
}

func TestWriteBeforeTrustIsRefused(t *testing.T) {
	RequireFUSE(t)
	alice, bob := NewNode(t, "alice"), NewNode(t, "bob")
	alice.Connect(bob)
	bob.Start()
	alice.Start()
	waitPending(t, alice, bob.Recipient())

	out, err := sh(fmt.Sprintf("echo secret > %s", alice.Path("bob")))
	if err == nil {
		t.Fatalf("writing to an untrusted peer succeeded: %s", out)
	}
	if _, err := os.Stat(alice.Path("bob")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of untrusted peer file: %v, want ENOENT", err)
	}
	if data, _ := os.ReadFile(alice.Path(".outbox")); len(data) != 0 {
		t.Errorf("an untrusted write reached the outbox: %q", data)
	}
}

func TestKeyFileErrorsReachTheShell(t *testing.T) {
	RequireFUSE(t)
	alice := NewNode(t, "alice")
	alice.Start()
	secret, err := os.ReadFile(alice.Identity)
	if err != nil {
		t.Fatal(err)
	}
	var secretLine string
	for _, l := range strings.Split(string(secret), "\n") {
		if strings.HasPrefix(l, "AGE-SECRET-KEY-") {
			secretLine = l
		}
	}
	tests := []struct {
		name, file, content, wantErr string
	}{
		{"secret key", "x.pub", secretLine, "Invalid argument"},
		{"garbage", "y.pub", "not a key", "Invalid argument"},
		{"low-order key", "z.pub", "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z", "Invalid argument"},
		{"bad alias", "Bad Name.pub", "age1...", "Invalid argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := sh(fmt.Sprintf("echo '%s' > '%s'", tt.content, alice.Path("keys", tt.file)))
			if err == nil {
				t.Fatalf("writing %q to keys/%s succeeded", tt.content, tt.file)
			}
			if !strings.Contains(out, tt.wantErr) {
				t.Errorf("shell said %q, want it to contain %q", out, tt.wantErr)
			}
			Eventually(t, 5*time.Second, func() error {
				if _, err := os.Stat(alice.Path("keys", tt.file)); !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("keys/%s still exists after the failed write: %v", tt.file, err)
				}
				return nil
			})
		})
	}
	// self.pub is read-only, even for root.
	if out, err := sh(fmt.Sprintf("echo x > %s", alice.Path("keys", "self.pub"))); err == nil {
		t.Errorf("writing self.pub succeeded: %s", out)
	}
}

func TestMessageLimits(t *testing.T) {
	alice, bob := pair(t)
	tests := []struct {
		name    string
		data    []byte
		wantErr syscall.Errno
	}{
		{"64 KiB + 1", bytes.Repeat([]byte("x"), 64<<10+1), syscall.EMSGSIZE},
		{"invalid UTF-8", []byte("bad \xff\xfe utf8"), syscall.EINVAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.OpenFile(alice.Path("bob"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = f.Write(tt.data)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("write: %v, want %v", err, tt.wantErr)
			}
		})
	}
	// Exactly 64 KiB is fine; an empty write sends nothing; O_TRUNC keeps history.
	big := bytes.Repeat([]byte("y"), 64<<10)
	if err := os.WriteFile(alice.Path("bob"), big, 0o600); err != nil {
		t.Fatalf("64 KiB write: %v", err)
	}
	if err := os.WriteFile(alice.Path("bob"), nil, 0o600); err != nil {
		t.Fatalf("empty write: %v", err)
	}
	waitLog(t, bob.Path("alice"), []string{"alice: " + string(big)})
	if err := os.Truncate(alice.Path("bob"), 0); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	if got := logTexts(t, alice.Path("bob")); len(got) != 1 {
		t.Errorf("after truncate alice's log has %d messages, want 1", len(got))
	}

	// mkdir of an alias name is refused with EEXIST.
	if err := os.Mkdir(alice.Path("bob"), 0o700); !errors.Is(err, os.ErrExist) {
		t.Errorf("mkdir bob: %v, want EEXIST", err)
	}
}

func TestOfflinePeerGetsEverythingOnceInOrder(t *testing.T) {
	alice, bob := pair(t)
	bob.Stop()
	var want []string
	for i := 1; i <= 5; i++ {
		msg := fmt.Sprintf("queued %d", i)
		want = append(want, "alice: "+msg)
		if err := os.WriteFile(alice.Path("bob"), []byte(msg+"\n"), 0o600); err != nil {
			t.Fatalf("write while bob is down: %v", err)
		}
	}
	outbox, _ := os.ReadFile(alice.Path(".outbox"))
	if n := strings.Count(string(outbox), "\n"); n != 5 {
		t.Errorf(".outbox has %d lines while bob is down, want 5:\n%s", n, outbox)
	}
	// The restarted bob has a new ZRE UUID on the same endpoint, and does
	// not list alice: alice's mesh must find him again by itself.
	bob.Start()
	waitLog(t, bob.Path("alice"), want)
	time.Sleep(2 * time.Second) // retries that were in flight must not duplicate
	if got := logTexts(t, bob.Path("alice")); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("after settling bob has %q", got)
	}
}

func TestSigkillAfterWriteLosesNothing(t *testing.T) {
	alice, bob := pair(t)
	bob.Stop()
	if err := os.WriteFile(alice.Path("bob"), []byte("survives a crash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	alice.Kill()
	bob.Start()
	alice.Start()
	waitLog(t, bob.Path("alice"), []string{"alice: survives a crash"})
	waitLog(t, alice.Path("bob"), []string{"me: survives a crash"})
}

func TestRevokeStopsBothDirections(t *testing.T) {
	alice, bob := pair(t)
	if err := os.WriteFile(alice.Path("bob"), []byte("before\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitLog(t, bob.Path("alice"), []string{"alice: before"})

	events, err := os.Open(alice.Path(".events"))
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	if err := os.Remove(alice.Path("keys", "bob.pub")); err != nil {
		t.Fatalf("rm keys/bob.pub: %v", err)
	}
	if _, err := os.Stat(alice.Path("bob")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("conversation file still there after revoke: %v", err)
	}
	if err := os.WriteFile(alice.Path("bob"), []byte("after\n"), 0o600); err == nil {
		t.Error("writing to a revoked peer succeeded")
	}
	// bob still trusts alice; his message must be refused by alice.
	if err := os.WriteFile(bob.Path("alice"), []byte("are you there?\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if out, _ := io.ReadAll(io.LimitReader(nonBlocking(events), 1<<16)); strings.Contains(string(out), "are you there") {
		t.Errorf("alice showed a message from a revoked key: %s", out)
	}
	if got := logTexts(t, bob.Path("alice")); len(got) != 2 {
		t.Errorf("bob's log: %q", got)
	}
	// Re-trusting shows the kept history.
	run(t, "cp", bob.Path("keys", "self.pub"), alice.Path("keys", "bob.pub"))
	if got := logTexts(t, alice.Path("bob")); len(got) < 1 || got[0] != "me: before" {
		t.Errorf("history after re-trust: %q", got)
	}
}

// nonBlocking reads what is queued on f without waiting.
func nonBlocking(f *os.File) io.Reader {
	f.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	return f
}

func TestRenameAndDeleteHistory(t *testing.T) {
	alice, bob := pair(t)
	if err := os.WriteFile(alice.Path("bob"), []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitLog(t, bob.Path("alice"), []string{"alice: one"})
	run(t, "mv", alice.Path("keys", "bob.pub"), alice.Path("keys", "robert.pub"))
	if _, err := os.Stat(alice.Path("bob")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old alias file still exists: %v", err)
	}
	if got := logTexts(t, alice.Path("robert")); len(got) != 1 || got[0] != "me: one" {
		t.Errorf("renamed conversation = %q", got)
	}
	run(t, "rm", bob.Path("alice"))
	if data, err := os.ReadFile(bob.Path("alice")); err != nil || len(data) != 0 {
		t.Errorf("after rm, bob/alice = %q, %v; want an empty conversation that still exists", data, err)
	}
	if err := os.WriteFile(bob.Path("alice"), []byte("still trusted\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitLog(t, alice.Path("robert"), []string{"me: one", "robert: still trusted"})
}
