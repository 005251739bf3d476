package store

import (
	"bytes"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCorruptValues damages or moves stored values and checks that every
// reader reports ErrCorrupt instead of panicking or returning garbage.
func TestCorruptValues(t *testing.T) {
	setup := func(t *testing.T) *Store {
		s := mustOpen(t, dbPath(t), newIdentity(t))
		mustUpdate(t, s, func(tx *Tx) error {
			for _, conv := range []string{"p:a", "p:b"} {
				for i := 1; i <= 3; i++ {
					if _, err := tx.Append(conv, Entry{Text: []byte(conv), ID: mid(i)}); err != nil {
						return err
					}
				}
			}
			if err := tx.PutOutbox(OutboxItem{ID: mid(1), To: "a"}); err != nil {
				return err
			}
			if err := tx.PutOutbox(OutboxItem{ID: mid(2), To: "b"}); err != nil {
				return err
			}
			if err := tx.SetDeliveredSeq("a", 5); err != nil {
				return err
			}
			if _, err := tx.NextSendSeq("a"); err != nil {
				return err
			}
			if err := tx.PutSecret("one", []byte("1")); err != nil {
				return err
			}
			return tx.PutSecret("two", []byte("2"))
		})
		return s
	}
	flip := func(b *bolt.Bucket, k []byte) error {
		v := bytes.Clone(b.Get(k))
		v[len(v)/2] ^= 0x01
		return b.Put(k, v)
	}
	readHistory := func(s *Store) error {
		return s.View(func(tx *Tx) error {
			return tx.Entries("p:a", 1, func(uint64, Entry) error { return nil })
		})
	}
	cases := []struct {
		name    string
		corrupt func(s *Store, tx *bolt.Tx) error
		read    func(s *Store) error
	}{
		{"flipped entry", func(s *Store, tx *bolt.Tx) error { return flip(tx.Bucket(bucketHist), entryKey(s, "p:a", 2)) }, readHistory},
		{"entry moved to another index", func(s *Store, tx *bolt.Tx) error {
			h := tx.Bucket(bucketHist)
			return h.Put(entryKey(s, "p:a", 1), bytes.Clone(h.Get(entryKey(s, "p:a", 3))))
		}, readHistory},
		{"entry moved to another conversation", func(s *Store, tx *bolt.Tx) error {
			h := tx.Bucket(bucketHist)
			return h.Put(entryKey(s, "p:a", 1), bytes.Clone(h.Get(entryKey(s, "p:b", 1))))
		}, readHistory},
		{"conversation key moved", func(s *Store, tx *bolt.Tx) error {
			return tx.Bucket(bucketConv).Put(convHash(s, "p:a"), bytes.Clone(convRecord(s, tx, "p:b")))
		}, readHistory},
		{"entry missing", func(s *Store, tx *bolt.Tx) error { return tx.Bucket(bucketHist).Delete(entryKey(s, "p:a", 2)) }, readHistory},
		{"truncated entry", func(s *Store, tx *bolt.Tx) error {
			return tx.Bucket(bucketHist).Put(entryKey(s, "p:a", 1), []byte{1, 2, 3})
		}, readHistory},
		{"outbox items swapped", func(s *Store, tx *bolt.Tx) error {
			b := tx.Bucket(bucketOutbox)
			k1, k2 := (&Tx{s: s}).outboxKey(mid(1)), (&Tx{s: s}).outboxKey(mid(2))
			one, two := bytes.Clone(b.Get(k1)), bytes.Clone(b.Get(k2))
			if err := b.Put(k1, two); err != nil {
				return err
			}
			return b.Put(k2, one)
		}, func(s *Store) error {
			return s.View(func(tx *Tx) error { _, _, err := tx.GetOutbox(mid(1)); return err })
		}},
		{"outbox listing", func(s *Store, tx *bolt.Tx) error { return flip(tx.Bucket(bucketOutbox), (&Tx{s: s}).outboxKey(mid(2))) }, func(s *Store) error {
			return s.View(func(tx *Tx) error { return tx.Outbox(func(OutboxItem) error { return nil }) })
		}},
		{"delivered counter in an update", func(s *Store, tx *bolt.Tx) error {
			return flip(tx.Bucket(bucketCounter), s.keys.name(labelDelivered, nil, "a"))
		}, func(s *Store) error {
			// fn ignores the problem and returns nil: the Update must still fail.
			return s.Update(ctx, func(tx *Tx) error {
				_ = tx.DeliveredSeq("a")
				return tx.SetDeliveredSeq("a", 6)
			})
		}},
		{"send counter", func(s *Store, tx *bolt.Tx) error {
			return flip(tx.Bucket(bucketCounter), s.keys.name(labelSend, nil, "a"))
		}, func(s *Store) error {
			return s.Update(ctx, func(tx *Tx) error { _, err := tx.NextSendSeq("a"); return err })
		}},
		{"secrets swapped", func(s *Store, tx *bolt.Tx) error {
			b := tx.Bucket(bucketSecret)
			k1, k2 := s.keys.name(labelSecret, nil, "one"), s.keys.name(labelSecret, nil, "two")
			return b.Put(k1, bytes.Clone(b.Get(k2)))
		}, func(s *Store) error {
			return s.View(func(tx *Tx) error { _, _, err := tx.GetSecret("one"); return err })
		}},
		{"secret listing", func(s *Store, tx *bolt.Tx) error {
			return flip(tx.Bucket(bucketSecret), s.keys.name(labelSecret, nil, "two"))
		}, func(s *Store) error {
			return s.View(func(tx *Tx) error { return tx.Secrets("", func(string, []byte) error { return nil }) })
		}},
		{"conversation record", func(s *Store, tx *bolt.Tx) error {
			return flip(tx.Bucket(bucketConv), convHash(s, "p:b"))
		}, func(s *Store) error {
			return s.View(func(tx *Tx) error { tx.Conversations(); return nil })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := setup(t)
			rawUpdate(t, s, func(tx *bolt.Tx) error { return c.corrupt(s, tx) })
			s.cache.reset() // as after a restart
			err := c.read(s)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read after corruption: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestCorruptDatabaseKey(t *testing.T) {
	path := dbPath(t)
	id := newIdentity(t)
	s := mustOpen(t, path, id)
	rawUpdate(t, s, func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		v := bytes.Clone(m.Get(metaDBKey))
		v[len(v)-3] ^= 0xff
		return m.Put(metaDBKey, v)
	})
	s.Close()
	_, err := Open(path, id, Options{})
	if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrWrongIdentity) {
		t.Fatalf("Open with a damaged key: %v, want ErrCorrupt", err)
	}
}
