// Package store keeps everything the messagefs engine must not lose in one
// bbolt database file: the history of every conversation, the outbox of
// unacknowledged messages, the per-direction sequence counters and opaque
// secret blobs (group chain state and the like).
//
// # Encryption at rest
//
// A random 32-byte database key is stored in the "meta" bucket, encrypted
// with age to the node's own X25519 recipient; nothing else in the file can
// be read without the node's identity. Two keys are derived from it with
// HKDF-SHA256: a value key (XChaCha20-Poly1305) and a name key (HMAC-SHA256).
// Each conversation has its own random key, stored sealed under the value
// key. Every value is sealed with XChaCha20-Poly1305 and a random nonce, and
// its associated data names its bucket and key, so a value cannot be moved
// to another conversation, another index or another name without failing
// authentication.
//
// # Layout
//
// The file has six top-level buckets: meta (format version, the
// age-encrypted database key, a flag for an unfinished rewrite), conv (one
// sealed record per conversation: its key and its id), hist (every
// conversation's entries and message-id index, one flat keyspace prefixed
// by the conversation's hashed id), outbox, counter and secret. Bucket
// keys are structural constants, big-endian history indexes, or the
// HMAC-SHA256 under the name key of the engine's string, truncated to 128
// bits: conversation ids, peer keys, secret names and message ids never
// appear in clear.
//
// What a copy of the file still shows: the number of conversations and of
// entries in each, the number of outbox items, counters and secrets, the
// approximate size of every value, which entries belong to the same
// (hashed) conversation, that two snapshots hold the same conversation,
// and the age header of the database key (which does not name the
// recipient). Comparing snapshots shows what changed between them.
//
// # Deletion
//
// [Tx.DeleteConversation] removes the conversation's key, entries and id
// index. bbolt is copy-on-write and never clears freed pages, so after the
// transaction commits the store rewrites the whole file (bbolt's Compact,
// then an atomic rename) before the deleting [Store.Update] returns: the
// state directory then holds neither the key nor the ciphertexts. If that
// rewrite fails it is retried at the next [Open]. Values replaced or deleted
// by other operations (outbox items, secrets, counters) may survive in freed
// pages, sealed under the database key, until bbolt reuses those pages or the
// next rewrite; [Store.Compact] forces one.
//
// # Transactions and durability
//
// [Store.Update] returns only after its transaction has been committed and
// synced to disk. Concurrent callers share one bbolt transaction and one
// sync (a group commit); see [Store.Update] for what that asks of the
// function it runs.
package store
