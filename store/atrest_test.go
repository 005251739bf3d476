package store

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fileContains reports whether the raw file holds b.
func fileContains(t testing.TB, path string, b []byte) bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(raw, b)
}

func TestEncryptionAtRest(t *testing.T) {
	path := dbPath(t)
	id := newIdentity(t)
	s := mustOpen(t, path, id)
	peer := "p:" + hex.EncodeToString(bytes.Repeat([]byte{0x5c}, 32))
	group := "g:" + hex.EncodeToString(bytes.Repeat([]byte{0x7e}, 16))
	peerKey := hex.EncodeToString(bytes.Repeat([]byte{0x3d}, 32))
	plain := map[string][]byte{
		"text":           []byte("meet me at the old mill at midnight"),
		"group text":     []byte("team secret: ship friday"),
		"sender":         []byte("sender-key-hex-0123456789"),
		"peer conv id":   []byte(peer),
		"group conv id":  []byte(group),
		"peer key":       []byte(peerKey),
		"outbox payload": []byte("outbox payload: hello bob, in clear"),
		"secret name":    []byte("group/7e7e/chain/key"),
		"secret value":   []byte("CHAIN-KEY-0123456789abcdef"),
		"message id":     bytes.Repeat([]byte{0xa5}, 16),
	}
	mustUpdate(t, s, func(tx *Tx) error {
		var mid [16]byte
		copy(mid[:], plain["message id"])
		if _, err := tx.Append(peer, Entry{Time: time.Now(), From: string(plain["sender"]), Text: plain["text"], ID: mid}); err != nil {
			return err
		}
		if _, err := tx.Append(group, Entry{From: "me", Text: plain["group text"], ID: mid}); err != nil {
			return err
		}
		seq, err := tx.NextSendSeq(peerKey)
		if err != nil {
			return err
		}
		if err := tx.SetDeliveredSeq(peerKey, 77); err != nil {
			return err
		}
		if err := tx.PutOutbox(OutboxItem{ID: mid, To: peerKey, Conv: peer, Seq: seq, Payload: plain["outbox payload"]}); err != nil {
			return err
		}
		return tx.PutSecret(string(plain["secret name"]), plain["secret value"])
	})
	// Keys the file must not contain either.
	var dbKey []byte
	rawUpdate(t, s, func(tx *bolt.Tx) error {
		var err error
		dbKey, err = unwrapDBKey(tx.Bucket(bucketMeta).Get(metaDBKey), id)
		if err != nil {
			return err
		}
		plain["conversation key"] = convKey(t, s, tx, peer)
		return nil
	})
	plain["database key"] = dbKey
	for _, info := range []string{"messagefs store v1 values", "messagefs store v1 names"} {
		k, err := hkdf.Key(sha256.New, dbKey, nil, info, keySize)
		if err != nil {
			t.Fatal(err)
		}
		plain["derived key "+info] = k
	}
	plain["identity"] = []byte(id.String())
	plain["recipient"] = []byte(id.Recipient().String())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("db file: %v", err)
	}
	for name, b := range plain {
		if len(b) < 8 {
			t.Fatalf("%s: needle too short to mean anything", name)
		}
		if fileContains(t, path, b) {
			t.Errorf("raw database file contains the %s", name)
		}
	}
	// The needles do work: the file holds what it should.
	if !fileContains(t, path, []byte("age-encryption.org/v1")) {
		t.Error("age header of the database key not found: test is not reading the right file")
	}
}
