package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// MaxValueSize is the largest text, payload or secret value the store
// accepts (1 MiB). Messages are at most 64 KiB; the margin is for envelopes.
const MaxValueSize = 1 << 20

// maxString is the largest peer, sender or name string the store accepts.
const maxString = math.MaxUint16

// codecVersion is the first byte of every encoded entry and outbox item.
const codecVersion = 1

// Entry is one message in a conversation's history.
type Entry struct {
	// Time is when the message was appended (or sent); it comes back in UTC.
	Time time.Time
	// From is the sender, opaque to the store (a key in hex, or "me").
	From string
	// Text is the message body.
	Text []byte
	// ID is the message id, used for duplicate detection (Tx.HasID).
	ID [16]byte
}

// OutboxItem is a message waiting for an acknowledgement.
type OutboxItem struct {
	// ID is the message id; it identifies the item.
	ID [16]byte
	// To is the recipient (a peer key in hex), opaque to the store.
	To string
	// Conv is the conversation the message belongs to.
	Conv string
	// Seq is the per-direction sequence number the message was sent with.
	Seq uint64
	// Payload is what to send again; it is encrypted at rest like
	// everything else.
	Payload []byte
	// Created is when the item was queued; it comes back in UTC.
	Created time.Time
	// Attempts counts delivery attempts; it must not be negative.
	Attempts int
	// NextTry is when to try again; it comes back in UTC.
	NextTry time.Time
	// Kind is the engine's message kind, opaque to the store.
	Kind uint8
}

// entryFixed is the size of an encoded entry without From and Text:
// version, seconds, nanoseconds, id, length of From.
const entryFixed = 1 + 8 + 4 + 16 + 2

// encodeEntry encodes e:
//
//	version(1) | unix seconds(8) | nanoseconds(4) | id(16) | len(From)(2) | From | Text
//
// all integers big-endian. Text is the rest of the value.
func encodeEntry(e Entry) ([]byte, error) {
	if len(e.From) > maxString {
		return nil, fmt.Errorf("%w: sender of %d bytes", ErrInvalid, len(e.From))
	}
	if len(e.Text) > MaxValueSize {
		return nil, fmt.Errorf("%w: text of %d bytes (max %d)", ErrInvalid, len(e.Text), MaxValueSize)
	}
	b := make([]byte, 0, entryFixed+len(e.From)+len(e.Text))
	b = append(b, codecVersion)
	b = appendTime(b, e.Time)
	b = append(b, e.ID[:]...)
	b = appendString(b, e.From)
	b = append(b, e.Text...)
	return b, nil
}

// decodeEntry is the inverse of encodeEntry. It accepts only canonical
// encodings and never panics; errors wrap ErrCorrupt.
func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != codecVersion {
		return Entry{}, fmt.Errorf("%w: unknown entry version %d", ErrCorrupt, v)
	}
	e.Time = d.time()
	d.copy(e.ID[:])
	e.From = d.string()
	e.Text = d.rest()
	if d.err != nil {
		return Entry{}, fmt.Errorf("%w: entry: %v", ErrCorrupt, d.err)
	}
	return e, nil
}

// outboxFixed is the size of an encoded outbox item without strings and
// payload.
const outboxFixed = 1 + 16 + 1 + 8 + 12 + 12 + 4 + 2 + 2

