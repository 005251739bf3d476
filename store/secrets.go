package store

import (
	"fmt"
	"sort"
	"strings"
)

// Secrets live in the secret bucket under the keyed hash of their name; the
// sealed value holds the name too, so that Secrets can list them.

// PutSecret stores value under name, replacing any previous value. The
// value is opaque to the store and at most MaxValueSize bytes.
func (t *Tx) PutSecret(name string, value []byte) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := validName("secret name", name); err != nil {
		return err
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: secret of %d bytes (max %d)", ErrInvalid, len(value), MaxValueSize)
	}
	key := t.s.keys.name(labelSecret, nil, name)
	plain := encodeSecret(name, value)
	defer clear(plain)
	return put(t.bucket(bucketSecret), key, seal(t.s.keys.values, assoc(labelSecret, key), plain))
}

// openSecret decrypts a secret record stored under key.
func (t *Tx) openSecret(key, sealed []byte) (string, []byte, error) {
	plain, err := open(t.s.keys.values, assoc(labelSecret, key), sealed)
	if err != nil {
		return "", nil, fmt.Errorf("store: secret: %w", err)
	}
	return decodeSecret(plain)
}

// GetSecret returns the value stored under name, if any. The slice is the
// caller's.
func (t *Tx) GetSecret(name string) ([]byte, bool, error) {
	if err := validName("secret name", name); err != nil {
		return nil, false, err
	}
	key := t.s.keys.name(labelSecret, nil, name)
	sealed := t.bucket(bucketSecret).Get(key)
	if sealed == nil {
		return nil, false, nil
	}
	got, value, err := t.openSecret(key, sealed)
	if err != nil {
		return nil, false, err
	}
	if got != name {
		return nil, false, fmt.Errorf("%w: secret stored under another name", ErrCorrupt)
	}
	return value, true, nil
}

// DeleteSecret removes name; removing a missing secret does nothing.
func (t *Tx) DeleteSecret(name string) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := validName("secret name", name); err != nil {
		return err
	}
	if err := t.bucket(bucketSecret).Delete(t.s.keys.name(labelSecret, nil, name)); err != nil {
		return fmt.Errorf("store: deleting secret: %w", classify(err))
	}
	return nil
}

// Secrets calls fn, in name order, for every secret whose name starts
// with prefix, and stops at the first error fn returns. Names are stored
// hashed, so this decrypts every secret: its cost grows with the number of
// secrets, not of matches. Use GetSecret for known names.
func (t *Tx) Secrets(prefix string, fn func(name string, value []byte) error) error {
	type secret struct {
		name  string
		value []byte
	}
	var found []secret
	err := forEach(t.bucket(bucketSecret), func(key, sealed []byte) error {
		name, value, err := t.openSecret(key, sealed)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(name, prefix) {
			return nil
		}
		if want := t.s.keys.name(labelSecret, nil, name); string(want) != string(key) {
			return fmt.Errorf("%w: secret stored under another name", ErrCorrupt)
		}
		found = append(found, secret{name, value})
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(found, func(i, j int) bool { return found[i].name < found[j].name })
	for _, s := range found {
		if err := fn(s.name, s.value); err != nil {
			return err
		}
	}
	return nil
}
