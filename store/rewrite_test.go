package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestCompact(t *testing.T) {
	path := dbPath(t)
	id := newIdentity(t)
	s := mustOpen(t, path, id)
	mustUpdate(t, s, func(tx *Tx) error {
		for i := 1; i <= 3; i++ {
			if err := tx.PutOutbox(OutboxItem{ID: mid(i), Seq: uint64(i)}); err != nil {
				return err
			}
			if _, err := tx.Append("p:a", Entry{Text: []byte("kept"), ID: mid(i)}); err != nil {
				return err
			}
		}
		if _, err := tx.NextSendSeq("a"); err != nil {
			return err
		}
		return tx.PutSecret("chain", []byte("old chain key"))
	})
	var oldSecret []byte
	rawUpdate(t, s, func(tx *bolt.Tx) error {
		oldSecret = bytes.Clone(tx.Bucket(bucketSecret).Get(s.keys.name(labelSecret, nil, "chain")))
		return nil
	})
	// Replace the secret and drop an outbox item: the old values are now
	// in freed pages (or were overwritten already).
	mustUpdate(t, s, func(tx *Tx) error {
		if err := tx.DeleteOutbox(mid(2)); err != nil {
			return err
		}
		return tx.PutSecret("chain", []byte("new chain key"))
	})
	if err := s.Compact(ctx); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if fileContains(t, path, oldSecret) {
		t.Error("replaced secret survived Compact")
	}
	if _, err := os.Stat(s.rewritePath()); !os.IsNotExist(err) {
		t.Errorf("rewrite copy left behind: %v", err)
	}
	if fi, err := os.Stat(path); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v after Compact, want 0600", fi.Mode().Perm())
	}
	// Everything live is intact and the outbox order continues.
	mustUpdate(t, s, func(tx *Tx) error { return tx.PutOutbox(OutboxItem{ID: mid(0), Seq: 9}) })
	var order []byte
	for _, it := range readOutbox(t, s) {
		order = append(order, it.ID[2])
	}
	if !bytes.Equal(order, []byte{1, 3, 0}) {
		t.Errorf("outbox order after Compact: %v, want [1 3 0]", order)
	}
	mustView(t, s, func(tx *Tx) error {
		if n := tx.Count("p:a"); n != 3 {
			t.Errorf("Count = %d", n)
		}
		v, ok, err := tx.GetSecret("chain")
		if !ok || err != nil || string(v) != "new chain key" {
			t.Errorf("secret after Compact: %q %v %v", v, ok, err)
		}
		return nil
	})
	boltCheck(t, s)
	s.Close()
	s = mustOpen(t, path, id)
	mustUpdate(t, s, func(tx *Tx) error {
		seq, err := tx.NextSendSeq("a")
		if err == nil && seq != 2 {
			t.Errorf("send sequence after Compact and reopen = %d, want 2", seq)
		}
		return err
	})
	c, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Compact(c); !errors.Is(err, context.Canceled) {
		t.Errorf("Compact with a cancelled context: %v", err)
	}
}

// TestViewDuringRewrite runs Views and Updates while conversations are
// deleted (each deletion rewrites the file under them).
func TestViewDuringRewrite(t *testing.T) {
	s := mustOpen(t, dbPath(t), newIdentity(t))
	mustUpdate(t, s, func(tx *Tx) error {
		for i := range 200 {
			if _, err := tx.Append("p:stay", Entry{ID: mid(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			default:
			}
			err := s.View(func(tx *Tx) error {
				if n := len(allEntriesTx(tx, "p:stay")); n != 200 {
					t.Errorf("View saw %d entries", n)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 5 {
		mustUpdate(t, s, func(tx *Tx) error {
			_, err := tx.Append("p:gone", Entry{ID: mid(i)})
			return err
		})
		mustUpdate(t, s, func(tx *Tx) error { return tx.DeleteConversation("p:gone") })
	}
	close(done)
	<-stopped
	if n := s.scrubs.Load(); n != 5 {
		t.Errorf("%d rewrites for 5 deletions", n)
	}
}

// allEntriesTx reads a history inside a transaction.
func allEntriesTx(tx *Tx, conv string) []Entry {
	var es []Entry
	tx.Entries(conv, 1, func(_ uint64, e Entry) error { es = append(es, e); return nil })
	return es
}