// encodeOutbox encodes an outbox item:
//
//	version(1) | id(16) | kind(1) | seq(8) | created(12) | next try(12) |
//	attempts(4) | len(To)(2) | To | len(Conv)(2) | Conv | Payload
//
// where a time is unix seconds(8) | nanoseconds(4), all big-endian.
func encodeOutbox(it OutboxItem) ([]byte, error) {
	switch {
	case it.Attempts < 0 || int64(it.Attempts) > math.MaxUint32:
		return nil, fmt.Errorf("%w: attempts %d", ErrInvalid, it.Attempts)
	case len(it.To) > maxString || len(it.Conv) > maxString:
		return nil, fmt.Errorf("%w: outbox recipient or conversation too long", ErrInvalid)
	case len(it.Payload) > MaxValueSize:
		return nil, fmt.Errorf("%w: payload of %d bytes (max %d)", ErrInvalid, len(it.Payload), MaxValueSize)
	}
	b := make([]byte, 0, outboxFixed+len(it.To)+len(it.Conv)+len(it.Payload))
	b = append(b, codecVersion)
	b = append(b, it.ID[:]...)
	b = append(b, it.Kind)
	b = binary.BigEndian.AppendUint64(b, it.Seq)
	b = appendTime(b, it.Created)
	b = appendTime(b, it.NextTry)
	b = binary.BigEndian.AppendUint32(b, uint32(it.Attempts))
	b = appendString(b, it.To)
	b = appendString(b, it.Conv)
	b = append(b, it.Payload...)
	return b, nil
}

// decodeOutbox is the inverse of encodeOutbox. It accepts only canonical
// encodings and never panics; errors wrap ErrCorrupt.
func decodeOutbox(b []byte) (OutboxItem, error) {
	var it OutboxItem
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != codecVersion {
		return OutboxItem{}, fmt.Errorf("%w: unknown outbox item version %d", ErrCorrupt, v)
	}
	d.copy(it.ID[:])
	it.Kind = d.byte()
	it.Seq = d.uint64()
	it.Created = d.time()
	it.NextTry = d.time()
	attempts := d.uint32()
	if int64(attempts) > math.MaxInt {
		d.fail("attempts %d out of range", attempts)
	}
	it.Attempts = int(attempts)
	it.To = d.string()
	it.Conv = d.string()
	it.Payload = d.rest()
	if d.err != nil {
		return OutboxItem{}, fmt.Errorf("%w: outbox item: %v", ErrCorrupt, d.err)
	}
	return it, nil
}

// encodeSecret encodes a secret record: len(name)(2) | name | value. The
// name is inside the sealed value so Secrets can list names that are
// stored hashed.
func encodeSecret(name string, value []byte) []byte {
	b := make([]byte, 0, 2+len(name)+len(value))
	b = appendString(b, name)
	return append(b, value...)
}

// decodeSecret is the inverse of encodeSecret.
func decodeSecret(b []byte) (name string, value []byte, err error) {
	d := decoder{b: b}
	name = d.string()
	value = d.rest()
	if d.err != nil {
		return "", nil, fmt.Errorf("%w: secret: %v", ErrCorrupt, d.err)
	}
	return name, value, nil
}

// decodeCounter decodes an 8-byte big-endian counter.
func decodeCounter(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: counter of %d bytes", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// decoder reads fixed-size fields; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.fail("truncated: need %d bytes, have %d", n, len(d.b))
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) byte() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) uint32() uint32 {
	if p := d.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) uint64() uint64 {
	if p := d.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (d *decoder) copy(dst []byte) {
	copy(dst, d.take(len(dst)))
}

func (d *decoder) time() time.Time {
	sec := int64(d.uint64())
	nsec := d.uint32()
	if d.err != nil {
		return time.Time{}
	}
	if nsec >= 1e9 {
		d.fail("nanoseconds %d out of range", nsec)
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) string() string {
	var n uint16
	if p := d.take(2); p != nil {
		n = binary.BigEndian.Uint16(p)
	}
	return string(d.take(int(n)))
}

// rest returns the remaining bytes, not copied: decoders run on freshly
// decrypted buffers that the caller owns. It is never nil on success.
func (d *decoder) rest() []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) > MaxValueSize {
		d.fail("value of %d bytes (max %d)", len(d.b), MaxValueSize)
		return nil
	}
	p := d.b[:len(d.b):len(d.b)]
	if p == nil {
		p = []byte{}
	}
	d.b = nil
	return p
}
