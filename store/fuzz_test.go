package store

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// FuzzDecodeEntry checks that decodeEntry never panics and accepts only
// canonical encodings: whatever decodes re-encodes to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	b, _ := encodeEntry(Entry{From: "me", Text: []byte("hello"), ID: mid(1)})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry(data)
		if err != nil {
			return
		}
		again, err := encodeEntry(e)
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("not canonical:\n in  %x\n out %x", data, again)
		}
	})
}

// FuzzDecodeOutbox is FuzzDecodeEntry for outbox items.
func FuzzDecodeOutbox(f *testing.F) {
	b, _ := encodeOutbox(OutboxItem{ID: mid(1), To: "aa", Conv: "p:aa", Seq: 3, Payload: []byte("x"), Attempts: 2})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := decodeOutbox(data)
		if err != nil {
			return
		}
		again, err := encodeOutbox(it)
		if err != nil {
			t.Fatalf("decoded item does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("not canonical:\n in  %x\n out %x", data, again)
		}
	})
}

// FuzzDecodeSecret is FuzzDecodeEntry for secret records.
func FuzzDecodeSecret(f *testing.F) {
	f.Add(encodeSecret("group/01", []byte("value")))
	f.Fuzz(func(t *testing.T, data []byte) {
		name, value, err := decodeSecret(data)
		if err != nil {
			return
		}
		if again := encodeSecret(name, value); !bytes.Equal(again, data) {
			t.Fatalf("not canonical:\n in  %x\n out %x", data, again)
		}
	})
}

// FuzzOpenSealed feeds arbitrary stored values to open (with a fixed key)
// and to the decoders behind it: no panic, and nothing forged opens.
func FuzzOpenSealed(f *testing.F) {
	a, err := chacha20poly1305.NewX(bytes.Repeat([]byte{7}, keySize))
	if err != nil {
		f.Fatal(err)
	}
	ad := assoc(labelEntry, bytes.Repeat([]byte{1}, nameSize), u64(1))
	plain, _ := encodeEntry(Entry{Text: []byte("seed")})
	f.Add(seal(a, ad, plain))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := open(a, ad, data)
		if err != nil {
			return
		}
		// Only values sealed by the seed can open: they decode.
		if _, err := decodeEntry(p); err != nil {
			t.Fatalf("opened value does not decode: %v", err)
		}
	})
}
