package keyring

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/messagefs/messagefs/crypto"
)

// KeyFileExt ends the name of every key file: ALIAS.pub.
const KeyFileExt = ".pub"

// Entry is a trusted key.
type Entry struct {
	Alias string
	Key   crypto.PublicKey
	// Added is when the key was trusted (from the file's "# added:" line,
	// else its modification time), in UTC, to the second.
	Added time.Time
}

// Problem is a file of the keyring directory that Open could not use. Its
// key, if any, is not trusted.
type Problem struct {
	Path string
	Err  error
}

// Error returns "PATH: REASON".
func (p Problem) Error() string { return p.Path + ": " + p.Err.Error() }

// ConflictError reports an Add or Rename refused because the alias belongs
// to another key, or the key is trusted under another alias. It matches
// ErrExists.
type ConflictError struct {
	// Alias is the alias asked for.
	Alias string
	// Other is the alias of the entry in the way: Alias itself when it
	// holds another key, or the alias the key is already trusted as.
	Other string
}

// Error tells the user what to do.
func (e *ConflictError) Error() string {
	if e.Other == e.Alias {
		return fmt.Sprintf("alias %q is already used by another key: remove it first to replace the key", e.Alias)
	}
	return fmt.Sprintf("this key is already trusted as %q: rename that alias instead of adding it again", e.Other)
}

// Is reports whether target is ErrExists.
func (e *ConflictError) Is(target error) bool { return target == ErrExists }

// Option configures Open.
type Option func(*Keyring)

// WithLogger makes Open log the problems it finds, and the keyring log its
// changes, to l.
func WithLogger(l *slog.Logger) Option {
	return func(k *Keyring) { k.log = l }
}

// Keyring is the set of trusted keys stored in a directory, one file per
// key. It is safe for concurrent use. It assumes it is the only writer of
// its directory while it is open.
type Keyring struct {
	dir string
	log *slog.Logger

	// wmu serializes changes, which hold it while they write to disk; mu
	// guards the maps and is held only briefly, so lookups never wait for
	// an fsync.
	wmu      sync.Mutex
	mu       sync.RWMutex
	byAlias  map[string]Entry
	byKey    map[crypto.PublicKey]string
	problems []Problem
}

// Open reads the keyring in dir, creating dir (mode 0700) if needed. It
// removes the temporary files an interrupted write left behind and skips,
// reporting them in Problems and to the logger, the files it cannot trust:
// unreadable or invalid key files, names that are not valid aliases, and a
// second alias for a key already read (the first file in name order
// wins). Only an unusable directory is an error.
func Open(dir string, opts ...Option) (*Keyring, error) {
	k := &Keyring{
		dir:     dir,
		log:     slog.New(slog.DiscardHandler),
		byAlias: make(map[string]Entry),
		byKey:   make(map[crypto.PublicKey]string),
	}
	for _, o := range opts {
		o(k)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the keyring directory: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the keyring directory: %w", err)
	}
	// os.ReadDir sorts by file name, so the same alias of a duplicate key
	// wins whatever order the file system lists them in.
	for _, de := range ents {
		k.load(de)
	}
	return k, nil
}

// load reads one directory entry during Open.
func (k *Keyring) load(de os.DirEntry) {
	name := de.Name()
	path := filepath.Join(k.dir, name)
	if isTemp(name) {
		if err := os.Remove(path); err != nil {
			k.problem(path, fmt.Errorf("removing a temporary file left by an interrupted write: %w", err))
			return
		}
		k.log.Info("keyring: removed a temporary file left by an interrupted write", "path", path)
		return
	}
	alias, ok := strings.CutSuffix(name, KeyFileExt)
	if !ok {
		k.problem(path, errors.New("not a key file (the name does not end in .pub); ignored"))
		return
	}
	if err := ValidAlias(alias); err != nil {
		k.problem(path, fmt.Errorf("%w; key not trusted, rename the file", err))
		return
	}
	if !de.Type().IsRegular() {
		k.problem(path, errors.New("not a regular file; key not trusted"))
		return
	}
	content, err := readSmall(path, MaxKeyFileSize)
	if err != nil {
		k.problem(path, fmt.Errorf("%w; key not trusted", err))
		return
	}
	key, err := ParseKeyFile(content)
	if err != nil {
		k.problem(path, fmt.Errorf("%w; key not trusted, fix or remove the file", err))
		return
	}
	if other, dup := k.byKey[key]; dup {
		k.problem(path, fmt.Errorf("the same key is already trusted as %q; this alias is ignored, remove one of the two files", other))
		return
	}
	added, ok := parseAdded(content)
	if !ok {
		if info, err := de.Info(); err == nil {
			added = info.ModTime()
		}
	}
	k.put(Entry{Alias: alias, Key: key, Added: added.UTC().Truncate(time.Second)})
}

// readSmall reads at most limit bytes of path, refusing a longer file.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errorf(ErrBadKey, "not a valid public key file: it is over %d bytes", limit)
	}
	return data, nil
}

func (k *Keyring) problem(path string, err error) {
	k.problems = append(k.problems, Problem{Path: path, Err: err})
	k.log.Warn("keyring: skipping a file", "path", path, "err", err)
}

// put records e; k.mu is held or k is not shared yet.
func (k *Keyring) put(e Entry) {
	k.byAlias[e.Alias] = e
	k.byKey[e.Key] = e.Alias
}

