package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
)

// Environment of the child process of TestCrashSafety.
const (
	crashEnvPath     = "MFS_STORE_CRASH_CHILD_DB"
	crashEnvIdentity = "MFS_STORE_CRASH_CHILD_IDENTITY"
	crashConv        = "p:crash"
	crashWriters     = 4
)

// crashChild runs in the child process: several goroutines append in a
// loop, each committing history, outbox and send sequence together, and
// print "index text" once Update has returned.
func crashChild() {
	id, err := age.ParseX25519Identity(os.Getenv(crashEnvIdentity))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	s, err := Open(os.Getenv(crashEnvPath), id, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	deadline := time.Now().Add(30 * time.Second) // bounded even if nobody kills us
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				var e Entry
				randRead(e.ID[:])
				e.Text = fmt.Appendf(nil, "pid%d-w%d-%d", os.Getpid(), w, i)
				var idx uint64
				err := s.Update(context.Background(), func(tx *Tx) error {
					var err error
					if idx, err = tx.Append(crashConv, e); err != nil {
						return err
					}
					seq, err := tx.NextSendSeq("peer")
					if err != nil {
						return err
					}
					return tx.PutOutbox(OutboxItem{ID: e.ID, To: "peer", Conv: crashConv, Seq: seq, Payload: e.Text})
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%d %s\n", idx, e.Text) // unbuffered: in the pipe before we go on
				mu.Unlock()
				if w == 0 && i%10 == 9 {
					// Deletions rewrite the whole file: crash during those too.
					err := s.Update(context.Background(), func(tx *Tx) error {
						if _, err := tx.Append("p:scratch", Entry{ID: e.ID, Text: e.Text}); err != nil {
							return err
						}
						if i%20 == 19 {
							return tx.DeleteConversation("p:scratch")
						}
						return nil
					})
					if err != nil {
						fmt.Fprintln(os.Stderr, "child:", err)
						os.Exit(2)
					}
				}
			}
		}()
	}
	wg.Wait()
	s.Close()
	os.Exit(0)
}

// TestCrashSafety kills a writing child process at random moments and
// checks that every write it saw committed survived, that history, outbox
// and counters stayed consistent, and that the file is not corrupt.
func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashEnvPath) != "" {
		crashChild()
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := dbPath(t)
	id := newIdentity(t)
	reported := map[uint64]string{} // every index a child saw committed
	resumed := 0                    // rewrites a child left unfinished
	const rounds = 5
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnvPath+"="+path, crashEnvIdentity+"="+id.String())
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1<<16)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Kill at a random moment after the child has started committing.
		killAfter := rand.N(200) + 1
		timeout := time.After(20 * time.Second)
		seen := 0
	wait:
		for seen < killAfter {
			select {
			case l, ok := <-lines:
				if !ok {
					break wait
				}
				record(t, reported, l)
				seen++
			case <-timeout:
				cmd.Process.Kill()
				t.Fatal("child committed nothing in 20s")
			}
		}
		time.Sleep(time.Duration(rand.N(100_000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for l := range lines {
			record(t, reported, l)
		}
		cmd.Wait()

		s, err := Open(path, id, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		resumed += int(s.scrubs.Load())
		if _, err := os.Stat(s.rewritePath()); !os.IsNotExist(err) {
			t.Errorf("round %d: partial rewrite left after reopen: %v", round, err)
		}
		boltCheck(t, s)
		verifyCrashDB(t, s, reported)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rounds, %d committed writes reported and found, %d interrupted rewrites finished at reopen", rounds, len(reported), resumed)
}

func record(t *testing.T, reported map[uint64]string, line string) {
	t.Helper()
	idx, text, ok := strings.Cut(line, " ")
	n, err := strconv.ParseUint(idx, 10, 64)
	if !ok || err != nil {
		t.Fatalf("child printed %q", line)
	}
	if old, dup := reported[n]; dup {
		t.Fatalf("index %d reported twice: %q and %q", n, old, text)
	}
	reported[n] = text
}

// verifyCrashDB checks the database a killed child left.
func verifyCrashDB(t *testing.T, s *Store, reported map[uint64]string) {
	t.Helper()
	err := s.View(func(tx *Tx) error {
		count := tx.Count(crashConv)
		got := map[uint64]string{}
		err := tx.Entries(crashConv, 1, func(i uint64, e Entry) error {
			if i != uint64(len(got)+1) {
				return fmt.Errorf("index %d after %d entries", i, len(got))
			}
			got[i] = string(e.Text)
			return nil
		})
		if err != nil {
			return err
		}
		if uint64(len(got)) != count {
			return fmt.Errorf("Count %d but %d entries", count, len(got))
		}
		for i, text := range reported {
			if got[i] != text {
				return fmt.Errorf("reported committed entry %d %q, found %q", i, text, got[i])
			}
		}
		// History, outbox and send sequence were written in the same
		// transactions: they must agree.
		outbox := 0
		err = tx.Outbox(func(it OutboxItem) error {
			outbox++
			if it.Seq == 0 || it.Seq > count {
				return fmt.Errorf("outbox item with sequence %d of %d", it.Seq, count)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if uint64(outbox) != count {
			return fmt.Errorf("%d outbox items for %d entries", outbox, count)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Peek at the send sequence in an Update that is rolled back.
	rollback := errors.New("rollback")
	err = s.Update(context.Background(), func(tx *Tx) error {
		c := tx.Count(crashConv)
		seq, err := tx.NextSendSeq("peer")
		if err == nil && seq != c+1 {
			err = fmt.Errorf("next send sequence %d after %d entries", seq, c)
		}
		if err == nil {
			err = rollback
		}
		return err
	})
	if err != rollback {
		t.Fatal(err)
	}
}
