package fs

import (
	"context"
	"time"

	"github.com/messagefs/messagefs/node"
)

// Backend is what the file system needs from the messaging engine. The
// engine (*node.Node) implements it; the file system knows files, not
// protocols or keys.
//
// A "where" names a log by its path relative to the mount: "alice" (the
// conversation with trusted peer alice), ".all" (the everyone group) or
// "team/.all" (group team). Errors wrap the sentinel errors of package node
// (node.ErrNotFound, node.ErrInvalid, ...), which the file system maps to
// errno values.
type Backend interface {
	// SelfRecipient returns the node's own public key, "age1...".
	SelfRecipient() string

	// Aliases returns the aliases of trusted peers, sorted. Each has a
	// conversation file in the root and a NAME.pub in keys/.
	Aliases() []string
	// TrustedKey returns the recipient ("age1...") trusted under alias and
	// when it was added.
	TrustedKey(alias string) (recipient string, added time.Time, err error)
	// TrustKeyFile trusts the key in a key file's content (an age1... line
	// with optional # comment lines) under alias. It returns an error
	// wrapping node.ErrInvalid for a bad alias or key (including secret
	// keys) and node.ErrExists when the alias names another key or the key
	// is trusted under another alias.
	TrustKeyFile(alias string, content []byte) error
	// CheckKeyFile returns the error TrustKeyFile(alias, content) would
	// return now, without trusting anything. The file system calls it on
	// each write(2) to a key file, so that a bad key fails the write
	// itself (shells ignore close errors), and calls TrustKeyFile when the
	// file is closed.
	CheckKeyFile(alias string, content []byte) error
	// Revoke removes the trust in alias; its history is kept.
	Revoke(alias string) error
	// RenameAlias renames a trusted alias; the history follows.
	RenameAlias(oldAlias, newAlias string) error

	// Pending returns the keys announced by untrusted nodes, by fingerprint.
	Pending() []node.PendingKey
	// TrustPending trusts the pending key with fingerprint fpr as alias.
	TrustPending(fpr, alias string) error

	// Groups returns the names of the groups this node is a member of.
	Groups() []string
	// GroupMembers returns the aliases of a group's members (not self).
	GroupMembers(group string) ([]string, error)
	// CreateGroup creates a new group with this node as its only member.
	CreateGroup(group string) error
	// LeaveGroup leaves a group (announced to its members) and removes it.
	LeaveGroup(group string) error
	// AddMember adds trusted peer alias to group.
	AddMember(group, alias string) error
	// RemoveMember removes alias from group.
	RemoveMember(group, alias string) error

	// LogStat returns the size in bytes of the rendered log at where and
	// the time of its last message (or of its creation).
	LogStat(where string) (size int64, mtime time.Time, err error)
	// ReadLog reads the rendered log at where, like io.ReaderAt. The log
	// is append-only: bytes once returned never change.
	ReadLog(where string, p []byte, off int64) (int, error)
	// Send sends text (one write(2), trailing newline already kept or
	// dropped by the caller: the backend drops one) to where. It returns
	// once the message is durable in the store. node.ErrInvalid for
	// invalid UTF-8, node.ErrTooLarge above node.MaxMessageSize.
	Send(ctx context.Context, where string, text []byte) error
	// DeleteHistory destroys the history at where (cryptographically).
	DeleteHistory(where string) error

	// PeersText renders .peers; OutboxText renders .outbox.
	PeersText() []byte
	OutboxText() []byte

	// Subscribe opens a live event stream (one per open of .events).
	Subscribe() *node.Subscription
	// OnChange registers f, called after a log's content or a directory's
	// listing changes. f is called from a goroutine that holds no engine
	// lock and may block briefly; Change.Where is a log name as above, or
	// Change.Dir is the directory ("" for root, "keys", "keys/pending",
	// or a group name) whose entries changed.
	OnChange(f func(node.Change))
}
