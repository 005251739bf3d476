package keyring

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/messagefs/messagefs/crypto"
)

// maxIdentityFileSize bounds what LoadIdentity reads; an identity file,
// even passphrase protected, is well under 1 KiB.
const maxIdentityFileSize = 64 << 10

// DefaultIdentityPath returns where messagefs keeps the identity by default:
// $XDG_CONFIG_HOME/messagefs/identity, or ~/.config/messagefs/identity when
// XDG_CONFIG_HOME is unset or not an absolute path.
func DefaultIdentityPath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the default identity path: %w (give a path explicitly)", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "messagefs", "identity"), nil
}

// LoadIdentity reads the identity file at path (see
// crypto.ParseIdentityFile; passphrase is called only if the file is
// passphrase protected). It refuses, with an error matching ErrPermissions
// that says how to fix it, a file that its group or other users can read or
// write.
func LoadIdentity(path string, passphrase func() ([]byte, error)) (crypto.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return crypto.PrivateKey{}, fmt.Errorf("no identity at %s: create one with `mfs-keygen -o %s`, or give the path of yours: %w", path, path, err)
		}
		return crypto.PrivateKey{}, fmt.Errorf("opening the identity: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return crypto.PrivateKey{}, fmt.Errorf("opening the identity: %w", err)
	}
	if !info.Mode().IsRegular() {
		return crypto.PrivateKey{}, fmt.Errorf("identity %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o066 != 0 {
		return crypto.PrivateKey{}, errorf(ErrPermissions, "identity file %s is accessible by other users (mode %04o), so its secret may be known: run `chmod 600 %s` (and consider making a new identity if others could really read it)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIdentityFileSize+1))
	if err != nil {
		return crypto.PrivateKey{}, fmt.Errorf("reading the identity %s: %w", path, err)
	}
	k, err := crypto.ParseIdentityFile(data, passphrase)
	if err != nil {
		return crypto.PrivateKey{}, fmt.Errorf("identity %s: %w", path, err)
	}
	return k, nil
}

// WriteIdentity creates the identity file path with content data, mode
// 0600, creating missing parent directories with mode 0700, and syncs it. It
// never replaces a file: if path exists it returns an error matching
// ErrExists and os.ErrExist.
func WriteIdentity(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the directory of the identity: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return errorf(ErrExists, "%s already exists and an identity is never overwritten: move it away first, or choose another path: %w", path, err)
		}
		return fmt.Errorf("creating the identity: %w", err)
	}
	defer func() {
		if err != nil && !errors.Is(err, errDirSync) {
			f.Close()
			os.Remove(path)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing the identity: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing the identity: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the identity: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("writing the identity: %w", err)
	}
	return nil
}
