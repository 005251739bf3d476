package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"pgregory.net/rapid"
)

func genTime() *rapid.Generator[time.Time] {
	return rapid.Custom(func(t *rapid.T) time.Time {
		if rapid.Bool().Draw(t, "zero") {
			return time.Time{}
		}
		sec := rapid.Int64Range(-1<<40, 1<<40).Draw(t, "sec")
		nsec := rapid.Int64Range(0, 999_999_999).Draw(t, "nsec")
		return time.Unix(sec, nsec)
	})
}

func genID() *rapid.Generator[[16]byte] {
	return rapid.Custom(func(t *rapid.T) (id [16]byte) {
		copy(id[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "id"))
		return id
	})
}

func genEntry() *rapid.Generator[Entry] {
	return rapid.Custom(func(t *rapid.T) Entry {
		return Entry{
			Time: genTime().Draw(t, "time"),
			From: rapid.StringN(0, 80, -1).Draw(t, "from"),
			Text: rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "text"),
			ID:   genID().Draw(t, "id"),
		}
	})
}

func genOutbox() *rapid.Generator[OutboxItem] {
	return rapid.Custom(func(t *rapid.T) OutboxItem {
		return OutboxItem{
			ID:       genID().Draw(t, "id"),
			To:       rapid.StringN(0, 80, -1).Draw(t, "to"),
			Conv:     rapid.StringN(0, 80, -1).Draw(t, "conv"),
			Seq:      rapid.Uint64().Draw(t, "seq"),
			Payload:  rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "payload"),
			Created:  genTime().Draw(t, "created"),
			Attempts: rapid.IntRange(0, 1<<31).Draw(t, "attempts"),
			NextTry:  genTime().Draw(t, "next"),
			Kind:     rapid.Uint8().Draw(t, "kind"),
		}
	})
}

func TestEntryCodecProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := genEntry().Draw(t, "entry")
		b, err := encodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Time.Equal(e.Time) || got.From != e.From || !bytes.Equal(got.Text, e.Text) || got.ID != e.ID {
			t.Fatalf("round trip: %+v -> %+v", e, got)
		}
		if got.Text == nil {
			t.Fatal("decoded text is nil")
		}
		// Every strict prefix fails to decode, or decodes to something else.
		cut := rapid.IntRange(0, len(b)-1).Draw(t, "cut")
		if short, err := decodeEntry(b[:cut]); err == nil && len(short.Text) == len(e.Text) {
			t.Fatalf("truncated encoding decoded to the same entry")
		} else if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error does not wrap ErrCorrupt: %v", err)
		}
	})
}

func TestOutboxCodecProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		it := genOutbox().Draw(t, "item")
		b, err := encodeOutbox(it)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeOutbox(b)
		if err != nil {
			t.Fatal(err)
		}
		if !outboxEqual(got, it) {
			t.Fatalf("round trip: %+v -> %+v", it, got)
		}
	})
}

func TestSecretCodecProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		name := rapid.StringN(0, 100, -1).Draw(t, "name")
		value := rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "value")
		n, v, err := decodeSecret(encodeSecret(name, value))
		if err != nil || n != name || !bytes.Equal(v, value) {
			t.Fatalf("round trip (%q, %x) -> (%q, %x, %v)", name, value, n, v, err)
		}
	})
}

// TestSealProperty checks that a sealed value opens only with the same
// key and the same associated data, and that any change is detected.
func TestSealProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.SliceOfN(rapid.Byte(), keySize, keySize).Draw(t, "key")
		a, err := chacha20poly1305.NewX(key)
		if err != nil {
			t.Fatal(err)
		}
		ad := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "ad")
		plain := rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "plain")
		sealed := seal(a, ad, plain)
		if len(sealed) != len(plain)+sealedExtra {
			t.Fatalf("sealed size %d for %d bytes", len(sealed), len(plain))
		}
		got, err := open(a, ad, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("open: %x, %v", got, err)
		}
		if again := seal(a, ad, plain); bytes.Equal(again, sealed) {
			t.Fatal("two seals of the same value are equal: nonces not random")
		}
		switch rapid.IntRange(0, 2).Draw(t, "tamper") {
		case 0: // flip a bit of the value
			i := rapid.IntRange(0, len(sealed)-1).Draw(t, "byte")
			sealed[i] ^= 1 << rapid.IntRange(0, 7).Draw(t, "bit")
		case 1: // other associated data
			other := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "other ad")
			if bytes.Equal(other, ad) {
				other = append(other, 0)
			}
			ad = other
		case 2: // truncate
			sealed = sealed[:rapid.IntRange(0, len(sealed)-1).Draw(t, "len")]
		}
		if _, err := open(a, ad, sealed); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("tampered value: %v, want ErrCorrupt", err)
		}
	})
}

func TestNameHashSeparatesLabels(t *testing.T) {
	k, err := newRootKeys(bytes.Repeat([]byte{1}, keySize))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newRootKeys(bytes.Repeat([]byte{2}, keySize))
	seen := map[string]string{}
	for _, c := range []struct{ label, prefix, s string }{
		{labelConv, "", "p:aa"}, {labelSend, "", "p:aa"}, {labelDelivered, "", "p:aa"},
		{labelSecret, "", "p:aa"}, {labelConv, "", "p:ab"}, {labelMsgID, "p", ":aa"}, {labelMsgID, "p:", "aa"},
	} {
		h := string(k.name(c.label, []byte(c.prefix), c.s))
		if len(h) != nameSize {
			t.Fatalf("name of %d bytes", len(h))
		}
		if prev, dup := seen[h]; dup && c.label != labelMsgID {
			t.Errorf("%v and %s hash alike", c, prev)
		}
		seen[h] = c.label + "/" + c.s
		if string(other.name(c.label, []byte(c.prefix), c.s)) == h {
			t.Errorf("name of %v does not depend on the key", c)
		}
	}
}
