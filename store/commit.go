package store

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync/atomic"
)

// maxBatch caps how many Update calls share one transaction.
const maxBatch = 128

// Request states: the committer takes a pending request by moving it to
// taken; a caller whose context ends first moves it to abandoned.
const (
	reqPending int32 = iota
	reqTaken
	reqAbandoned
)

// request is one Update (fn != nil) or Compact (fn == nil) call.
type request struct {
	ctx   context.Context
	fn    func(*Tx) error
	state atomic.Int32
	done  chan result // buffered: the committer never blocks on a caller
	scrub bool        // committer only: the last run of fn deleted a conversation
}

// result is what the committer hands back to a caller.
type result struct {
	err error
	pnc *fnPanic // fn panicked: re-raised in the caller's goroutine
}

// fnPanic carries a panic out of the committer goroutine.
type fnPanic struct {
	value any
	stack []byte
}

func (r *request) reply(res result) { r.done <- res }

// get returns the error, or panics again if fn panicked.
func (res result) get() error {
	if res.pnc != nil {
		panic(fmt.Sprintf("store: Update function panicked: %v\n\ncommitter stack:\n%s", res.pnc.value, res.pnc.stack))
	}
	return res.err
}

// Update runs fn in a read-write transaction and returns after that
// transaction has been committed and synced to disk, or with fn's error (in
// which case nothing fn did is kept).
//
// Concurrent calls share transactions: while one commit is being written,
// new calls queue, and the next transaction runs all the queued functions
// (at most maxBatch) one after the other and commits them together. A lone
// caller is committed at once. If one function fails, the transaction is
// rolled back and the others run again in a new one; the error goes to its
// own caller only. So fn may run more than once: it must only act through
// tx, decide only from what it reads in tx, and do nothing outside it (no
// channel sends, no changes to shared memory); return such results to the
// caller after Update returns instead. fn must not keep tx, nor call Update
// or View. A panic in fn is raised again in the caller of Update.
//
// If ctx ends before the transaction holding fn starts, Update gives up and
// returns ctx.Err(); once it has started, Update waits for the commit and
// reports its outcome, so a committed change is never reported as an error.
// A commit that fails for lack of space returns an error wrapping
// syscall.ENOSPC and changes nothing.
//
// If fn deleted a conversation, Update returns only after the database file
// has been rewritten without it (see the package documentation).
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if fn == nil {
		return fmt.Errorf("%w: nil function", ErrInvalid)
	}
	return s.submit(ctx, &request{ctx: ctx, fn: fn})
}

// Compact rewrites the database file so that it holds only live data:
// values that were replaced or deleted (old outbox items, secrets) no longer
// survive in freed pages. It blocks all updates while it runs, which takes
// time proportional to the size of the database.
func (s *Store) Compact(ctx context.Context) error {
	return s.submit(ctx, &request{ctx: ctx})
}

// submit queues r for the committer and waits for its result.
func (s *Store) submit(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.done = make(chan result, 1)
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	s.closeMu.RUnlock()
	select {
	case res := <-r.done:
		return res.get()
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqPending, reqAbandoned) {
			return ctx.Err()
		}
		return (<-r.done).get() // already in a transaction: wait for it
	}
}

// commitLoop is the committer goroutine. It takes everything queued while
// the previous commit ran and commits it as one transaction.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*request, 0, maxBatch)
	for r := range s.reqs {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.runBatch(batch)
		clear(batch)
		// Let the callers just answered run: those that write again at
		// once join the next batch instead of the one after it. Without
		// this, concurrent writers settle into two groups that take turns.
		runtime.Gosched()
	}
}

// runBatch commits a batch of requests and replies to every one of them.
func (s *Store) runBatch(batch []*request) {
	live := make([]*request, 0, len(batch))
	for _, r := range batch {
		if !r.state.CompareAndSwap(reqPending, reqTaken) {
			continue // abandoned by its caller
		}
		if err := r.ctx.Err(); err != nil {
			r.reply(result{err: err})
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}

	s.dbMu.RLock()
	live, err := s.commitBatch(live)
	s.dbMu.RUnlock()

	scrub := false
	for _, r := range live {
		scrub = scrub || r.scrub
	}
	if err != nil || !scrub {
		for _, r := range live {
			r.reply(result{err: err})
		}
		return
	}
	for _, r := range live {
		if !r.scrub {
			r.reply(result{})
		}
	}
	serr := s.rewrite()
	if serr != nil {
		s.log.Warn("store: rewriting the database after a deletion failed; will retry", "err", serr)
	}
	for _, r := range live {
		switch {
		case !r.scrub:
		case r.fn == nil:
			r.reply(result{err: serr}) // Compact reports its own failure
		default:
			r.reply(result{}) // the deletion is committed whatever happened next
		}
	}
}

// commitBatch runs the functions of live in one transaction and commits
// it. A function that fails is replied to at once and dropped, and the
// others run again in a new transaction. It returns the requests whose
// functions are in the committed transaction (or in the failed commit, with
// its error). The caller holds dbMu for reading.
func (s *Store) commitBatch(live []*request) ([]*request, error) {
	for {
		if s.db == nil {
			return live, s.unusable()
		}
		if !slices.ContainsFunc(live, func(r *request) bool { return r.fn != nil }) {
			for _, r := range live {
				r.scrub = true // only Compact calls
			}
			return live, nil
		}
		btx, err := s.db.Begin(true)
		if err != nil {
			return live, fmt.Errorf("store: begin: %w", classify(err))
		}
		t := s.newTx(btx)
		failed, res := -1, result{}
		for i, r := range live {
			if r.fn == nil {
				r.scrub = true
				continue
			}
			if res = t.runCaught(r.fn); res.err != nil || res.pnc != nil {
				failed = i
				break
			}
			r.scrub = t.deleted
		}
		t.finish()
		if failed >= 0 {
			if err := btx.Rollback(); err != nil {
				s.log.Error("store: rollback", "err", err)
			}
			live[failed].reply(res)
			live = slices.Delete(live, failed, failed+1)
			if len(live) == 0 {
				return nil, nil
			}
			continue
		}
		if err := btx.Commit(); err != nil {
			err = fmt.Errorf("store: commit: %w", classify(err))
			s.log.Error("store: commit failed", "err", err, "batch", len(live))
			return live, err
		}
		s.commits.Add(1)
		return live, nil
	}
}

// runCaught runs fn for Update, turning a panic into a result.
func (t *Tx) runCaught(fn func(*Tx) error) (res result) {
	defer func() {
		if p := recover(); p != nil {
			res = result{pnc: &fnPanic{value: p, stack: debug.Stack()}}
		}
	}()
	return result{err: t.run(fn)}
}
