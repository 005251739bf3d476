package keyring

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/messagefs/messagefs/crypto"
)

// The crash tests re-execute the test binary as a child that writes to a
// keyring in a loop, kill it with SIGKILL at a random moment and check what
// Open then finds.
const (
	crashChildEnv = "MFS_KEYRING_CRASH_CHILD" // the child's mode
	crashDirEnv   = "MFS_KEYRING_CRASH_DIR"   // the keyring directory
)

// crashKey returns a fixed key, the same in parent and child.
func crashKey(i int) crypto.PublicKey {
	return crypto.PrivateKey(sha256.Sum256(fmt.Appendf(nil, "crash key %d", i))).Public()
}

// crashContent returns the two versions of the file the "atomic" child
// rewrites. They differ in length, so a torn write is visible.
func crashContent(i int) []byte {
	if i%2 == 0 {
		return MarshalKeyFile(crashKey(0), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	}
	return append([]byte("# a longer comment that changes the length of the file\n\n"), MarshalKeyFile(crashKey(1), time.Time{})...)
}

// TestKeyringCrashChild is the child's body; it does nothing in a normal run.
func TestKeyringCrashChild(t *testing.T) {
	mode := os.Getenv(crashChildEnv)
	if mode == "" {
		t.Skip("run by TestKeyringCrash as a child process")
	}
	dir := os.Getenv(crashDirEnv)
	deadline := time.Now().Add(60 * time.Second) // bounded even if the parent dies
	var step func(i int) error
	switch mode {
	case "atomic":
		step = func(i int) error { return writeFileAtomic(dir, "alice.pub", crashContent(i), 0o600) }
	case "keyring":
		k, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		// Cycle a key through add, rename and remove, under aliases and
		// keys that change every round.
		step = func(i int) error {
			key, alias := crashKey(10+i%5), fmt.Sprintf("peer%d", i%3)
			if err := k.Add(alias, key); err != nil {
				return err
			}
			if err := k.Rename(alias, "friend"); err != nil {
				return err
			}
			return k.Remove("friend")
		}
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	for i := 0; time.Now().Before(deadline); i++ {
		if err := step(i); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if i == 0 {
			fmt.Println("running")
		}
	}
}

// runCrashChild starts the child in mode on dir, lets it write for a random
// while and kills it.
func runCrashChild(t *testing.T, mode, dir string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKeyringCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+mode, crashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "running") {
		cmd.Process.Kill()
		cmd.Wait()
		killed = true
		t.Fatalf("child did not start: %q, %v\n%s", line, err, stderr.Bytes())
	}
	time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	killed = true
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended before it was killed: %v\n%s", err, stderr.Bytes())
	}
}

// TestKeyringCrash kills a writer mid-write, many times, and checks that the
// keyring stays consistent: every key file holds a whole old or new
// version, temporary files are removed and never trusted.
func TestKeyringCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const rounds = 12
	t.Run("atomic", func(t *testing.T) {
		dir := t.TempDir()
		old, new := crashContent(0), crashContent(1)
		torn := 0
		defer func() { t.Logf("%d of %d kills left a temporary file", torn, rounds) }()
		for round := range rounds {
			runCrashChild(t, "atomic", dir)
			if hasTemp(dir) {
				torn++
			}
			got, err := os.ReadFile(filepath.Join(dir, "alice.pub"))
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if !bytes.Equal(got, old) && !bytes.Equal(got, new) {
				t.Fatalf("round %d: alice.pub is neither version: %q", round, got)
			}
			k := openTest(t, dir)
			if p := k.Problems(); len(p) != 0 {
				t.Fatalf("round %d: Problems() = %v", round, p)
			}
			e, ok := k.Lookup("alice")
			if !ok || e.Key != crashKey(0) && e.Key != crashKey(1) {
				t.Fatalf("round %d: Lookup(alice) = %+v, %v", round, e, ok)
			}
			if len(k.List()) != 1 {
				t.Fatalf("round %d: List() = %v", round, k.List())
			}
			checkNoTemp(t, dir)
		}
	})
	t.Run("keyring", func(t *testing.T) {
		dir := t.TempDir()
		k := openTest(t, dir)
		// Entries the child never touches must survive every crash.
		for i := range 3 {
			if err := k.Add(fmt.Sprintf("static%d", i), crashKey(i)); err != nil {
				t.Fatal(err)
			}
		}
		static := k.List()
		valid := map[crypto.PublicKey]bool{}
		for i := 10; i < 15; i++ {
			valid[crashKey(i)] = true
		}
		torn := 0
		defer func() { t.Logf("%d of %d kills left a temporary file", torn, rounds) }()
		for round := range rounds {
			runCrashChild(t, "keyring", dir)
			if hasTemp(dir) {
				torn++
			}
			k := openTest(t, dir)
			if p := k.Problems(); len(p) != 0 {
				t.Fatalf("round %d: Problems() = %v", round, p)
			}
			var rest []Entry
			for _, e := range k.List() {
				if strings.HasPrefix(e.Alias, "static") {
					continue
				}
				rest = append(rest, e)
				if !valid[e.Key] || e.Alias != "friend" && !strings.HasPrefix(e.Alias, "peer") {
					t.Fatalf("round %d: unexpected entry %+v", round, e)
				}
			}
			if len(rest) > 1 {
				t.Fatalf("round %d: %d entries from the child, at most one expected: %v", round, len(rest), rest)
			}
			for _, e := range static {
				if got, ok := k.Lookup(e.Alias); !ok || got != e {
					t.Fatalf("round %d: %s = %+v, want %+v", round, e.Alias, got, e)
				}
			}
			checkNoTemp(t, dir)
			// Leave the keyring as the child expects it: without its
			// entry, so that its next Add succeeds.
			for _, e := range rest {
				if err := k.Remove(e.Alias); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func hasTemp(dir string) bool {
	ents, _ := os.ReadDir(dir)
	return slices.ContainsFunc(ents, func(e os.DirEntry) bool { return isTemp(e.Name()) })
}

func checkNoTemp(t *testing.T, dir string) {
	t.Helper()
	if hasTemp(dir) {
		t.Fatalf("temporary file left in %s after Open", dir)
	}
}

// TestKeyringTornWrites simulates what a crash in the middle of
// writeFileAtomic can leave: a partial or empty temporary file next to the
// intact old key file.
func TestKeyringTornWrites(t *testing.T) {
	dir := t.TempDir()
	k := openTest(t, dir)
	old := newKey(t).Public()
	if err := k.Add("alice", old); err != nil {
		t.Fatal(err)
	}
	full := MarshalKeyFile(newKey(t).Public(), time.Now())
	for i, partial := range [][]byte{nil, full[:10], full[:len(full)-5], full} {
		name := fmt.Sprintf("%salice.pub-%d", tempPrefix, i)
		if err := os.WriteFile(filepath.Join(dir, name), partial, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k = openTest(t, dir)
	if e, ok := k.Lookup("alice"); !ok || e.Key != old {
		t.Fatalf("Lookup(alice) = %+v, %v; want the old key", e, ok)
	}
	if len(k.List()) != 1 || len(k.Problems()) != 0 {
		t.Fatalf("List() = %v, Problems() = %v", k.List(), k.Problems())
	}
	checkNoTemp(t, dir)
}
