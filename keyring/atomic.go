package keyring

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// tempPrefix starts the names of temporary files. No alias starts with '.',
// so a temporary file is never taken for a key file.
const tempPrefix = ".tmp-"

// isTemp reports whether name is one of our temporary files.
func isTemp(name string) bool { return strings.HasPrefix(name, tempPrefix) }

// errDirSync is wrapped by the errors of syncDir: the change is made but may
// not survive a crash.
var errDirSync = errors.New("syncing the directory")

// writeFileAtomic replaces dir/name with data: it writes a temporary file in
// dir, syncs it, renames it over name and syncs dir. After a crash, name
// holds either its old content or data, never a mix. An error matching
// errDirSync means the file is replaced but the rename may not be durable.
func writeFileAtomic(dir, name string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(dir, tempPrefix+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// renameNoReplace renames oldpath to newpath, failing with an error matching
// os.ErrExist if newpath exists. Where the file system lacks
// RENAME_NOREPLACE it links and unlinks, which a crash can leave as two
// names for one file (Open then keeps one and reports the other).
func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	if err := os.Link(oldpath, newpath); err != nil {
		return err
	}
	if err := os.Remove(oldpath); err != nil {
		return fmt.Errorf("removing %s after linking it to %s: %w", oldpath, newpath, err)
	}
	return nil
}

// syncDir makes the entries of dir durable. Its errors match errDirSync.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%w %s: %w", errDirSync, dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("%w %s: %w", errDirSync, dir, err)
	}
	return nil
}
