package store

import (
	"encoding/binary"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// The outbox bucket maps the keyed hash of an item id to the item sealed
// under the value key, prefixed (inside the seal) by its insertion number,
// which comes from the bucket sequence. Keying by id makes acknowledging an
// item one lookup and queuing one leaf write; Outbox, which decrypts every
// item anyway, sorts them by insertion number.

// outboxKey returns the bucket key of an item id.
func (t *Tx) outboxKey(id [16]byte) []byte {
	return t.s.keys.name(labelOutboxID, nil, string(id[:]))
}

// sealOutbox seals an item with its insertion number.
func (t *Tx) sealOutbox(key []byte, n uint64, it OutboxItem) ([]byte, error) {
	enc, err := encodeOutbox(it)
	if err != nil {
		return nil, err
	}
	plain := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(enc)), n)
	plain = append(plain, enc...)
	clear(enc)
	defer clear(plain)
	return seal(t.s.keys.values, assoc(labelOutbox, key), plain), nil
}

// openOutbox decrypts the item stored under key and returns it with its
// insertion number. want, if not nil, is the id the item must have.
func (t *Tx) openOutbox(key, sealed []byte, want *[16]byte) (OutboxItem, uint64, error) {
	plain, err := open(t.s.keys.values, assoc(labelOutbox, key), sealed)
	if err != nil {
		return OutboxItem{}, 0, fmt.Errorf("store: outbox item: %w", err)
	}
	if len(plain) < 8 {
		return OutboxItem{}, 0, fmt.Errorf("%w: outbox item of %d bytes", ErrCorrupt, len(plain))
	}
	n := binary.BigEndian.Uint64(plain)
	it, err := decodeOutbox(plain[8:])
	if err != nil {
		return OutboxItem{}, 0, fmt.Errorf("store: outbox item %d: %w", n, err)
	}
	if want != nil && it.ID != *want {
		return OutboxItem{}, 0, fmt.Errorf("%w: outbox item stored under another id", ErrCorrupt)
	}
	return it, n, nil
}

// PutOutbox queues item after all items already in the outbox. An item
// with the same ID already queued is refused with ErrExists.
func (t *Tx) PutOutbox(item OutboxItem) error {
	if err := t.writable(); err != nil {
		return err
	}
	b := t.bucket(bucketOutbox)
	key := t.outboxKey(item.ID)
	if b.Get(key) != nil {
		return fmt.Errorf("%w: outbox item", ErrExists)
	}
	n, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("store: outbox: %w", classify(err))
	}
	v, err := t.sealOutbox(key, n, item)
	if err != nil {
		return err
	}
	return put(b, key, v)
}

// UpdateOutbox replaces the queued item that has item.ID (to record an
// attempt or a new retry time), keeping its place in the queue. It fails
// with ErrNotFound if no such item is queued.
func (t *Tx) UpdateOutbox(item OutboxItem) error {
	if err := t.writable(); err != nil {
		return err
	}
	b := t.bucket(bucketOutbox)
	key := t.outboxKey(item.ID)
	old := b.Get(key)
	if old == nil {
		return fmt.Errorf("%w: outbox item", ErrNotFound)
	}
	_, n, err := t.openOutbox(key, old, &item.ID)
	if err != nil {
		return err
	}
	v, err := t.sealOutbox(key, n, item)
	if err != nil {
		return err
	}
	return put(b, key, v)
}

// DeleteOutbox removes the item with this id (it was acknowledged or given
// up). It fails with ErrNotFound if no such item is queued, so a repeated
// acknowledgement can be told apart.
func (t *Tx) DeleteOutbox(id [16]byte) error {
	if err := t.writable(); err != nil {
		return err
	}
	b := t.bucket(bucketOutbox)
	key := t.outboxKey(id)
	if b.Get(key) == nil {
		return fmt.Errorf("%w: outbox item", ErrNotFound)
	}
	if err := b.Delete(key); err != nil {
		return fmt.Errorf("store: outbox: %w", classify(err))
	}
	return nil
}

// GetOutbox returns the queued item with this id, if any.
func (t *Tx) GetOutbox(id [16]byte) (OutboxItem, bool, error) {
	key := t.outboxKey(id)
	sealed := t.bucket(bucketOutbox).Get(key)
	if sealed == nil {
		return OutboxItem{}, false, nil
	}
	it, _, err := t.openOutbox(key, sealed, &id)
	if err != nil {
		return OutboxItem{}, false, err
	}
	return it, true, nil
}

// Outbox calls fn for every queued item in the order they were queued, and
// stops at the first error fn returns. fn may keep the item. It decrypts
// the whole outbox before the first call.
func (t *Tx) Outbox(fn func(OutboxItem) error) error {
	type queued struct {
		n  uint64
		it OutboxItem
	}
	var items []queued
	err := forEach(t.bucket(bucketOutbox), func(key, sealed []byte) error {
		it, n, err := t.openOutbox(key, sealed, nil)
		if err != nil {
			return err
		}
		if string(t.outboxKey(it.ID)) != string(key) {
			return fmt.Errorf("%w: outbox item stored under another id", ErrCorrupt)
		}
		items = append(items, queued{n, it})
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].n < items[j].n })
	for _, q := range items {
		if err := fn(q.it); err != nil {
			return err
		}
	}
	return nil
}

// forEach calls fn for every key and value of b in key order; nested
// buckets are corruption.
func forEach(b *bolt.Bucket, fn func(k, v []byte) error) error {
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if v == nil {
			return fmt.Errorf("%w: unexpected bucket", ErrCorrupt)
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}
