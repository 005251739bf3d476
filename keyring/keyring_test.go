package keyring

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messagefs/messagefs/crypto"
)

func openTest(t *testing.T, dir string) *Keyring {
	t.Helper()
	k, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return k
}

func aliases(entries []Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Alias)
	}
	return out
}

func TestKeyringAddLookup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "keys")
	k := openTest(t, dir)
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("keyring directory: %v, %v", info, err)
	}
	keys := map[string]crypto.PublicKey{}
	for _, alias := range []string{"carol", "alice", "bob"} {
		keys[alias] = newKey(t).Public()
		before := time.Now().Truncate(time.Second)
		if err := k.Add(alias, keys[alias]); err != nil {
			t.Fatalf("Add(%q): %v", alias, err)
		}
		e, ok := k.Lookup(alias)
		if !ok || e.Key != keys[alias] || e.Alias != alias || e.Added.Before(before) || e.Added.After(time.Now()) {
			t.Fatalf("Lookup(%q) = %+v, %v", alias, e, ok)
		}
		if e2, ok := k.ByKey(keys[alias]); !ok || e2 != e {
			t.Fatalf("ByKey = %+v, %v; want %+v", e2, ok, e)
		}
	}
	if got := aliases(k.List()); !slices.Equal(got, []string{"alice", "bob", "carol"}) {
		t.Fatalf("List() = %v", got)
	}
	if _, ok := k.Lookup("dave"); ok {
		t.Fatalf("Lookup of a missing alias succeeded")
	}
	if _, ok := k.ByKey(newKey(t).Public()); ok {
		t.Fatalf("ByKey of an unknown key succeeded")
	}

	content, err := os.ReadFile(filepath.Join(dir, "alice.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(content, []byte("# added: ")) || !bytes.HasSuffix(content, []byte("\n"+keys["alice"].String()+"\n")) {
		t.Fatalf("alice.pub = %q", content)
	}
	if got, err := ParseKeyFile(content); err != nil || got != keys["alice"] {
		t.Fatalf("ParseKeyFile(alice.pub) = %v", err)
	}
	if k.Path("alice") != filepath.Join(dir, "alice.pub") || k.Dir() != dir {
		t.Fatalf("Path or Dir is wrong")
	}

	// A second Open sees the same keyring.
	k2 := openTest(t, dir)
	if !slices.Equal(k.List(), k2.List()) {
		t.Fatalf("reopened keyring differs:\n%v\n%v", k.List(), k2.List())
	}
	if p := k2.Problems(); len(p) != 0 {
		t.Fatalf("Problems() = %v", p)
	}
}

func TestKeyringAddRefuses(t *testing.T) {
	k := openTest(t, t.TempDir())
	alice, bob := newKey(t).Public(), newKey(t).Public()
	if err := k.Add("alice", alice); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		alias string
		key   crypto.PublicKey
		kind  error  // nil for success
		msg   string // in the error
	}{
		{"same alias and key again", "alice", alice, nil, ""},
		{"alias taken by another key", "alice", bob, ErrExists, `alias "alice" is already used by another key: remove it first`},
		{"key trusted under another alias", "alice2", alice, ErrExists, `already trusted as "alice"`},
		{"invalid alias", "Bob", bob, ErrInvalidAlias, `alias "Bob" is not valid`},
		{"reserved alias", "self", bob, ErrInvalidAlias, "reserved"},
		{"low-order key", "zero", crypto.PublicKey{}, ErrBadKey, "low-order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := k.Add(tc.alias, tc.key)
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("Add: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("Add error %v does not match %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if tc.kind == ErrExists {
				var ce *ConflictError
				if !errors.As(err, &ce) {
					t.Errorf("error %v is not a *ConflictError", err)
				}
			}
		})
	}
	if got := aliases(k.List()); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("List() = %v after refused adds", got)
	}
	ents, _ := os.ReadDir(k.Dir())
	if len(ents) != 1 {
		t.Fatalf("directory holds %d files", len(ents))
	}
}

