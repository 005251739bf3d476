package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestHistoryRoundTrip(t *testing.T) {
	path := dbPath(t)
	id := newIdentity(t)
	s := mustOpen(t, path, id)
	when := time.Date(2026, 11, 26, 11, 33, 0, 123456789, time.FixedZone("X", 3600))
	cases := []struct {
		conv string
		e    Entry
	}{
		{"p:aa01", Entry{Time: when, From: "me", Text: []byte("hello there"), ID: mid(1)}},
		{"p:aa01", Entry{Time: when.Add(time.Second), From: "aa01", Text: []byte("line one\nline two"), ID: mid(2)}},
		{"p:aa01", Entry{From: "aa01", Text: nil, ID: mid(3)}}, // zero time, empty text
		{"g:0102", Entry{Time: when, From: "bb02", Text: []byte("héllo \x00 \xff binary"), ID: mid(1)}},
		{"g:0102", Entry{Time: time.Unix(0, 1), From: "", Text: bytes.Repeat([]byte("x"), 64<<10), ID: mid(4)}},
		{"p:cc03", Entry{Time: time.Unix(-5, 999999999), From: strings.Repeat("f", 64), Text: []byte("old"), ID: mid(5)}},
	}
	want := map[string][]Entry{}
	for _, c := range cases {
		var idx uint64
		mustUpdate(t, s, func(tx *Tx) error {
			var err error
			idx, err = tx.Append(c.conv, c.e)
			return err
		})
		want[c.conv] = append(want[c.conv], c.e)
		if idx != uint64(len(want[c.conv])) {
			t.Errorf("Append to %s: index %d, want %d", c.conv, idx, len(want[c.conv]))
		}
	}

	check := func(s *Store) {
		t.Helper()
		for conv, es := range want {
			got := allEntries(t, s, conv)
			if len(got) != len(es) {
				t.Fatalf("%s: %d entries, want %d", conv, len(got), len(es))
			}
			for i := range es {
				g, w := got[i], es[i]
				if !g.Time.Equal(w.Time) || g.From != w.From || !bytes.Equal(g.Text, w.Text) || g.ID != w.ID {
					t.Errorf("%s[%d] = %+v, want %+v", conv, i+1, g, w)
				}
				if g.Time.Location() != time.UTC {
					t.Errorf("%s[%d]: time in %v, want UTC", conv, i+1, g.Time.Location())
				}
			}
		}
		mustView(t, s, func(tx *Tx) error {
			for conv, es := range want {
				if n := tx.Count(conv); n != uint64(len(es)) {
					t.Errorf("Count(%s) = %d, want %d", conv, n, len(es))
				}
				for _, e := range es {
					if !tx.HasID(conv, e.ID) {
						t.Errorf("HasID(%s, %x) = false", conv, e.ID)
					}
				}
			}
			if tx.HasID("p:aa01", mid(99)) || tx.HasID("p:cc03", mid(1)) || tx.HasID("p:none", mid(1)) {
				t.Error("HasID true for an id never appended there")
			}
			if n := tx.Count("p:none"); n != 0 {
				t.Errorf("Count of a missing conversation = %d", n)
			}
			if got, w := tx.Conversations(), []string{"g:0102", "p:aa01", "p:cc03"}; !slices.Equal(got, w) {
				t.Errorf("Conversations() = %q, want %q", got, w)
			}
			return nil
		})
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path, id)
	check(s)
	boltCheck(t, s)
}

