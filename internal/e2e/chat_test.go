package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// tmux drives terminal programs in detached sessions of a private tmux
// server (its own socket, killed at cleanup).
type tmux struct {
	t      *testing.T
	socket string
	conf   string
}

func newTmux(t *testing.T) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("skipping: tmux is missing (apt-get install tmux)")
	}
	tm := &tmux{t: t, socket: fmt.Sprintf("mfs-test-%d", os.Getpid()), conf: filepath.Join(t.TempDir(), "tmux.conf")}
	// No status line: the pane is the whole window. A program that exits
	// leaves its last screen (and error) to be captured.
	conf := "set -g status off\nset -g remain-on-exit on\nset -g default-terminal screen-256color\n"
	if err := os.WriteFile(tm.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tm.run("kill-server") })
	return tm
}

// run runs one tmux command on the private server.
func (tm *tmux) run(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-u", "-L", tm.socket, "-f", tm.conf}, args...)...)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "TMUX=")
	}), "LANG=C.UTF-8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("tmux %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (tm *tmux) must(args ...string) string {
	tm.t.Helper()
	out, err := tm.run(args...)
	if err != nil {
		tm.t.Fatal(err)
	}
	return out
}

// start runs argv in a new width × height session called name. A shell
// waits for it and writes its exit status to a file (see exitStatus): a
// dead pane's status and last output are not reliably kept by tmux.
func (tm *tmux) start(name string, width, height int, argv ...string) {
	tm.t.Helper()
	args := []string{"new-session", "-d", "-s", name, "-x", fmt.Sprint(width), "-y", fmt.Sprint(height),
		"--", "env", "LANG=C.UTF-8", "sh", "-c", `"$@"; echo $? > "$0"`, tm.statusFile(name)}
	tm.must(append(args, argv...)...)
}

func (tm *tmux) statusFile(name string) string {
	return filepath.Join(filepath.Dir(tm.conf), name+".status")
}

// waitExit waits until the program of session name exits and returns its
// exit status.
func (tm *tmux) waitExit(name string) string {
	tm.t.Helper()
	var status string
	Eventually(tm.t, 20*time.Second, func() error {
		data, err := os.ReadFile(tm.statusFile(name))
		if err != nil || !strings.HasSuffix(string(data), "\n") {
			return fmt.Errorf("%s has not exited: %v\n%s", name, err, tm.screen(name))
		}
		status = strings.TrimSpace(string(data))
		return nil
	})
	return status
}

// screen returns what session name shows.
func (tm *tmux) screen(name string) string {
	tm.t.Helper()
	return strings.TrimSuffix(tm.must("capture-pane", "-p", "-t", name), "\n")
}

// typeLine types text literally into session name, then Enter.
func (tm *tmux) typeLine(name, text string) {
	tm.t.Helper()
	tm.must("send-keys", "-t", name, "-l", text)
	tm.must("send-keys", "-t", name, "Enter")
}

// waitScreen waits until session name shows every want.
func (tm *tmux) waitScreen(name string, want ...string) {
	tm.t.Helper()
	Eventually(tm.t, 20*time.Second, func() error {
		s := tm.screen(name)
		for _, w := range want {
			if !strings.Contains(s, w) {
				return fmt.Errorf("%s's screen does not show %q:\n%s", name, w, s)
			}
		}
		return nil
	})
}