// update runs f with k.mu held.
func (k *Keyring) update(f func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f()
}

// Dir returns the directory of the keyring.
func (k *Keyring) Dir() string { return k.dir }

// Path returns the path of the key file of alias (which need not exist).
func (k *Keyring) Path(alias string) string {
	return filepath.Join(k.dir, alias+KeyFileExt)
}

// Problems returns the files Open skipped, in directory order.
func (k *Keyring) Problems() []Problem {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slices.Clone(k.problems)
}

// List returns the trusted keys, sorted by alias.
func (k *Keyring) List() []Entry {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]Entry, 0, len(k.byAlias))
	for _, e := range k.byAlias {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Alias, b.Alias) })
	return out
}

// Lookup returns the entry of alias.
func (k *Keyring) Lookup(alias string) (Entry, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	e, ok := k.byAlias[alias]
	return e, ok
}

// ByKey returns the entry of key.
func (k *Keyring) ByKey(key crypto.PublicKey) (Entry, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	alias, ok := k.byKey[key]
	if !ok {
		return Entry{}, false
	}
	return k.byAlias[alias], true
}

// Add trusts key under alias, writing its file durably before it returns.
// Adding the same alias with the same key again does nothing. It refuses an
// invalid alias (ErrInvalidAlias), a low-order key (ErrBadKey), an alias
// that holds another key and a key trusted under another alias
// (*ConflictError, matching ErrExists).
func (k *Keyring) Add(alias string, key crypto.PublicKey) error {
	if err := ValidAlias(alias); err != nil {
		return err
	}
	if err := crypto.CheckPublic(key); err != nil {
		return errorf(ErrBadKey, "refusing to trust a low-order key, which no real age key is: %w", err)
	}
	k.wmu.Lock()
	defer k.wmu.Unlock()
	if e, ok := k.Lookup(alias); ok {
		if e.Key == key {
			return nil
		}
		return &ConflictError{Alias: alias, Other: alias}
	}
	if e, ok := k.ByKey(key); ok {
		return &ConflictError{Alias: alias, Other: e.Alias}
	}
	added := time.Now().UTC().Truncate(time.Second)
	err := writeFileAtomic(k.dir, alias+KeyFileExt, MarshalKeyFile(key, added), 0o600)
	if err != nil && !errors.Is(err, errDirSync) {
		return fmt.Errorf("writing the key file of %q: %w", alias, err)
	}
	k.update(func() { k.put(Entry{Alias: alias, Key: key, Added: added}) })
	k.log.Info("keyring: trusted a key", "alias", alias, "fingerprint", key.ShortFingerprint())
	if err != nil {
		return fmt.Errorf("%q is trusted, but the change may not survive a crash: %w", alias, err)
	}
	return nil
}

// Remove stops trusting the key of alias and deletes its file. It returns
// an error matching ErrNotFound if no key has that alias.
func (k *Keyring) Remove(alias string) error {
	k.wmu.Lock()
	defer k.wmu.Unlock()
	e, ok := k.Lookup(alias)
	if !ok {
		return errorf(ErrNotFound, "no trusted key has the alias %q", alias)
	}
	if err := os.Remove(k.Path(alias)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the key file of %q: %w", alias, err)
	}
	k.update(func() {
		delete(k.byAlias, alias)
		delete(k.byKey, e.Key)
	})
	k.log.Info("keyring: revoked a key", "alias", alias, "fingerprint", e.Key.ShortFingerprint())
	if err := syncDir(k.dir); err != nil {
		return fmt.Errorf("%q is revoked, but the removal may not survive a crash: %w", alias, err)
	}
	return nil
}

// Rename gives the key of oldAlias the alias newAlias, renaming its file
// atomically. Renaming an alias to itself does nothing. It returns an error
// matching ErrNotFound if oldAlias does not exist, ErrInvalidAlias for a bad
// newAlias, and ErrExists if newAlias is taken (in the keyring, or on disk
// by a file Open skipped).
func (k *Keyring) Rename(oldAlias, newAlias string) error {
	if err := ValidAlias(newAlias); err != nil {
		return err
	}
	k.wmu.Lock()
	defer k.wmu.Unlock()
	e, ok := k.Lookup(oldAlias)
	if !ok {
		return errorf(ErrNotFound, "no trusted key has the alias %q", oldAlias)
	}
	if oldAlias == newAlias {
		return nil
	}
	if _, ok := k.Lookup(newAlias); ok {
		return &ConflictError{Alias: newAlias, Other: newAlias}
	}
	if err := renameNoReplace(k.Path(oldAlias), k.Path(newAlias)); err != nil {
		if errors.Is(err, os.ErrExist) {
			return errorf(ErrExists, "%s exists but is not a trusted key file: remove it first", k.Path(newAlias))
		}
		return fmt.Errorf("renaming %q to %q: %w", oldAlias, newAlias, err)
	}
	e.Alias = newAlias
	k.update(func() {
		delete(k.byAlias, oldAlias)
		k.put(e)
	})
	k.log.Info("keyring: renamed an alias", "from", oldAlias, "to", newAlias)
	if err := syncDir(k.dir); err != nil {
		return fmt.Errorf("%q is renamed to %q, but the change may not survive a crash: %w", oldAlias, newAlias, err)
	}
	return nil
}
