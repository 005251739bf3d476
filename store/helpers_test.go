package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"
)

// newIdentity returns a fresh age identity.
func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// dbPath returns a database path in a fresh temporary state directory.
func dbPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "state", "messagefs.db")
}

// mustOpen opens a store and closes it when the test ends.
func mustOpen(t testing.TB, path string, id *age.X25519Identity) *Store {
	t.Helper()
	s, err := Open(path, id, Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustUpdate runs fn in an Update and fails the test on error.
func mustUpdate(t testing.TB, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// mustView runs fn in a View and fails the test on error.
func mustView(t testing.TB, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// boltCheck runs bbolt's consistency check on the open database.
func boltCheck(t testing.TB, s *Store) {
	t.Helper()
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bbolt check: %v", err)
	}
}

// rawUpdate runs fn in a bbolt transaction on the store's file, bypassing
// the store (to corrupt or inspect values).
func rawUpdate(t testing.TB, s *Store, fn func(tx *bolt.Tx) error) {
	t.Helper()
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if err := s.db.Update(fn); err != nil {
		t.Fatalf("raw update: %v", err)
	}
}

// convHash is the bucket key of a conversation.
func convHash(s *Store, conv string) []byte { return s.keys.name(labelConv, nil, conv) }

// convRecord returns the sealed record of a conversation in a raw tx.
func convRecord(s *Store, tx *bolt.Tx, conv string) []byte {
	return tx.Bucket(bucketConv).Get(convHash(s, conv))
}

// convKey returns the key of a conversation in a raw tx.
func convKey(t testing.TB, s *Store, tx *bolt.Tx, conv string) []byte {
	t.Helper()
	key, _, err := (&Tx{s: s}).openConvRecord(convHash(s, conv), convRecord(s, tx, conv))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// entryKey returns the hist key of an entry.
func entryKey(s *Store, conv string, idx uint64) []byte {
	return histKey(convHash(s, conv), histEntry, u64(idx))
}

// allEntries reads the whole history of conv.
func allEntries(t testing.TB, s *Store, conv string) []Entry {
	t.Helper()
	var got []Entry
	mustView(t, s, func(tx *Tx) error {
		return tx.Entries(conv, 1, func(i uint64, e Entry) error {
			if i != uint64(len(got)+1) {
				t.Errorf("entry index %d, want %d", i, len(got)+1)
			}
			got = append(got, e)
			return nil
		})
	})
	return got
}

// mid returns a message id made from n.
func mid(n int) [16]byte {
	var id [16]byte
	id[0], id[1], id[2], id[15] = byte(n>>16), byte(n>>8), byte(n), 0xAA
	return id
}

// ctx is a background context for tests.
var ctx = context.Background()
