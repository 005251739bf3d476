package store

import "errors"

var (
	// ErrWrongIdentity means the database was created for another identity:
	// its database key cannot be decrypted with the one given to Open.
	ErrWrongIdentity = errors.New("store: database belongs to a different identity")

	// ErrCorrupt means a stored value failed authentication or could not be
	// decoded. It is never caused by a wrong identity (see ErrWrongIdentity).
	ErrCorrupt = errors.New("store: corrupt value")

	// ErrClosed is returned by every operation on a closed Store.
	ErrClosed = errors.New("store: closed")

	// ErrLocked means another process holds the database file open.
	ErrLocked = errors.New("store: database is locked by another process")

	// ErrNotFound is returned when an outbox item to update or delete does
	// not exist.
	ErrNotFound = errors.New("store: not found")

	// ErrExists is returned when adding an outbox item whose id is already
	// queued, or a history entry whose id is already in the conversation.
	ErrExists = errors.New("store: already exists")

	// ErrInvalid reports an argument the store refuses: an empty name, a
	// value over MaxValueSize, a negative attempt count.
	ErrInvalid = errors.New("store: invalid argument")

	// ErrReadOnly is returned by writing methods called in a View.
	ErrReadOnly = errors.New("store: write in a read-only transaction")
)
