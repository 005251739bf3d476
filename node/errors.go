package node

import "errors"

// Errors the engine returns, wrapped with %w and a detail that says why.
// The fs package maps them to errno values; callers test them with errors.Is.
var (
	// ErrNotFound: no such peer, alias, group, pending key or message.
	ErrNotFound = errors.New("not found")
	// ErrNotTrusted: the peer's key is not in the keyring.
	ErrNotTrusted = errors.New("peer is not trusted")
	// ErrReadOnly: the object cannot be written (self.pub, pending keys).
	ErrReadOnly = errors.New("read-only")
	// ErrInvalid: malformed input (invalid UTF-8, bad key file, bad alias).
	ErrInvalid = errors.New("invalid input")
	// ErrExists: the alias, key or group name is already in use.
	ErrExists = errors.New("already exists")
	// ErrTooLarge: the message exceeds MaxMessageSize.
	ErrTooLarge = errors.New("message too large")
	// ErrClosed: the node is shutting down.
	ErrClosed = errors.New("node is closed")
)

// MaxMessageSize is the largest message text, in bytes, after the trailing
// newline has been dropped.
const MaxMessageSize = 64 << 10
