package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size (e.g. "2m") on a new directory and
// unmounts it when the test ends (after the nodes started later, whose
// cleanups run first). It skips the test where that is impossible.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// runMessagefs runs a messagefs process for n's identity with the given
// state and mount point, expecting it to fail, and returns its output.
func runMessagefs(t *testing.T, n *Node, identity, state, mount string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Build(t).Messagefs,
		"--identity", identity, "--state", state, "--name", n.Name+"-2",
		"--no-beacon", "--bind", "127.0.0.1", "--port", fmt.Sprint(FreePort(t)), mount)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		Unmount(mount)
		t.Fatalf("messagefs did not give up within 20s:\n%s", out)
	}
	if err == nil {
		t.Fatalf("messagefs succeeded where it must fail:\n%s", out)
	}
	t.Logf("refused: %s", lastLine(string(out)))
	return string(out)
}

// TestFullDisk: alice's state directory is on a 2 MiB tmpfs. Her writes
// eventually fail with ENOSPC from write(2) (not EIO, not a crash); what
// was written before is intact, readable while the disk is full and after
// a restart with more room, and bob gets all of it exactly once.
func TestFullDisk(t *testing.T) {
	RequireFUSE(t)
	tmpfs := mountTmpfs(t, "2m")
	alice, bob := NewNode(t, "alice"), NewNode(t, "bob")
	alice.State = filepath.Join(tmpfs, "state")
	alice.Connect(bob)
	alice.Start()
	// alice trusts bob (who is down): everything waits in her outbox.
	if err := os.WriteFile(alice.Path("keys", "bob.pub"), []byte(bob.Recipient()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ok []string
	var werr error
	chunk := strings.Repeat("x", 60<<10)
	for i := 0; i < 200; i++ { // 12 MiB at most: far more than fits
		text := fmt.Sprintf("%04d %s", i, chunk)
		if werr = os.WriteFile(alice.Path("bob"), []byte(text+"\n"), 0o600); werr != nil {
			break
		}
		ok = append(ok, text)
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("after %d messages of 60 KiB the write failed with %v, want ENOSPC", len(ok), werr)
	}
	t.Logf("%d messages of 60 KiB fit before ENOSPC", len(ok))
	if len(ok) == 0 {
		t.Fatal("nothing fit: the tmpfs is too small for the test")
	}
	// Small writes fail cleanly too, and nothing is half-stored.
	for i := 0; i < 5; i++ {
		if err := os.WriteFile(alice.Path("bob"), []byte("small\n"), 0o600); err == nil {
			ok = append(ok, "small")
		} else if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("small write on a full disk: %v, want ENOSPC or success", err)
		}
	}
	// Trusting a key on a full disk either works or fails cleanly.
	carol := genKey(t).Public().String()
	kerr := os.WriteFile(alice.Path("keys", "carol.pub"), []byte(carol+"\n"), 0o600)
	if kerr != nil && !errors.Is(kerr, syscall.ENOSPC) {
		t.Errorf("trusting a key on a full disk: %v, want success or ENOSPC", kerr)
	}
	t.Logf("trusting a key on the full disk: %v", kerr)
	if !alive(alice) {
		t.Fatalf("alice died on a full disk:\n%s", alice.Log())
	}
	want := make([]string, len(ok))
	for i, s := range ok {
		want[i] = "me: " + s
	}
	if got := logTexts(t, alice.Path("bob")); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("while the disk is full alice's history has %d messages, want %d", len(got), len(want))
	}

	alice.Stop()
	if out, err := exec.Command("mount", "-o", "remount,size=64m", tmpfs).CombinedOutput(); err != nil {
		t.Fatalf("growing the tmpfs: %v: %s", err, out)
	}
	alice.Start()
	waitLog(t, alice.Path("bob"), want)
	if _, err := os.Stat(alice.Path("keys", "carol.pub")); (err == nil) != (kerr == nil) {
		t.Errorf("after the restart keys/carol.pub: %v; the write had returned %v", err, kerr)
	}
	writeMsg(t, alice.Path("bob"), "there is room again")
	want = append(want, "me: there is room again")
	bob.Start()
	fpr := waitPending(t, bob, alice.Recipient())
	run(t, "mv", bob.Path("keys", "pending", fpr+".pub"), bob.Path("keys", "alice.pub"))
	wantBob := make([]string, len(want))
	for i, s := range want {
		wantBob[i] = "alice: " + strings.TrimPrefix(s, "me: ")
	}
	Eventually(t, 60*time.Second, func() error {
		if got := logTexts(t, bob.Path("alice")); strings.Join(got, "|") != strings.Join(wantBob, "|") {
			return fmt.Errorf("bob has %d of %d messages", len(got), len(wantBob))
		}
		return nil
	})
	alice.Stop()
	bob.Stop()
	checkBolt(t, alice)
}