// sideEntry matches a conversation in the side list: cursor, mark (+
// online, - offline, # group), name.
func sideEntry(name string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^[ >][-+#] ` + regexp.QuoteMeta(name) + `( \(\d+\))? *│`)
}

// waitSide waits until session name lists every conversation in names.
func (tm *tmux) waitSide(name string, names ...string) {
	tm.t.Helper()
	Eventually(tm.t, 20*time.Second, func() error {
		s := tm.screen(name)
		for _, n := range names {
			if !sideEntry(n).MatchString(s) {
				return fmt.Errorf("%s's side list does not show %s:\n%s", name, n, s)
			}
		}
		return nil
	})
}

// newRecipient creates an identity with mfs-keygen and returns its age1
// recipient and the path of a key file holding it (as -y prints it).
func newRecipient(t *testing.T, name string) (recipient, keyFile string) {
	t.Helper()
	bins := Build(t)
	dir := t.TempDir()
	id := filepath.Join(dir, name+".identity")
	run(t, bins.Keygen, "-o", id)
	out, err := exec.Command(bins.Keygen, "-y", id).Output()
	if err != nil {
		t.Fatalf("mfs-keygen -y: %v", err)
	}
	recipient = strings.TrimSpace(string(out))
	keyFile = filepath.Join(dir, name+".pub")
	if err := os.WriteFile(keyFile, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return recipient, keyFile
}

// containsLog reports whether the conversation at path has message want
// ("alice: hi").
func containsLog(t *testing.T, path, want string) error {
	if got := logTexts(t, path); !slices.Contains(got, want) {
		return fmt.Errorf("%s = %q, want it to contain %q", path, got, want)
	}
	return nil
}

func TestChatInTmux(t *testing.T) {
	alice, bob := pair(t)
	tm := newTmux(t) // registered after the nodes: the chats end first
	chat := Build(t).Chat
	tm.start("alice", 100, 30, chat, "--mount", alice.Mount, "bob")
	tm.start("bob", 100, 30, chat, "--mount", bob.Mount, "alice")

	// Both chats open the conversation and list peers and groups.
	tm.waitScreen("alice", "mfs-chat · bob", " Peers", " Groups", "> type a message")
	tm.waitSide("alice", "everyone", "bob")
	tm.waitSide("bob", "everyone", "alice")

	// A line typed in alice's chat is one message: in bob's log, in bob's
	// pane (live, from .events), and in alice's own pane.
	tm.typeLine("alice", "hello from alice's chat")
	Eventually(t, 20*time.Second, func() error {
		return containsLog(t, bob.Path("alice"), "alice: hello from alice's chat")
	})
	tm.waitScreen("bob", "alice: hello from alice's chat")
	tm.waitScreen("alice", "me: hello from alice's chat")
	tm.typeLine("bob", "hi alice, from bob's chat")
	tm.waitScreen("alice", "bob: hi alice, from bob's chat")
	if got := logTexts(t, alice.Path("bob")); len(got) != 2 {
		t.Errorf("alice's log with bob has %d messages, want 2: %q", len(got), got)
	}

	// /trust with a bare key and with a key file writes keys/NAME.pub.
	carolKey, _ := newRecipient(t, "carol")
	daveKey, daveFile := newRecipient(t, "dave")
	tm.typeLine("alice", "/trust carol "+carolKey)
	tm.waitScreen("alice", "carol is trusted now")
	tm.typeLine("alice", "/trust dave "+daveFile)
	tm.waitScreen("alice", "dave is trusted now")
	for name, key := range map[string]string{"carol": carolKey, "dave": daveKey} {
		data, err := os.ReadFile(alice.Path("keys", name+".pub"))
		if err != nil || !strings.Contains(string(data), key) {
			t.Errorf("keys/%s.pub = %q, %v; want %s", name, data, err, key)
		}
		if _, err := os.Stat(alice.Path(name)); err != nil {
			t.Errorf("no conversation file for %s after /trust: %v", name, err)
		}
	}
	tm.waitSide("alice", "carol", "dave")
	// A taken name is explained, not just refused.
	tm.typeLine("alice", "/trust carol "+daveKey)
	tm.waitScreen("alice", "carol is already used by another key: remove keys/carol.pub first")
	// Sending to a peer that is not trusted explains what to do.
	tm.typeLine("alice", "/open erin")
	tm.waitScreen("alice", "erin is not trusted yet: add their key with /trust erin age1...")

	// /group and /add: a directory and a member file on alice, an
	// invitation (the directory) on bob, and both chats list the group.
	tm.typeLine("alice", "/group team")
	tm.waitScreen("alice", "group team created")
	if fi, err := os.Stat(alice.Path("team")); err != nil || !fi.IsDir() {
		t.Fatalf("/group team: stat team = %v, %v", fi, err)
	}
	tm.typeLine("alice", "/add team bob")
	tm.waitScreen("alice", "bob added to team")
	if _, err := os.Stat(alice.Path("team", "bob")); err != nil {
		t.Errorf("/add team bob: %v", err)
	}
	tm.waitSide("alice", "team")
	Eventually(t, 20*time.Second, func() error {
		if fi, err := os.Stat(bob.Path("team")); err != nil || !fi.IsDir() {
			return fmt.Errorf("bob has no group team: %v", err)
		}
		return nil
	})
	tm.waitSide("bob", "team")

	// A group message from the chat; bob's chat counts it as unread.
	tm.typeLine("alice", "/open team")
	tm.waitScreen("alice", "mfs-chat · team")
	tm.typeLine("alice", "hi team")
	Eventually(t, 30*time.Second, func() error {
		return containsLog(t, bob.Path("team", ".all"), "alice: hi team")
	})
	tm.waitScreen("bob", "# team (1)")
	tm.typeLine("alice", "/open bob")
	tm.waitScreen("alice", "mfs-chat · bob")

	// Resizing keeps the layout: title first, input and help last, the
	// side list's separator in one column, the conversation still shown.
	for _, size := range []struct{ w, h int }{{60, 15}, {120, 40}, {45, 10}, {100, 30}} {
		tm.must("resize-window", "-t", "alice", "-x", fmt.Sprint(size.w), "-y", fmt.Sprint(size.h))
		Eventually(t, 20*time.Second, func() error {
			return checkLayout(tm.screen("alice"), size.w, size.h, "hi alice, from bob's chat")
		})
	}

	// /quit ends the chat cleanly.
	tm.typeLine("bob", "/quit")
	if status := tm.waitExit("bob"); status != "0" {
		t.Errorf("bob's chat exited with status %s after /quit", status)
	}
}

// checkLayout checks a captured width × height screen of mfs-chat.
func checkLayout(screen string, width, height int, want string) error {
	lines := strings.Split(screen, "\n")
	if len(lines) != height {
		return fmt.Errorf("%d lines on a %d-line screen:\n%s", len(lines), height, screen)
	}
	if !strings.Contains(lines[0], "mfs-chat") {
		return fmt.Errorf("the first line is not the title:\n%s", screen)
	}
	if !strings.HasPrefix(lines[height-1], "Enter send") || !strings.HasPrefix(lines[height-2], "> ") {
		return fmt.Errorf("the input and help lines are not last:\n%s", screen)
	}
	if !strings.Contains(screen, want) {
		return fmt.Errorf("the conversation (%q) is not shown:\n%s", want, screen)
	}
	if width < 48 {
		return nil
	}
	side := min(24, max(14, width/4))
	for i := 1; i < height-3; i++ {
		r := []rune(lines[i])
		if len(r) <= side || r[side] != '│' {
			return fmt.Errorf("line %d has no separator at column %d:\n%s", i, side, screen)
		}
	}
	return nil
}

// TestChatWithoutMount checks the advice mfs-chat gives when nothing is
// mounted (it needs neither FUSE nor a node).
func TestChatWithoutMount(t *testing.T) {
	chat := Build(t).Chat
	dir := t.TempDir()
	out, err := exec.Command(chat, "--mount", dir).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("mfs-chat on an empty directory: %v\n%s", err, out)
	}
	want := fmt.Sprintf("nothing is mounted at %s: start a node with `messagefs %s` (see README)", dir, dir)
	if !strings.Contains(string(out), want) {
		t.Errorf("mfs-chat said %q, want %q", out, want)
	}
}
