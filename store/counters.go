package store

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Counters live in the counter bucket under the keyed hash of the
// direction and the peer, sealed under the value key.

// counter reads a counter; a missing one is 0.
func (t *Tx) counter(label, peer string) (key []byte, v uint64, err error) {
	if err := validName("peer", peer); err != nil {
		return nil, 0, err
	}
	key = t.s.keys.name(label, nil, peer)
	sealed := t.bucket(bucketCounter).Get(key)
	if sealed == nil {
		return key, 0, nil
	}
	plain, err := open(t.s.keys.values, assoc(labelCounter, key), sealed)
	if err != nil {
		return nil, 0, fmt.Errorf("store: %s counter: %w", label, err)
	}
	v, err = decodeCounter(plain)
	if err != nil {
		return nil, 0, fmt.Errorf("store: %s counter: %w", label, err)
	}
	return key, v, nil
}

// setCounter writes a counter.
func (t *Tx) setCounter(key []byte, v uint64) error {
	plain := binary.BigEndian.AppendUint64(nil, v)
	return put(t.bucket(bucketCounter), key, seal(t.s.keys.values, assoc(labelCounter, key), plain))
}

// NextSendSeq increments the send sequence of the direction to peer and
// returns the new value: 1 for the first message. Call it in the same
// transaction as the PutOutbox of the message that carries it.
func (t *Tx) NextSendSeq(peer string) (uint64, error) {
	if err := t.writable(); err != nil {
		return 0, err
	}
	key, v, err := t.counter(labelSend, peer)
	if err != nil {
		return 0, err
	}
	if v == math.MaxUint64 {
		return 0, fmt.Errorf("%w: send sequence exhausted", ErrInvalid)
	}
	v++
	if err := t.setCounter(key, v); err != nil {
		return 0, err
	}
	return v, nil
}

// DeliveredSeq returns the highest sequence delivered from peer (0 if
// none). A corrupt value makes the transaction fail (see Tx).
func (t *Tx) DeliveredSeq(peer string) uint64 {
	_, v, err := t.counter(labelDelivered, peer)
	if err != nil {
		t.fail(err)
		return 0
	}
	return v
}

// SetDeliveredSeq records the highest sequence delivered from peer. Call it
// in the same transaction as the Append of that message.
func (t *Tx) SetDeliveredSeq(peer string, seq uint64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := validName("peer", peer); err != nil {
		return err
	}
	return t.setCounter(t.s.keys.name(labelDelivered, nil, peer), seq)
}