// TestStaleMountIsExplained: a SIGKILLed node leaves a stale mount. A node
// started on it fails with an explanation that names `fusermount3 -u`,
// and after that command it mounts. A second node on a live mount, or on
// the state directory of a running node, is refused clearly and does not
// disturb the running one.
func TestStaleMountIsExplained(t *testing.T) {
	alice, bob := pair(t)

	// A mount point that is already mounted.
	other := NewNode(t, "other")
	out := runMessagefs(t, other, other.Identity, other.State, alice.Mount)
	if !strings.Contains(out, "fusermount3 -u") && !strings.Contains(out, "already") {
		t.Errorf("a node started on a live mount says:\n%s\nwant an explanation (already mounted, fusermount3 -u)", out)
	}
	// The state directory of a running node.
	out = runMessagefs(t, alice, alice.Identity, alice.State, other.Mount)
	if !strings.Contains(strings.ToLower(out), "lock") {
		t.Errorf("a node started on a running node's state says:\n%s\nwant it to say the database is locked", out)
	}
	Unmount(other.Mount)
	writeMsg(t, alice.Path("bob"), "still serving")
	waitLog(t, bob.Path("alice"), []string{"alice: still serving"})

	// A stale mount from a SIGKILLed node.
	if err := alice.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-alice.done
	if _, err := os.Stat(alice.Mount); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("stat of the dead node's mount: %v, want ENOTCONN (a stale mount)", err)
	}
	out = runMessagefs(t, alice, alice.Identity, alice.State, alice.Mount)
	if !strings.Contains(out, "fusermount3 -u "+alice.Mount) {
		t.Errorf("a node started on a stale mount says:\n%s\nwant the command `fusermount3 -u %s`", out, alice.Mount)
	}
	run(t, "fusermount3", "-u", alice.Mount)
	alice.Start()
	writeMsg(t, alice.Path("bob"), "back")
	waitLog(t, bob.Path("alice"), []string{"alice: still serving", "alice: back"})
}

// TestIdentityPermissions: an identity file that others can read is
// refused, with a message that says how to fix it; so are a missing one
// and a directory.
func TestIdentityPermissions(t *testing.T) {
	RequireFUSE(t)
	alice := NewNode(t, "alice")
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o666} {
		if err := os.Chmod(alice.Identity, mode); err != nil {
			t.Fatal(err)
		}
		out := runMessagefs(t, alice, alice.Identity, alice.State, alice.Mount)
		if !strings.Contains(out, "chmod 600") {
			t.Errorf("identity with mode %04o: messagefs says\n%s\nwant it to say `chmod 600`", mode, out)
		}
	}
	if err := os.Chmod(alice.Identity, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nothing")
	if out := runMessagefs(t, alice, missing, alice.State, alice.Mount); !strings.Contains(out, "mfs-keygen") {
		t.Errorf("missing identity: messagefs says\n%s\nwant it to point to mfs-keygen", out)
	}
	if out := runMessagefs(t, alice, t.TempDir(), alice.State, alice.Mount); !strings.Contains(out, "identity") {
		t.Errorf("identity that is a directory: messagefs says\n%s", out)
	}
	if isMounted(alice.Mount) {
		t.Errorf("a refused node left a mount behind")
	}
	alice.Start() // with mode 0600 it mounts
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}
