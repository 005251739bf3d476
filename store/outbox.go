package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The outbox bucket maps an insertion number (8 bytes, big-endian, from the
// bucket sequence) to a sealed item; outbox-id maps the keyed hash of an
// item's id to its insertion number.

// outboxPos returns the insertion key of the item with this id, or nil.
func (t *Tx) outboxPos(id [16]byte) (idKey, pos []byte, err error) {
	idKey = t.s.keys.name(labelOutboxID, nil, string(id[:]))
	pos = t.bucket(bucketOutboxID).Get(idKey)
	if pos != nil && len(pos) != 8 {
		return nil, nil, fmt.Errorf("%w: outbox index", ErrCorrupt)
	}
	return idKey, pos, nil
}

// sealOutbox seals an item for its position.
func (t *Tx) sealOutbox(pos []byte, it OutboxItem) ([]byte, error) {
	plain, err := encodeOutbox(it)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return seal(t.s.keys.values, assoc(labelOutbox, pos), plain), nil
}

// openOutbox decrypts the item at pos and checks that it is the one wanted
// (want == nil accepts any).
func (t *Tx) openOutbox(pos, sealed []byte, want *[16]byte) (OutboxItem, error) {
	plain, err := open(t.s.keys.values, assoc(labelOutbox, pos), sealed)
	if err != nil {
		return OutboxItem{}, fmt.Errorf("store: outbox item %d: %w", binary.BigEndian.Uint64(pos), err)
	}
	it, err := decodeOutbox(plain)
	if err != nil {
		return OutboxItem{}, fmt.Errorf("store: outbox item %d: %w", binary.BigEndian.Uint64(pos), err)
	}
	if want != nil && it.ID != *want {
		return OutboxItem{}, fmt.Errorf("%w: outbox index points to another item", ErrCorrupt)
	}
	return it, nil
}

// PutOutbox queues item after all items already in the outbox. An item
// with the same ID already queued is refused with ErrExists.
func (t *Tx) PutOutbox(item OutboxItem) error {
	if err := t.writable(); err != nil {
		return err
	}
	idKey, pos, err := t.outboxPos(item.ID)
	if err != nil {
		return err
	}
	if pos != nil {
		return fmt.Errorf("%w: outbox item", ErrExists)
	}
	b := t.bucket(bucketOutbox)
	n, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("store: outbox: %w", classify(err))
	}
	pos = u64(n)
	v, err := t.sealOutbox(pos, item)
	if err != nil {
		return err
	}
	if err := put(b, pos, v); err != nil {
		return err
	}
	return put(t.bucket(bucketOutboxID), idKey, pos)
}

// UpdateOutbox replaces the queued item that has item.ID (to record an
// attempt or a new retry time), keeping its place in the queue. It fails
// with ErrNotFound if no such item is queued.
func (t *Tx) UpdateOutbox(item OutboxItem) error {
	if err := t.writable(); err != nil {
		return err
	}
	_, pos, err := t.outboxPos(item.ID)
	if err != nil {
		return err
	}
	if pos == nil {
		return fmt.Errorf("%w: outbox item", ErrNotFound)
	}
	pos = append([]byte(nil), pos...)
	v, err := t.sealOutbox(pos, item)
	if err != nil {
		return err
	}
	return put(t.bucket(bucketOutbox), pos, v)
}

// DeleteOutbox removes the item with this id (it was acknowledged or given
// up). It fails with ErrNotFound if no such item is queued, so a repeated
// acknowledgement can be told apart.
func (t *Tx) DeleteOutbox(id [16]byte) error {
	if err := t.writable(); err != nil {
		return err
	}
	idKey, pos, err := t.outboxPos(id)
	if err != nil {
		return err
	}
	if pos == nil {
		return fmt.Errorf("%w: outbox item", ErrNotFound)
	}
	pos = append([]byte(nil), pos...)
	if err := t.bucket(bucketOutbox).Delete(pos); err != nil {
		return fmt.Errorf("store: outbox: %w", classify(err))
	}
	if err := t.bucket(bucketOutboxID).Delete(idKey); err != nil {
		return fmt.Errorf("store: outbox: %w", classify(err))
	}
	return nil
}

// GetOutbox returns the queued item with this id, if any.
func (t *Tx) GetOutbox(id [16]byte) (OutboxItem, bool, error) {
	_, pos, err := t.outboxPos(id)
	if err != nil || pos == nil {
		return OutboxItem{}, false, err
	}
	sealed := t.bucket(bucketOutbox).Get(pos)
	if sealed == nil {
		return OutboxItem{}, false, fmt.Errorf("%w: outbox index points to a missing item", ErrCorrupt)
	}
	it, err := t.openOutbox(pos, sealed, &id)
	if err != nil {
		return OutboxItem{}, false, err
	}
	return it, true, nil
}

// Outbox calls fn for every queued item in the order they were queued, and
// stops at the first error fn returns. fn may keep the item.
func (t *Tx) Outbox(fn func(OutboxItem) error) error {
	return forEach(t.bucket(bucketOutbox), func(pos, sealed []byte) error {
		if len(pos) != 8 {
			return fmt.Errorf("%w: bad key in outbox", ErrCorrupt)
		}
		it, err := t.openOutbox(pos, sealed, nil)
		if err != nil {
			return err
		}
		return fn(it)
	})
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
