//go:build !linux

package main

import (
	"errors"
	"os"
)

func isTerminal(f *os.File) bool { return false }

func noEcho(tty *os.File) (func(), error) {
	return nil, errors.New("reading a passphrase without echo is only implemented on Linux")
}