func TestEntriesFrom(t *testing.T) {
	s := mustOpen(t, dbPath(t), newIdentity(t))
	mustUpdate(t, s, func(tx *Tx) error {
		for i := 1; i <= 10; i++ {
			if _, err := tx.Append("p:x", Entry{Text: fmt.Appendf(nil, "m%d", i), ID: mid(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	for _, c := range []struct {
		from  uint64
		first uint64
		n     int
	}{{0, 1, 10}, {1, 1, 10}, {7, 7, 4}, {10, 10, 1}, {11, 0, 0}, {1 << 40, 0, 0}} {
		var got []uint64
		mustView(t, s, func(tx *Tx) error {
			return tx.Entries("p:x", c.from, func(i uint64, e Entry) error {
				if string(e.Text) != fmt.Sprintf("m%d", i) {
					t.Errorf("entry %d text %q", i, e.Text)
				}
				got = append(got, i)
				return nil
			})
		})
		if len(got) != c.n || (c.n > 0 && got[0] != c.first) {
			t.Errorf("Entries from %d: %v", c.from, got)
		}
	}
	// fn's error stops the iteration and is returned as is.
	stop := errors.New("stop")
	n := 0
	err := s.View(func(tx *Tx) error {
		return tx.Entries("p:x", 1, func(uint64, Entry) error { n++; return stop })
	})
	if err != stop || n != 1 {
		t.Errorf("Entries with failing fn: err %v after %d calls", err, n)
	}
	// A missing conversation has no entries.
	mustView(t, s, func(tx *Tx) error {
		return tx.Entries("p:nobody", 1, func(uint64, Entry) error { t.Error("entry in missing conversation"); return nil })
	})
}

func TestAppendValidation(t *testing.T) {
	s := mustOpen(t, dbPath(t), newIdentity(t))
	mustUpdate(t, s, func(tx *Tx) error {
		_, err := tx.Append("p:x", Entry{ID: mid(1)})
		return err
	})
	cases := []struct {
		name string
		conv string
		e    Entry
		want error
	}{
		{"duplicate id", "p:x", Entry{ID: mid(1)}, ErrExists},
		{"empty conversation", "", Entry{ID: mid(2)}, ErrInvalid},
		{"text too large", "p:x", Entry{ID: mid(3), Text: make([]byte, MaxValueSize+1)}, ErrInvalid},
		{"sender too long", "p:x", Entry{ID: mid(4), From: strings.Repeat("a", 1<<16)}, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Update(ctx, func(tx *Tx) error { _, err := tx.Append(c.conv, c.e); return err })
			if !errors.Is(err, c.want) {
				t.Errorf("Append: %v, want %v", err, c.want)
			}
		})
	}
	mustView(t, s, func(tx *Tx) error {
		if n := tx.Count("p:x"); n != 1 {
			t.Errorf("Count after refused appends = %d, want 1", n)
		}
		return nil
	})
}

func TestDeleteConversation(t *testing.T) {
	path := dbPath(t)
	id := newIdentity(t)
	s := mustOpen(t, path, id)
	secretText := []byte("the launch code is 0000")
	mustUpdate(t, s, func(tx *Tx) error {
		for i := range 50 {
			if _, err := tx.Append("p:doomed", Entry{Text: secretText, ID: mid(i)}); err != nil {
				return err
			}
			if _, err := tx.Append("p:kept", Entry{Text: []byte("keep me"), ID: mid(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	// Remember what the deleted conversation looked like on disk.
	var sealedKey, sealedEntry, key []byte
	rawUpdate(t, s, func(tx *bolt.Tx) error {
		sealedKey = bytes.Clone(convRecord(s, tx, "p:doomed"))
		sealedEntry = bytes.Clone(tx.Bucket(bucketHist).Get(entryKey(s, "p:doomed", 7)))
		key = convKey(t, s, tx, "p:doomed")
		return nil
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{sealedKey, sealedEntry} {
		if !fileContains(t, path, b) {
			t.Fatal("test is broken: the sealed values are not in the file before deletion")
		}
	}

	s = mustOpen(t, path, id)
	mustUpdate(t, s, func(tx *Tx) error { return tx.DeleteConversation("p:doomed") })
	mustUpdate(t, s, func(tx *Tx) error { return tx.DeleteConversation("p:never-existed") })
	if n := s.scrubs.Load(); n != 1 {
		t.Errorf("%d rewrites after a deletion, want 1", n)
	}
	mustView(t, s, func(tx *Tx) error {
		if n := tx.Count("p:doomed"); n != 0 {
			t.Errorf("Count after delete = %d", n)
		}
		if tx.HasID("p:doomed", mid(3)) {
			t.Error("HasID after delete")
		}
		if got := tx.Conversations(); !slices.Equal(got, []string{"p:kept"}) {
			t.Errorf("Conversations() = %q", got)
		}
		return nil
	})
	if got := allEntries(t, s, "p:kept"); len(got) != 50 {
		t.Errorf("other conversation has %d entries, want 50", len(got))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"sealed key": sealedKey, "sealed entry": sealedEntry, "key": key, "text": secretText, "conversation hash": convHash(s, "p:doomed")} {
		if fileContains(t, path, b) {
			t.Errorf("%s of the deleted conversation still in the file", name)
		}
	}

	// A new conversation with the same id starts over, with a new key.
	s = mustOpen(t, path, id)
	boltCheck(t, s)
	var idx uint64
	mustUpdate(t, s, func(tx *Tx) error {
		var err error
		idx, err = tx.Append("p:doomed", Entry{Text: []byte("again"), ID: mid(3)})
		return err
	})
	if idx != 1 {
		t.Errorf("first index after re-creation = %d", idx)
	}
	rawUpdate(t, s, func(tx *bolt.Tx) error {
		if bytes.Equal(convKey(t, s, tx, "p:doomed"), key) {
			t.Error("re-created conversation reuses the old key")
		}
		return nil
	})
}

func TestDeleteInterruptedRewriteResumes(t *testing.T) {
	path := dbPath(t)
	id := newIdentity(t)
	s := mustOpen(t, path, id)
	mustUpdate(t, s, func(tx *Tx) error {
		_, err := tx.Append("p:gone", Entry{Text: []byte("zzzzzzzzzzzzzzzzzz"), ID: mid(1)})
		return err
	})
	var sealedKey []byte
	rawUpdate(t, s, func(tx *bolt.Tx) error {
		sealedKey = bytes.Clone(convRecord(s, tx, "p:gone"))
		// Delete as the store does, but "crash" before the rewrite.
		if err := tx.Bucket(bucketConv).Delete(convHash(s, "p:gone")); err != nil {
			return err
		}
		if err := deletePrefix(tx.Bucket(bucketHist), convHash(s, "p:gone")); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaScrub, []byte{1})
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !fileContains(t, path, sealedKey) {
		t.Skip("bbolt reused the freed page already; nothing to resume")
	}
	s = mustOpen(t, path, id)
	if n := s.scrubs.Load(); n != 1 {
		t.Errorf("Open did %d rewrites, want 1", n)
	}
	s.Close()
	if fileContains(t, path, sealedKey) {
		t.Error("key of the deleted conversation survived the resumed rewrite")
	}
}
