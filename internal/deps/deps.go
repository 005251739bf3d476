// Package deps pins the module's third-party dependencies in go.mod while the
// packages that use them are being written. Delete it once every dependency
// is imported by real code.
package deps

import (
	_ "bazil.org/fuse"
	_ "filippo.io/age"
	_ "github.com/charmbracelet/bubbles/textinput"
	_ "github.com/charmbracelet/bubbletea"
	_ "github.com/pebbe/zmq4"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/crypto/nacl/box"
	_ "pgregory.net/rapid"
)
