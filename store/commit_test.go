package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockCommitter queues an Update whose fn blocks until the returned
// release is called, so that the next requests pile up and are committed
// together in one deterministic batch.
func blockCommitter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx *Tx) error {
			select {
			case <-entered:
			default:
				close(entered)
			}
			<-gate
			return nil
		})
	}()
	<-entered
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(gate)
			if err := <-done; err != nil {
				t.Errorf("blocking update: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// waitQueued waits until n requests are queued for the committer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests queued", len(s.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGroupCommitConcurrentWriters(t *testing.T) {
	const writers, perWriter = 8, 40
	s := mustOpen(t, dbPath(t), newIdentity(t))
	before := s.commits.Load()
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				errs <- s.Update(ctx, func(tx *Tx) error {
					if _, err := tx.Append(fmt.Sprintf("p:%d", w), Entry{Text: []byte("own"), ID: mid(i)}); err != nil {
						return err
					}
					if _, err := tx.Append("g:all", Entry{Text: []byte("shared"), ID: mid(w*1000 + i)}); err != nil {
						return err
					}
					seq, err := tx.NextSendSeq("everyone")
					if err != nil {
						return err
					}
					return tx.PutOutbox(OutboxItem{ID: mid(w*1000 + i), Seq: seq})
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	commits := s.commits.Load() - before
	updates := uint64(writers * perWriter)
	t.Logf("%d updates in %d commits (%.1f per commit)", updates, commits, float64(updates)/float64(commits))
	if commits*2 > updates {
		t.Errorf("%d commits for %d concurrent updates: commits are not shared", commits, updates)
	}
	mustView(t, s, func(tx *Tx) error {
		for w := range writers {
			if n := tx.Count(fmt.Sprintf("p:%d", w)); n != perWriter {
				t.Errorf("writer %d: %d entries, want %d", w, n, perWriter)
			}
		}
		if n := tx.Count("g:all"); n != updates {
			t.Errorf("shared conversation: %d entries, want %d", n, updates)
		}
		seqs := map[uint64]bool{}
		if err := tx.Outbox(func(it OutboxItem) error { seqs[it.Seq] = true; return nil }); err != nil {
			return err
		}
		for i := uint64(1); i <= updates; i++ {
			if !seqs[i] {
				t.Errorf("send sequence %d missing from the outbox", i)
			}
		}
		if len(seqs) != int(updates) {
			t.Errorf("%d distinct sequences, want %d", len(seqs), updates)
		}
		return nil
	})
	if got := allEntries(t, s, "g:all"); len(got) != int(updates) {
		t.Errorf("read %d shared entries", len(got))
	}
}

func TestGroupCommitFailureIsolated(t *testing.T) {
	s := mustOpen(t, dbPath(t), newIdentity(t))
	boom := errors.New("boom")
	release := blockCommitter(t, s)
	before := s.commits.Load()

	// counted increments a counter stored in the transaction itself and
	// counts its runs outside (for the test only).
	var runs atomic.Int32
	counted := func(tx *Tx) error {
		runs.Add(1)
		v, _, err := tx.GetSecret("counter")
		if err != nil {
			return err
		}
		return tx.PutSecret("counter", append(v, 'x'))
	}
	fns := []struct {
		name string
		fn   func(tx *Tx) error
		want error
	}{
		{"first", func(tx *Tx) error { _, err := tx.Append("p:a", Entry{Text: []byte("first"), ID: mid(1)}); return err }, nil},
		{"counted", counted, nil},
		{"fails after writing", func(tx *Tx) error {
			if _, err := tx.Append("p:a", Entry{Text: []byte("failed"), ID: mid(2)}); err != nil {
				return err
			}
			if err := tx.PutSecret("counter", []byte("clobbered")); err != nil {
				return err
			}
			return boom
		}, boom},
		{"last", func(tx *Tx) error { _, err := tx.Append("p:a", Entry{Text: []byte("last"), ID: mid(3)}); return err }, nil},
		{"fails too", func(tx *Tx) error { return fmt.Errorf("wrapped: %w", ErrNotFound) }, ErrNotFound},
	}
	errs := make([]chan error, len(fns))
	for i, f := range fns {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- s.Update(ctx, f.fn) }()
		waitQueued(t, s, i+1) // keep the queue order deterministic
	}
	release()
	for i, f := range fns {
		if err := <-errs[i]; !errors.Is(err, f.want) || (f.want == nil && err != nil) {
			t.Errorf("%s: Update returned %v, want %v", f.name, err, f.want)
		}
	}
	if n := runs.Load(); n < 2 {
		t.Errorf("counted ran %d times: the batch was not re-run, the test proves nothing", n)
	}
	if n := s.commits.Load() - before; n != 2 { // the blocker, then one batch
		t.Errorf("%d commits, want 2", n)
	}
	var texts []string
	for _, e := range allEntries(t, s, "p:a") {
		texts = append(texts, string(e.Text))
	}
	if fmt.Sprint(texts) != "[first last]" {
		t.Errorf("history %q, want [first last]", texts)
	}
	mustView(t, s, func(tx *Tx) error {
		v, _, err := tx.GetSecret("counter")
		if string(v) != "x" {
			t.Errorf("counter %q after %d runs, want exactly one increment", v, runs.Load())
		}
		return err
	})
}

func TestUpdatePanicReachesCaller(t *testing.T) {
	s := mustOpen(t, dbPath(t), newIdentity(t))
	release := blockCommitter(t, s)
	other := make(chan error, 1)
	go func() {
		other <- s.Update(ctx, func(tx *Tx) error { _, err := tx.Append("p:a", Entry{ID: mid(1)}); return err })
	}()
	waitQueued(t, s, 1)
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		s.Update(ctx, func(tx *Tx) error { panic("kaboom") })
	}()
	waitQueued(t, s, 2)
	release()
	if p := <-panicked; p == nil || !strings.Contains(fmt.Sprint(p), "kaboom") {
		t.Errorf("caller recovered %v, want the fn's panic", p)
	}
	if err := <-other; err != nil {
		t.Errorf("sibling of a panicking fn: %v", err)
	}
	mustView(t, s, func(tx *Tx) error {
		if tx.Count("p:a") != 1 {
			t.Error("sibling's append lost")
		}
		return nil
	})
}

func TestUpdateContext(t *testing.T) {
	s := mustOpen(t, dbPath(t), newIdentity(t))

	t.Run("cancelled before", func(t *testing.T) {
		c, cancel := context.WithCancel(ctx)
		cancel()
		ran := false
		if err := s.Update(c, func(*Tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
			t.Errorf("Update with a cancelled context: %v (ran %v)", err, ran)
		}
	})

	t.Run("cancelled while queued", func(t *testing.T) {
		release := blockCommitter(t, s)
		c, cancel := context.WithCancel(ctx)
		var ran atomic.Bool
		done := make(chan error, 1)
		go func() {
			done <- s.Update(c, func(tx *Tx) error {
				ran.Store(true)
				_, err := tx.Append("p:abandoned", Entry{ID: mid(1)})
				return err
			})
		}()
		waitQueued(t, s, 1)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("abandoned Update: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Update did not return after its context was cancelled while queued")
		}
		release()
		mustUpdate(t, s, func(*Tx) error { return nil }) // the committer has moved on
		if ran.Load() {
			t.Error("abandoned fn ran")
		}
		mustView(t, s, func(tx *Tx) error {
			if tx.Count("p:abandoned") != 0 {
				t.Error("abandoned fn was committed")
			}
			return nil
		})
	})

	t.Run("cancelled during the transaction", func(t *testing.T) {
		c, cancel := context.WithCancel(ctx)
		defer cancel()
		err := s.Update(c, func(tx *Tx) error {
			cancel() // test only: the context ends while the transaction runs
			_, err := tx.Append("p:committed", Entry{ID: mid(1)})
			return err
		})
		if err != nil {
			t.Errorf("a committed Update returned %v", err)
		}
		mustView(t, s, func(tx *Tx) error {
			if tx.Count("p:committed") != 1 {
				t.Error("not committed")
			}
			return nil
		})
	})
}

func TestBatchSizeCapped(t *testing.T) {
	s, err := Open(dbPath(t), newIdentity(t), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := blockCommitter(t, s)
	before := s.commits.Load()
	const n = 2*maxBatch + 10
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Update(ctx, func(tx *Tx) error { _, err := tx.Append("p:a", Entry{ID: mid(i)}); return err }); err != nil {
				t.Error(err)
			}
		}()
	}
	waitQueued(t, s, maxBatch) // the channel holds maxBatch; the rest wait to send
	release()
	wg.Wait()
	commits := s.commits.Load() - before - 1
	if commits < 3 || commits > n/2 {
		t.Errorf("%d requests took %d commits; want at least 3 (batches of at most %d) and far fewer than %d", n, commits, maxBatch, n)
	}
	mustView(t, s, func(tx *Tx) error {
		if c := tx.Count("p:a"); c != n {
			t.Errorf("Count = %d, want %d", c, n)
		}
		return nil
	})
}

// TestLoneWriterNotDelayed checks that a lone Update commits at once
// (bbolt's Batch would make each one wait 10 ms).
func TestLoneWriterNotDelayed(t *testing.T) {
	s, err := Open(dbPath(t), newIdentity(t), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 200
	start := time.Now()
	for i := range n {
		mustUpdate(t, s, func(tx *Tx) error { _, err := tx.Append("p:a", Entry{ID: mid(i)}); return err })
	}
	if el := time.Since(start); el > n*10*time.Millisecond/4 {
		t.Errorf("%d sequential updates took %v: a lone writer is being delayed", n, el)
	}
	if c := s.commits.Load(); c < n {
		t.Errorf("%d commits for %d sequential updates", c, n)
	}
}

func TestCloseWithConcurrentUpdates(t *testing.T) {
	path := dbPath(t)
	id := newIdentity(t)
	s := mustOpen(t, path, id)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				err := s.Update(ctx, func(tx *Tx) error {
					_, err := tx.Append("p:a", Entry{ID: mid(w<<12 | i)})
					return err
				})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = mustOpen(t, path, id)
	mustView(t, s, func(tx *Tx) error {
		if c := tx.Count("p:a"); c != uint64(ok.Load()) {
			t.Errorf("%d entries after close, %d updates succeeded", c, ok.Load())
		}
		return nil
	})
}
