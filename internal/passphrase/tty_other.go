//go:build !linux

package passphrase

import (
	"errors"
	"os"
)

func IsTerminal(f *os.File) bool { return false }

func noEcho(tty *os.File) (func(), error) {
	return nil, errors.New("reading a passphrase without echo is only implemented on Linux")
}
