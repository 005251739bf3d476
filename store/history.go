package store

import (
	"bytes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Layout of history.
//
// The conv bucket maps the keyed hash of a conversation id (16 bytes) to
// its record, sealed under the value key: the conversation key (32 bytes)
// followed by the conversation id.
//
// The hist bucket holds, for every conversation, under its hash:
//
//	hash | 0x00 | index (8 bytes, big-endian)  -> entry sealed under the conversation key
//	hash | 0x01 | keyed hash of a message id   -> 0x01
//
// One flat bucket rather than a bucket per conversation: an Append then
// dirties two leaves and their shared branches instead of three nested
// buckets' worth of pages, and each dirty page is one more write per commit.
const (
	histEntry = 0x00
	histID    = 0x01
)

// convHandle is a conversation opened in a transaction.
type convHandle struct {
	hash   []byte // keyed hash of the conversation id
	record []byte // sealed record as stored (the key cache is keyed by it)
	aead   cipher.AEAD
	last   uint64 // index of the last entry
}

// histKey returns hash | kind | suffix.
func histKey(hash []byte, kind byte, suffix []byte) []byte {
	k := make([]byte, 0, len(hash)+1+len(suffix))
	k = append(k, hash...)
	k = append(k, kind)
	return append(k, suffix...)
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
	record := t.bucket(bucketConv).Get(h)
	if record == nil {
		if !create {
			return nil, nil
		}
		return t.createConv(conv, h)
	}
	c := &convHandle{hash: h, record: bytes.Clone(record)}
	a, ok := t.s.cache.get(c.record)
	if !ok {
		key, id, err := t.openConvRecord(h, c.record)
		if err != nil {
			return nil, err
		}
		if id != conv {
			return nil, fmt.Errorf("%w: conversation record of another conversation", ErrCorrupt)
		}
		a, err = newConvAEAD(key)
		clear(key)
		if err != nil {
			return nil, err
		}
		t.s.cache.put(c.record, a)
	}
	c.aead = a
	c.last = t.lastIndex(h)
	t.convs[conv] = c
	return c, nil
}

// openConvRecord decrypts a conversation record into its key and id.
func (t *Tx) openConvRecord(h, record []byte) (key []byte, id string, err error) {
	plain, err := open(t.s.keys.values, assoc(labelConvRecord, h), record)
	if err != nil {
		return nil, "", fmt.Errorf("store: conversation record: %w", err)
	}
	if len(plain) < keySize {
		return nil, "", fmt.Errorf("%w: conversation record of %d bytes", ErrCorrupt, len(plain))
	}
	return plain[:keySize], string(plain[keySize:]), nil
}

// createConv makes a conversation with a new random key.
func (t *Tx) createConv(conv string, h []byte) (*convHandle, error) {
	if err := t.writable(); err != nil {
		return nil, err
	}
	plain := make([]byte, keySize, keySize+len(conv))
	randRead(plain)
	aead, err := newConvAEAD(plain)
	if err != nil {
		return nil, err
	}
	plain = append(plain, conv...)
	c := &convHandle{hash: h, record: seal(t.s.keys.values, assoc(labelConvRecord, h), plain), aead: aead}
	clear(plain)
	if err := put(t.bucket(bucketConv), h, c.record); err != nil {
		return nil, err
	}
	t.s.cache.put(c.record, aead)
	t.convs[conv] = c
	return c, nil
}

// lastIndex returns the index of the last entry of the conversation with
// this hash, 0 if it has none.
func (t *Tx) lastIndex(h []byte) uint64 {
	cur := t.bucket(bucketHist).Cursor()
	k, _ := cur.Seek(histKey(h, histID, nil))
	if k == nil {
		k, _ = cur.Last()
	} else {
		k, _ = cur.Prev()
	}
	prefix := histKey(h, histEntry, nil)
	if len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(prefix):])
}

// idKey is the hist key recording a message id in a conversation.
func (t *Tx) idKey(c *convHandle, id [16]byte) []byte {
	return histKey(c.hash, histID, t.s.keys.name(labelMsgID, c.hash, string(id[:])))
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
	hist := t.bucket(bucketHist)
	idKey := t.idKey(c, e.ID)
	if hist.Get(idKey) != nil {
		return 0, fmt.Errorf("%w: message id already in the conversation", ErrExists)
	}
	idx := c.last + 1
	k := histKey(c.hash, histEntry, u64(idx))
	if err := put(hist, k, seal(c.aead, assoc(labelEntry, k), plain)); err != nil {
		return 0, err
	}
	if err := put(hist, idKey, []byte{1}); err != nil {
		return 0, err
	}
	c.last = idx
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
	if from == 0 {
		from = 1
	}
	prefix := histKey(c.hash, histEntry, nil)
	want := from
	cur := t.bucket(bucketHist).Cursor()
	for k, v := cur.Seek(histKey(c.hash, histEntry, u64(from))); bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		if len(k) != len(prefix)+8 || v == nil {
			return fmt.Errorf("%w: bad key in history", ErrCorrupt)
		}
		idx := binary.BigEndian.Uint64(k[len(prefix):])
		if idx != want {
			return fmt.Errorf("%w: history entry %d missing", ErrCorrupt, want)
		}
		want++
		plain, err := open(c.aead, assoc(labelEntry, k), v)
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
	return c.last
}

// HasID reports whether an entry with this message id was appended to conv.
// Message ids are stored as keyed hashes.
func (t *Tx) HasID(conv string, id [16]byte) bool {
	c, err := t.openConv(conv, false)
	if err != nil {
		t.fail(err)
		return false
	}
	return c != nil && t.bucket(bucketHist).Get(t.idKey(c, id)) != nil
}

// deleteBatch is how many history keys DeleteConversation collects before
// deleting them (bbolt cursors must not delete while iterating).
const deleteBatch = 1024

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
	if err := t.bucket(bucketConv).Delete(c.hash); err != nil {
		return fmt.Errorf("store: deleting conversation: %w", classify(err))
	}
	if err := deletePrefix(t.bucket(bucketHist), c.hash); err != nil {
		return err
	}
	if err := put(t.bucket(bucketMeta), metaScrub, []byte{1}); err != nil {
		return err
	}
	t.s.cache.forget(c.record)
	delete(t.convs, conv)
	t.deleted = true
	return nil
}

// deletePrefix deletes every key of b that starts with prefix.
func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	for {
		var keys [][]byte
		cur := b.Cursor()
		for k, _ := cur.Seek(prefix); bytes.HasPrefix(k, prefix) && len(keys) < deleteBatch; k, _ = cur.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		if len(keys) == 0 {
			return nil
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("store: deleting: %w", classify(err))
			}
		}
	}
}

// Conversations returns the ids of all conversations, sorted.
func (t *Tx) Conversations() []string {
	var ids []string
	err := forEach(t.bucket(bucketConv), func(h, record []byte) error {
		key, id, err := t.openConvRecord(h, record)
		clear(key)
		if err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		t.fail(err)
	}
	sort.Strings(ids)
	return ids
}