func TestKeyringRemove(t *testing.T) {
	dir := t.TempDir()
	k := openTest(t, dir)
	alice, bob := newKey(t).Public(), newKey(t).Public()
	for alias, key := range map[string]crypto.PublicKey{"alice": alice, "bob": bob} {
		if err := k.Add(alias, key); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Remove("alice"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, ok := k.Lookup("alice"); ok {
		t.Fatalf("alice still trusted")
	}
	if _, ok := k.ByKey(alice); ok {
		t.Fatalf("alice's key still trusted")
	}
	if _, err := os.Stat(filepath.Join(dir, "alice.pub")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("alice.pub still exists: %v", err)
	}
	if err := k.Remove("alice"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"alice"`) {
		t.Fatalf("second Remove = %v, want ErrNotFound", err)
	}
	// The key and the alias are free again, in any combination.
	if err := k.Add("alice", bob); !errors.Is(err, ErrExists) {
		t.Fatalf("Add(alice, bob's key) = %v", err)
	}
	if err := k.Add("alice2", alice); err != nil {
		t.Fatalf("re-adding alice's key under another alias: %v", err)
	}
	if got := aliases(openTest(t, dir).List()); !slices.Equal(got, []string{"alice2", "bob"}) {
		t.Fatalf("reopened List() = %v", got)
	}
}

func TestKeyringRename(t *testing.T) {
	dir := t.TempDir()
	k := openTest(t, dir)
	alice, bob := newKey(t).Public(), newKey(t).Public()
	if err := k.Add("alice", alice); err != nil {
		t.Fatal(err)
	}
	if err := k.Add("bob", bob); err != nil {
		t.Fatal(err)
	}
	before, _ := k.Lookup("alice")
	// A damaged file Open skipped must not be clobbered by a rename.
	if err := os.WriteFile(filepath.Join(dir, "junk.pub"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		old, new string
		kind     error
	}{
		{"to itself", "alice", "alice", nil},
		{"missing", "carol", "dave", ErrNotFound},
		{"onto a trusted alias", "alice", "bob", ErrExists},
		{"onto an untrusted file", "alice", "junk", ErrExists},
		{"to an invalid alias", "alice", "Alice", ErrInvalidAlias},
		{"to a reserved alias", "alice", "keys", ErrInvalidAlias},
		{"to a new alias", "alice", "ally", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := k.Rename(tc.old, tc.new)
			if tc.kind == nil && err != nil || !errors.Is(err, tc.kind) {
				t.Fatalf("Rename(%q, %q) = %v, want %v", tc.old, tc.new, err, tc.kind)
			}
		})
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "junk.pub")); string(got) != "not a key" {
		t.Fatalf("junk.pub was overwritten: %q", got)
	}
	e, ok := k.Lookup("ally")
	if !ok || e.Key != alice || !e.Added.Equal(before.Added) {
		t.Fatalf("Lookup(ally) = %+v, %v", e, ok)
	}
	if e, ok := k.ByKey(alice); !ok || e.Alias != "ally" {
		t.Fatalf("ByKey(alice) = %+v", e)
	}
	if _, ok := k.Lookup("alice"); ok {
		t.Fatalf("old alias still present")
	}
	if _, err := os.Stat(filepath.Join(dir, "alice.pub")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("alice.pub still exists")
	}
	k2 := openTest(t, dir)
	if got := aliases(k2.List()); !slices.Equal(got, []string{"ally", "bob"}) {
		t.Fatalf("reopened List() = %v", got)
	}
	if e, _ := k2.Lookup("ally"); !e.Added.Equal(before.Added) {
		t.Fatalf("rename lost the added time: %v, want %v", e.Added, before.Added)
	}
}

// TestKeyringOpenSkipsBadFiles fills a keyring directory with what a crash, a
// careless user or an attacker with write access to it could leave, and
// checks that Open trusts only the valid key files and reports the rest.
func TestKeyringOpenSkipsBadFiles(t *testing.T) {
	dir := t.TempDir()
	good, dup := newKey(t), newKey(t).Public()
	files := map[string]string{
		"alice.pub":                      string(MarshalKeyFile(good.Public(), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))),
		"bare.pub":                       dup.String() + "\n",
		"dup.pub":                        dup.String() + "\n",              // second alias of bare's key
		".tmp-carol.pub-123456":          good.Public().String()[:20],      // partial temp file
		".tmp-dave.pub-999":              "",                               // empty temp file
		"truncated.pub":                  newKey(t).Public().String()[:30], // torn key file
		"empty.pub":                      "",                               // created, never written
		"secret.pub":                     good.String() + "\n",             // secret key
		"two.pub":                        dup.String() + "\n" + good.Public().String() + "\n",
		"zero.pub":                       crypto.PublicKey{}.String() + "\n", // low order
		"Bob.pub":                        newKey(t).Public().String() + "\n", // invalid alias
		"README":                         "hello",
		"self.pub":                       newKey(t).Public().String() + "\n", // reserved alias
		strings.Repeat("x", 40) + ".pub": newKey(t).Public().String() + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "subdir.pub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("alice.pub", filepath.Join(dir, "link.pub")); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	k, err := Open(dir, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if got := aliases(k.List()); !slices.Equal(got, []string{"alice", "bare"}) {
		t.Fatalf("List() = %v, want [alice bare]", got)
	}
	if e, _ := k.Lookup("alice"); !e.Added.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("alice added %v", e.Added)
	}
	if e, _ := k.Lookup("bare"); e.Added.IsZero() {
		t.Errorf("bare.pub has no added time (want its mtime)")
	}
	wantProblems := map[string]string{
		"dup.pub":                        `already trusted as "bare"`,
		"truncated.pub":                  "not a valid public key file",
		"empty.pub":                      "holds no key",
		"secret.pub":                     "secret identity",
		"two.pub":                        "more than one key",
		"zero.pub":                       "low-order",
		"Bob.pub":                        "not valid",
		"README":                         "not a key file",
		"self.pub":                       "reserved",
		strings.Repeat("x", 40) + ".pub": "at most 32",
		"subdir.pub":                     "not a regular file",
		"link.pub":                       "not a regular file",
	}
	got := map[string]string{}
	for _, p := range k.Problems() {
		got[filepath.Base(p.Path)] = p.Error()
		if !strings.HasPrefix(p.Error(), p.Path+": ") {
			t.Errorf("Problem.Error() = %q does not start with its path", p.Error())
		}
	}
	for name, msg := range wantProblems {
		if !strings.Contains(got[name], msg) {
			t.Errorf("problem of %s = %q, want it to say %q", name, got[name], msg)
		}
		if !strings.Contains(logs.String(), name) {
			t.Errorf("the log does not mention %s", name)
		}
	}
	if len(got) != len(wantProblems) {
		t.Errorf("%d problems, want %d: %v", len(got), len(wantProblems), got)
	}
	if strings.Contains(logs.String(), good.String()) {
		t.Errorf("the log holds a secret key")
	}
	// Temporary files are gone; nothing else was deleted.
	for name := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if isTemp(name) != errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Open, %s: %v", name, err)
		}
	}
	// An alias whose file was skipped can be trusted afresh, replacing it.
	fresh := newKey(t).Public()
	if err := k.Add("truncated", fresh); err != nil {
		t.Fatalf("Add over a damaged file: %v", err)
	}
	if got := aliases(openTest(t, dir).List()); !slices.Equal(got, []string{"alice", "bare", "truncated"}) {
		t.Fatalf("reopened List() = %v", got)
	}
}

func TestKeyringConcurrent(t *testing.T) {
	dir := t.TempDir()
	k := openTest(t, dir)
	shared := newKey(t).Public()
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, 3*n)
	for i := range n {
		own := newKey(t).Public()
		wg.Go(func() { errs[3*i] = k.Add(fmt.Sprintf("peer%d", i), own) })
		// All race for the same alias, each with its own key.
		other := newKey(t).Public()
		wg.Go(func() { errs[3*i+1] = k.Add("contested", other) })
		// All race to trust the same key under their own alias.
		wg.Go(func() { errs[3*i+2] = k.Add(fmt.Sprintf("shared%d", i), shared) })
		wg.Go(func() { k.List(); k.Lookup("contested"); k.ByKey(shared) })
	}
	wg.Wait()
	won := [3]int{}
	for i, err := range errs {
		switch {
		case err == nil:
			won[i%3]++
		case !errors.Is(err, ErrExists):
			t.Errorf("Add: %v", err)
		}
	}
	if won != [3]int{n, 1, 1} {
		t.Fatalf("successful adds = %v, want [%d 1 1]", won, n)
	}
	if len(k.List()) != n+2 {
		t.Fatalf("%d entries, want %d", len(k.List()), n+2)
	}
	if got := openTest(t, dir).List(); !slices.Equal(got, k.List()) {
		t.Fatalf("reopened keyring differs")
	}
}
