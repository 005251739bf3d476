package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// mountTmpfs mounts a tmpfs of the given size on a new directory and
// unmounts it when the test ends. It skips the test when that is not
// possible.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("full-disk test needs root to mount a small tmpfs")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): skipping the full-disk test", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// scrubPending reports whether a rewrite after a deletion is pending.
func scrubPending(t *testing.T, s *Store) (pending bool) {
	t.Helper()
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	s.db.View(func(tx *bolt.Tx) error {
		pending = tx.Bucket(bucketMeta).Get(metaScrub) != nil
		return nil
	})
	return pending
}

// TestDiskFull fills a 2 MiB file system and checks that the failing commit
// reports ENOSPC, that nothing committed before is lost, and that the store
// works again once there is space.
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	path := filepath.Join(dir, "state", "messagefs.db")
	id := newIdentity(t)
	s, err := Open(path, id, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()

	text := func(i int) []byte { return bytes.Repeat(fmt.Appendf(nil, "%06d", i), 700) } // ~4 KiB
	write := func(i int) error {
		return s.Update(ctx, func(tx *Tx) error {
			if _, err := tx.Append("p:full", Entry{Text: text(i), ID: mid(i)}); err != nil {
				return err
			}
			seq, err := tx.NextSendSeq("peer")
			if err != nil {
				return err
			}
			return tx.PutOutbox(OutboxItem{ID: mid(i), Seq: seq, Payload: text(i)})
		})
	}
	mustUpdate(t, s, func(tx *Tx) error {
		_, err := tx.Append("p:small", Entry{Text: []byte("delete me when the disk is full"), ID: mid(1)})
		return err
	})
	var committed []int // the writes that succeeded, in order
	var fullErr error
	for i := 1; i <= 5000; i++ {
		if err := write(i); err != nil {
			fullErr = err
			break
		}
		committed = append(committed, i)
	}
	if fullErr == nil {
		t.Fatal("5000 writes of 8 KiB fit in a 2 MiB file system")
	}
	t.Logf("%d writes committed, then: %v", len(committed), fullErr)
	if !errors.Is(fullErr, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v, want an error wrapping ENOSPC", fullErr)
	}
	if len(committed) < 10 {
		t.Fatalf("only %d writes fit", len(committed))
	}
	// More writes keep failing cleanly (or fit into freed pages), and reads work.
	next := committed[len(committed)-1] + 1
	for end := next + 5; next < end; next++ {
		if err := write(next); err == nil {
			committed = append(committed, next)
		} else if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("write %d on a full disk: %v", next, err)
		}
	}
	check := func(s *Store, committed []int) {
		t.Helper()
		got := allEntries(t, s, "p:full")
		if len(got) != len(committed) {
			t.Fatalf("%d entries, want %d", len(got), len(committed))
		}
		for i, e := range got {
			if w := committed[i]; !bytes.Equal(e.Text, text(w)) || e.ID != mid(w) {
				t.Fatalf("entry %d damaged", i+1)
			}
		}
		if n := len(readOutbox(t, s)); n != len(committed) {
			t.Fatalf("%d outbox items, want %d", n, len(committed))
		}
	}
	check(s, committed)

	// A deletion on a full disk: either the commit fails with ENOSPC, or it
	// commits and the rewrite (which needs room for a copy) is left for
	// later.
	deleted := false
	switch err := s.Update(ctx, func(tx *Tx) error { return tx.DeleteConversation("p:small") }); {
	case err == nil:
		deleted = true
	case !errors.Is(err, syscall.ENOSPC):
		t.Fatalf("deletion on a full disk: %v", err)
	}
	pending := scrubPending(t, s)
	t.Logf("deletion on a full disk: committed %v, rewrite pending %v", deleted, pending)
	if _, err := os.Stat(s.rewritePath()); !os.IsNotExist(err) {
		t.Errorf("failed rewrite left its copy behind: %v", err)
	}
	check(s, committed)
	if err := s.Close(); err != nil {
		t.Fatalf("Close on a full disk: %v", err)
	}

	// Reopen on the still-full file system, then with space again.
	s, err = Open(path, id, Options{})
	if err != nil {
		t.Fatalf("reopen on a full disk: %v", err)
	}
	boltCheck(t, s)
	check(s, committed)
	s.Close()
	if out, err := exec.Command("mount", "-o", "remount,size=16m", dir).CombinedOutput(); err != nil {
		t.Fatalf("growing the tmpfs: %v: %s", err, out)
	}
	s, err = Open(path, id, Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if pending && (s.scrubs.Load() != 1 || scrubPending(t, s)) {
		t.Errorf("pending rewrite not done at Open (%d rewrites)", s.scrubs.Load())
	}
	mustView(t, s, func(tx *Tx) error {
		if n := tx.Count("p:small"); deleted != (n == 0) {
			t.Errorf("deleted %v but %d entries left", deleted, n)
		}
		return nil
	})
	for end := next + 20; next < end; next++ {
		if err := write(next); err != nil {
			t.Fatalf("write with space again: %v", err)
		}
		committed = append(committed, next)
	}
	check(s, committed)
	boltCheck(t, s)
}
