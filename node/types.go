package node

import "time"

// PendingKey is a key announced in a ZRE HELLO by a node that is not
// trusted. It is named by its fingerprint, never by anything the remote
// chose.
type PendingKey struct {
	Fingerprint string    // crypto.PublicKey.Fingerprint()
	Recipient   string    // "age1..."
	Seen        time.Time // when it was last announced
}

// Change tells the file system what to invalidate in the kernel's caches.
// Exactly one of Where and Dir is meaningful: Where names a log ("alice",
// ".all", "team/.all") whose content grew or was deleted; when Where is
// empty, Dir names a directory ("" root, "keys", "keys/pending", "team")
// whose entries changed.
type Change struct {
	Where string
	Dir   string
}
