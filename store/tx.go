package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Tx is a transaction, passed to the functions given to Store.Update and
// Store.View. It is not safe for concurrent use and must not be used after
// the function returns.
//
// Methods that return no error (Count, HasID, DeliveredSeq, Conversations)
// record a failure to read a corrupt value in the Tx instead: the function
// then fails with that error even if it returns nil, so a corrupt database
// can never be written to as if the value had been zero.
type Tx struct {
	s   *Store
	btx *bolt.Tx

	convs   map[string]*convHandle // conversations opened in this bolt tx
	err     error                  // first error of the current function
	deleted bool                   // the current function deleted a conversation
}

func (s *Store) newTx(btx *bolt.Tx) *Tx {
	return &Tx{s: s, btx: btx, convs: make(map[string]*convHandle)}
}

// run runs one function in the transaction.
func (t *Tx) run(fn func(*Tx) error) error {
	t.err, t.deleted = nil, false
	err := fn(t)
	if err == nil {
		err = t.err
	}
	return err
}

// finish makes later use of the Tx fail loudly instead of touching a
// closed bolt transaction.
func (t *Tx) finish() {
	t.btx = nil
	t.convs = nil
}

// fail records the first error of a method that cannot return one.
func (t *Tx) fail(err error) {
	if t.err == nil {
		t.err = err
	}
	t.s.log.Error("store: reading a value", "err", err)
}

// bucket returns a top-level bucket, which Open guarantees to exist.
func (t *Tx) bucket(name []byte) *bolt.Bucket {
	if t.btx == nil {
		panic("store: Tx used after its function returned")
	}
	return t.btx.Bucket(name)
}

// writable fails in a read-only transaction.
func (t *Tx) writable() error {
	if t.btx == nil {
		panic("store: Tx used after its function returned")
	}
	if !t.btx.Writable() {
		return ErrReadOnly
	}
	return nil
}

// put stores a value, turning bbolt errors into ours.
func put(b *bolt.Bucket, key, value []byte) error {
	if err := b.Put(key, value); err != nil {
		return fmt.Errorf("store: put: %w", classify(err))
	}
	return nil
}

// validName refuses empty and oversized names.
func validName(kind, s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalid, kind)
	}
	if len(s) > maxString {
		return fmt.Errorf("%w: %s of %d bytes", ErrInvalid, kind, len(s))
	}
	return nil
}
