package keyring

import (
	"errors"
	"fmt"
)

// Sentinel errors. The errors this package returns match them with
// errors.Is, and their messages speak to the user without repeating the
// sentinel's text.
var (
	// ErrInvalidAlias reports a name ValidAlias refuses.
	ErrInvalidAlias = errors.New("invalid alias")
	// ErrExists reports an alias already used by another key, or a key
	// already trusted under another alias (see ConflictError), or an
	// identity file that already exists.
	ErrExists = errors.New("already exists")
	// ErrNotFound reports an alias that no trusted key has.
	ErrNotFound = errors.New("no such alias")
	// ErrBadKey reports a public key file that does not hold exactly one
	// valid age recipient.
	ErrBadKey = errors.New("not a valid public key file")
	// ErrSecretKey reports a secret identity where a public key was
	// expected. Its message tells the user what to share instead.
	ErrSecretKey = errors.New("this is a secret identity, not a public key: run `mfs-keygen -y FILE` and share its output instead")
	// ErrPermissions reports an identity file that other users can read or
	// write.
	ErrPermissions = errors.New("identity file is accessible by other users")
)

// kindError is an error that prints as err and matches both kind and err
// (and what err wraps) with errors.Is.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// errorf returns an error that prints as the formatted message and matches
// kind, and any %w operand, with errors.Is.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}
