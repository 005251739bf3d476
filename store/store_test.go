package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestOpenCreatesPrivateFiles(t *testing.T) {
	path := dbPath(t)
	mustOpen(t, path, newIdentity(t))
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{
		{filepath.Dir(path), 0o700},
		{path, 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, got, c.mode)
		}
	}
}

func TestWrongIdentityRefused(t *testing.T) {
	path := dbPath(t)
	alice, mallory := newIdentity(t), newIdentity(t)
	s := mustOpen(t, path, alice)
	mustUpdate(t, s, func(tx *Tx) error {
		_, err := tx.Append("p:bob", Entry{Text: []byte("hi"), ID: mid(1)})
		return err
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	_, err := Open(path, mallory, Options{})
	if !errors.Is(err, ErrWrongIdentity) {
		t.Fatalf("Open with another identity: %v, want ErrWrongIdentity", err)
	}
	if errors.Is(err, ErrCorrupt) {
		t.Errorf("wrong identity reported as corruption: %v", err)
	}

	s = mustOpen(t, path, alice)
	if got := allEntries(t, s, "p:bob"); len(got) != 1 || string(got[0].Text) != "hi" {
		t.Fatalf("after reopen: %+v", got)
	}
}

func TestOpenLockedByAnother(t *testing.T) {
	path := dbPath(t)
	id := newIdentity(t)
	mustOpen(t, path, id)
	start := time.Now()
	_, err := Open(path, id, Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("second Open took %v", time.Since(start))
	}
}

func TestOpenRejectsNilIdentityAndForeignFile(t *testing.T) {
	if _, err := Open(dbPath(t), nil, Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil identity: %v", err)
	}
	path := filepath.Join(t.TempDir(), "not-a-db")
	if err := os.WriteFile(path, []byte("hello, this is not a bbolt file at all, just text............"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, newIdentity(t), Options{}); err == nil {
		t.Error("Open of a foreign file succeeded")
	}
}

func TestClosedStore(t *testing.T) {
	s := mustOpen(t, dbPath(t), newIdentity(t))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Update(ctx, func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v", err)
	}
	if err := s.View(func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("View after Close: %v", err)
	}
}

func TestWritesInViewRefused(t *testing.T) {
	s := mustOpen(t, dbPath(t), newIdentity(t))
	mustUpdate(t, s, func(tx *Tx) error {
		_, err := tx.Append("p:a", Entry{ID: mid(1)})
		return err
	})
	writes := map[string]func(tx *Tx) error{
		"Append": func(tx *Tx) error { _, err := tx.Append("p:a", Entry{ID: mid(2)}); return err },
		"Append new conv": func(tx *Tx) error {
			_, err := tx.Append("p:new", Entry{ID: mid(2)})
			return err
		},
		"DeleteConversation": func(tx *Tx) error { return tx.DeleteConversation("p:a") },
		"PutOutbox":          func(tx *Tx) error { return tx.PutOutbox(OutboxItem{ID: mid(1)}) },
		"UpdateOutbox":       func(tx *Tx) error { return tx.UpdateOutbox(OutboxItem{ID: mid(1)}) },
		"DeleteOutbox":       func(tx *Tx) error { return tx.DeleteOutbox(mid(1)) },
		"NextSendSeq":        func(tx *Tx) error { _, err := tx.NextSendSeq("p"); return err },
		"SetDeliveredSeq":    func(tx *Tx) error { return tx.SetDeliveredSeq("p", 1) },
		"PutSecret":          func(tx *Tx) error { return tx.PutSecret("x", nil) },
		"DeleteSecret":       func(tx *Tx) error { return tx.DeleteSecret("x") },
	}
	for name, w := range writes {
		t.Run(name, func(t *testing.T) {
			if err := s.View(w); !errors.Is(err, ErrReadOnly) {
				t.Errorf("%s in View: %v, want ErrReadOnly", name, err)
			}
		})
	}
}
