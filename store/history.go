package store

import (
	"bytes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Keys inside a conversation bucket.
var (
	convKeyKey  = []byte("k") // the conversation key, sealed under the value key
	convNameKey = []byte("n") // the conversation id, sealed under the value key
	convEntries = []byte("e") // bucket: index (8 bytes, big-endian) -> sealed entry
	convIDs     = []byte("i") // bucket: keyed hash of a message id -> 1
)

// convHandle is a conversation opened in a transaction.
type convHandle struct {
	hash      []byte // bucket key: keyed hash of the conversation id
	entries   *bolt.Bucket
	ids       *bolt.Bucket
	sealedKey []byte
	aead      cipher.AEAD // nil until first needed
}

// openConv finds a conversation, creating it if create is set. It returns
// nil and no error for a missing conversation when create is not set.
func (t *Tx) openConv(conv string, create bool) (*convHandle, error) {
	if c := t.convs[conv]; c != nil {
		return c, nil
	}
	if err := validName("conversation id", conv); err != nil {
		return nil, err
	}
	h := t.s.keys.name(labelConv, nil, conv)
	root := t.bucket(bucketConv)
	b := root.Bucket(h)
	if b == nil {
		if !create {
			return nil, nil
		}
		return t.createConv(root, conv, h)
	}
	c := &convHandle{
		hash:      h,
		entries:   b.Bucket(convEntries),
		ids:       b.Bucket(convIDs),
		sealedKey: bytes.Clone(b.Get(convKeyKey)),
	}
	if c.entries == nil || c.ids == nil || c.sealedKey == nil {
		return nil, fmt.Errorf("%w: conversation bucket incomplete", ErrCorrupt)
	}
	t.convs[conv] = c
	return c, nil
}

// createConv makes a conversation bucket with a new random key.
func (t *Tx) createConv(root *bolt.Bucket, conv string, h []byte) (*convHandle, error) {
	if err := t.writable(); err != nil {
		return nil, err
	}
	b, err := root.CreateBucket(h)
	if err != nil {
		return nil, fmt.Errorf("store: creating conversation: %w", classify(err))
	}
	key := make([]byte, keySize)
	randRead(key)
	aead, err := newConvAEAD(key)
	if err != nil {
		return nil, err
	}
	c := &convHandle{
		hash:      h,
		sealedKey: seal(t.s.keys.values, assoc(labelConvKey, h), key),
		aead:      aead,
	}
	clear(key)
	if err := put(b, convKeyKey, c.sealedKey); err != nil {
		return nil, err
	}
	if err := put(b, convNameKey, seal(t.s.keys.values, assoc(labelConvName, h), []byte(conv))); err != nil {
		return nil, err
	}
	if c.entries, err = b.CreateBucket(convEntries); err != nil {
		return nil, fmt.Errorf("store: creating conversation: %w", classify(err))
	}
	if c.ids, err = b.CreateBucket(convIDs); err != nil {
		return nil, fmt.Errorf("store: creating conversation: %w", classify(err))
	}
	t.s.cache.put(c.sealedKey, aead)
	t.convs[conv] = c
	return c, nil
}

// cipher returns the conversation's cipher, unwrapping its key once per
// process (the cache is keyed by the sealed key).
func (c *convHandle) cipher(t *Tx) (cipher.AEAD, error) {
	if c.aead != nil {
		return c.aead, nil
	}
	if a, ok := t.s.cache.get(c.sealedKey); ok {
		c.aead = a
		return a, nil
	}
	key, err := open(t.s.keys.values, assoc(labelConvKey, c.hash), c.sealedKey)
	if err != nil {
		return nil, fmt.Errorf("store: conversation key: %w", err)
	}
	a, err := newConvAEAD(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	t.s.cache.put(c.sealedKey, a)
	c.aead = a
	return a, nil
}

// idKey is the id index key of a message id in a conversation.
func (t *Tx) idKey(c *convHandle, id [16]byte) []byte {
	return t.s.keys.name(labelMsgID, c.hash, string(id[:]))
}

// Append adds e at the end of the history of conv, creating the
// conversation (and its key) if it does not exist, and returns its index.
// Indexes start at 1 and are contiguous. An entry whose ID is already in
// the conversation is refused with ErrExists.
func (t *Tx) Append(conv string, e Entry) (uint64, error) {
	if err := t.writable(); err != nil {
		return 0, err
	}
	plain, err := encodeEntry(e)
	if err != nil {
		return 0, err
	}
	defer clear(plain)
	c, err := t.openConv(conv, true)
	if err != nil {
		return 0, err
	}
	idKey := t.idKey(c, e.ID)
	if c.ids.Get(idKey) != nil {
		return 0, fmt.Errorf("%w: message id already in the conversation", ErrExists)
	}
	a, err := c.cipher(t)
	if err != nil {
		return 0, err
	}
	idx, err := c.entries.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("store: append: %w", classify(err))
	}
	k := u64(idx)
	if err := put(c.entries, k, seal(a, assoc(labelEntry, c.hash, k), plain)); err != nil {
		return 0, err
	}
	if err := put(c.ids, idKey, []byte{1}); err != nil {
		return 0, err
	}
	return idx, nil
}

// Entries calls fn for every entry of conv in order, starting at index
// from (0 means 1), and stops at the first error fn returns. A missing
// conversation has no entries. The Entry passed to fn is fn's to keep.
func (t *Tx) Entries(conv string, from uint64, fn func(index uint64, e Entry) error) error {
	c, err := t.openConv(conv, false)
	if c == nil {
		return err
	}
	a, err := c.cipher(t)
	if err != nil {
		return err
	}
	if from == 0 {
		from = 1
	}
	want := from
	last := c.entries.Sequence()
	cur := c.entries.Cursor()
	for k, v := cur.Seek(u64(from)); k != nil; k, v = cur.Next() {
		if len(k) != 8 || v == nil {
			return fmt.Errorf("%w: bad key in history", ErrCorrupt)
		}
		idx := binary.BigEndian.Uint64(k)
		if idx != want || idx > last {
			return fmt.Errorf("%w: history entry %d missing", ErrCorrupt, want)
		}
		want++
		plain, err := open(a, assoc(labelEntry, c.hash, k), v)
		if err != nil {
			return fmt.Errorf("store: history entry %d: %w", idx, err)
		}
		e, err := decodeEntry(plain)
		if err != nil {
			return fmt.Errorf("store: history entry %d: %w", idx, err)
		}
		if err := fn(idx, e); err != nil {
			return err
		}
	}
	if want <= last {
		return fmt.Errorf("%w: history entry %d missing", ErrCorrupt, want)
	}
	return nil
}

// Count returns the number of entries of conv (the index of the last one);
// 0 if the conversation does not exist.
func (t *Tx) Count(conv string) uint64 {
	c, err := t.openConv(conv, false)
	if err != nil {
		t.fail(err)
		return 0
	}
	if c == nil {
		return 0
	}
	return c.entries.Sequence()
}

// HasID reports whether an entry with this message id was appended to conv.
// Message ids are stored as keyed hashes.
func (t *Tx) HasID(conv string, id [16]byte) bool {
	c, err := t.openConv(conv, false)
	if err != nil {
		t.fail(err)
		return false
	}
	return c != nil && c.ids.Get(t.idKey(c, id)) != nil
}

// DeleteConversation destroys the key, the entries and the id index of
// conv. Deleting a conversation that does not exist does nothing. Once the
// transaction commits, the file is rewritten so that no trace remains (see
// the package documentation); a later Append starts a new conversation at
// index 1 with a new key.
func (t *Tx) DeleteConversation(conv string) error {
	if err := t.writable(); err != nil {
		return err
	}
	c, err := t.openConv(conv, false)
	if c == nil {
		return err
	}
	if err := t.bucket(bucketConv).DeleteBucket(c.hash); err != nil {
		return fmt.Errorf("store: deleting conversation: %w", classify(err))
	}
	if err := put(t.bucket(bucketMeta), metaScrub, []byte{1}); err != nil {
		return err
	}
	t.s.cache.forget(c.sealedKey)
	delete(t.convs, conv)
	t.deleted = true
	return nil
}

// Conversations returns the ids of all conversations, sorted.
func (t *Tx) Conversations() []string {
	var ids []string
	root := t.bucket(bucketConv)
	err := root.ForEachBucket(func(h []byte) error {
		b := root.Bucket(h)
		id, err := open(t.s.keys.values, assoc(labelConvName, h), b.Get(convNameKey))
		if err != nil {
			return fmt.Errorf("store: conversation id: %w", err)
		}
		ids = append(ids, string(id))
		return nil
	})
	if err != nil {
		t.fail(err)
	}
	sort.Strings(ids)
	return ids
}
