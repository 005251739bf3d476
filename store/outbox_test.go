package store

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

func outboxEqual(a, b OutboxItem) bool {
	return a.ID == b.ID && a.To == b.To && a.Conv == b.Conv && a.Seq == b.Seq &&
		bytes.Equal(a.Payload, b.Payload) && a.Created.Equal(b.Created) &&
		a.Attempts == b.Attempts && a.NextTry.Equal(b.NextTry) && a.Kind == b.Kind
}

func readOutbox(t testing.TB, s *Store) []OutboxItem {
	t.Helper()
	var got []OutboxItem
	mustView(t, s, func(tx *Tx) error {
		return tx.Outbox(func(it OutboxItem) error { got = append(got, it); return nil })
	})
	return got
}

func TestOutboxRoundTrip(t *testing.T) {
	path := dbPath(t)
	id := newIdentity(t)
	s := mustOpen(t, path, id)
	now := time.Date(2026, 11, 26, 12, 0, 0, 5, time.UTC)
	var items []OutboxItem
	for i := range 5 {
		items = append(items, OutboxItem{
			ID: mid(100 - i), // ids in descending order: the queue order must not follow them
			To: fmt.Sprintf("%064x", i), Conv: fmt.Sprintf("p:%064x", i), Seq: uint64(i + 1),
			Payload: bytes.Repeat([]byte{byte(i)}, 10*i), Created: now.Add(time.Duration(i) * time.Second),
			Kind: uint8(i),
		})
	}
	for _, it := range items {
		mustUpdate(t, s, func(tx *Tx) error { return tx.PutOutbox(it) })
	}
	check := func(want []OutboxItem) {
		t.Helper()
		got := readOutbox(t, s)
		if len(got) != len(want) {
			t.Fatalf("outbox has %d items, want %d", len(got), len(want))
		}
		for i := range want {
			if !outboxEqual(got[i], want[i]) {
				t.Errorf("outbox[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}
		mustView(t, s, func(tx *Tx) error {
			for _, w := range want {
				it, ok, err := tx.GetOutbox(w.ID)
				if err != nil || !ok || !outboxEqual(it, w) {
					t.Errorf("GetOutbox(%x) = %+v, %v, %v", w.ID, it, ok, err)
				}
			}
			return nil
		})
	}
	check(items)

	// Updating keeps the place in the queue.
	items[1].Attempts, items[1].NextTry = 3, now.Add(time.Minute)
	mustUpdate(t, s, func(tx *Tx) error { return tx.UpdateOutbox(items[1]) })
	check(items)

	// Deleting removes exactly that item.
	mustUpdate(t, s, func(tx *Tx) error { return tx.DeleteOutbox(items[2].ID) })
	items = append(items[:2], items[3:]...)
	check(items)

	s.Close()
	s = mustOpen(t, path, id)
	check(items)
	mustView(t, s, func(tx *Tx) error {
		if _, ok, err := tx.GetOutbox(mid(98)); ok || err != nil {
			t.Errorf("GetOutbox of a deleted item: %v %v", ok, err)
		}
		return nil
	})
}

func TestOutboxErrors(t *testing.T) {
	s := mustOpen(t, dbPath(t), newIdentity(t))
	mustUpdate(t, s, func(tx *Tx) error { return tx.PutOutbox(OutboxItem{ID: mid(1)}) })
	cases := []struct {
		name string
		fn   func(tx *Tx) error
		want error
	}{
		{"put existing", func(tx *Tx) error { return tx.PutOutbox(OutboxItem{ID: mid(1)}) }, ErrExists},
		{"update missing", func(tx *Tx) error { return tx.UpdateOutbox(OutboxItem{ID: mid(2)}) }, ErrNotFound},
		{"delete missing", func(tx *Tx) error { return tx.DeleteOutbox(mid(2)) }, ErrNotFound},
		{"negative attempts", func(tx *Tx) error { return tx.PutOutbox(OutboxItem{ID: mid(3), Attempts: -1}) }, ErrInvalid},
		{"payload too large", func(tx *Tx) error {
			return tx.PutOutbox(OutboxItem{ID: mid(3), Payload: make([]byte, MaxValueSize+1)})
		}, ErrInvalid},
		{"delete twice", func(tx *Tx) error {
			if err := tx.DeleteOutbox(mid(1)); err != nil {
				return err
			}
			return tx.DeleteOutbox(mid(1))
		}, ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := s.Update(ctx, c.fn); !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
	if got := readOutbox(t, s); len(got) != 1 || got[0].ID != mid(1) {
		t.Errorf("outbox after failed updates: %+v", got)
	}
}

func TestCounters(t *testing.T) {
	path := dbPath(t)
	id := newIdentity(t)
	s := mustOpen(t, path, id)
	next := func(peer string) uint64 {
		var v uint64
		mustUpdate(t, s, func(tx *Tx) error {
			var err error
			v, err = tx.NextSendSeq(peer)
			return err
		})
		return v
	}
	for i, c := range []struct {
		peer string
		want uint64
	}{{"aa", 1}, {"aa", 2}, {"bb", 1}, {"aa", 3}, {"bb", 2}} {
		if got := next(c.peer); got != c.want {
			t.Errorf("step %d: NextSendSeq(%s) = %d, want %d", i, c.peer, got, c.want)
		}
	}
	mustUpdate(t, s, func(tx *Tx) error {
		if v := tx.DeliveredSeq("aa"); v != 0 {
			t.Errorf("DeliveredSeq before any = %d", v)
		}
		return tx.SetDeliveredSeq("aa", 41)
	})
	mustUpdate(t, s, func(tx *Tx) error { return tx.SetDeliveredSeq("bb", 1<<62) })
	s.Close()
	s = mustOpen(t, path, id)
	mustView(t, s, func(tx *Tx) error {
		// Directions are separate: sending to aa does not count as delivered from aa.
		for peer, want := range map[string]uint64{"aa": 41, "bb": 1 << 62, "cc": 0} {
			if v := tx.DeliveredSeq(peer); v != want {
				t.Errorf("DeliveredSeq(%s) = %d, want %d", peer, v, want)
			}
		}
		return nil
	})
	if got := next("aa"); got != 4 {
		t.Errorf("NextSendSeq after reopen = %d, want 4", got)
	}
	if err := s.Update(ctx, func(tx *Tx) error { _, err := tx.NextSendSeq(""); return err }); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty peer: %v", err)
	}
}

func TestSecrets(t *testing.T) {
	path := dbPath(t)
	id := newIdentity(t)
	s := mustOpen(t, path, id)
	put := map[string][]byte{
		"group/01/name":      []byte("team"),
		"group/01/chain/aa":  []byte{0, 1, 2, 3},
		"group/01/chain/bb":  {},
		"group/02/name":      []byte("other"),
		"groupie":            []byte("not a group"),
		"identity/signing":   bytes.Repeat([]byte{9}, 64),
		"group/01/chain/old": []byte("to be deleted"),
	}
	mustUpdate(t, s, func(tx *Tx) error {
		for n, v := range put {
			if err := tx.PutSecret(n, v); err != nil {
				return err
			}
		}
		return nil
	})
	mustUpdate(t, s, func(tx *Tx) error {
		if err := tx.PutSecret("group/01/name", []byte("renamed")); err != nil {
			return err
		}
		if err := tx.DeleteSecret("group/01/chain/old"); err != nil {
			return err
		}
		return tx.DeleteSecret("never/existed")
	})
	put["group/01/name"] = []byte("renamed")
	delete(put, "group/01/chain/old")
	s.Close()
	s = mustOpen(t, path, id)

	mustView(t, s, func(tx *Tx) error {
		for n, want := range put {
			got, ok, err := tx.GetSecret(n)
			if err != nil || !ok || !bytes.Equal(got, want) {
				t.Errorf("GetSecret(%q) = %q, %v, %v; want %q", n, got, ok, err, want)
			}
		}
		if _, ok, err := tx.GetSecret("group/01/chain/old"); ok || err != nil {
			t.Errorf("deleted secret: %v %v", ok, err)
		}
		return nil
	})
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"group/01/", []string{"group/01/chain/aa", "group/01/chain/bb", "group/01/name"}},
		{"group/", []string{"group/01/chain/aa", "group/01/chain/bb", "group/01/name", "group/02/name"}},
		{"group", []string{"group/01/chain/aa", "group/01/chain/bb", "group/01/name", "group/02/name", "groupie"}},
		{"nothing", nil},
		{"", []string{"group/01/chain/aa", "group/01/chain/bb", "group/01/name", "group/02/name", "groupie", "identity/signing"}},
	} {
		var got []string
		mustView(t, s, func(tx *Tx) error {
			return tx.Secrets(c.prefix, func(n string, v []byte) error {
				if !bytes.Equal(v, put[n]) {
					t.Errorf("Secrets: %q = %q, want %q", n, v, put[n])
				}
				got = append(got, n)
				return nil
			})
		})
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("Secrets(%q) = %q, want %q", c.prefix, got, c.want)
		}
	}
	for name, fn := range map[string]func(tx *Tx) error{
		"empty name": func(tx *Tx) error { return tx.PutSecret("", []byte("x")) },
		"too large":  func(tx *Tx) error { return tx.PutSecret("big", make([]byte, MaxValueSize+1)) },
	} {
		if err := s.Update(ctx, fn); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
