package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"bazil.org/fuse"

	"github.com/messagefs/messagefs/node"
)

// Errors returned by Mount, wrapped with a detail that tells the user what
// to do.
var (
	// ErrStaleMount: the mount point belongs to a messagefs (or other FUSE
	// server) that died; `fusermount3 -u DIR` clears it.
	ErrStaleMount = errors.New("stale mount")
	// ErrAlreadyMounted: something is already mounted on the mount point.
	ErrAlreadyMounted = errors.New("already mounted")
	// ErrNoFUSE: /dev/fuse or the fusermount3 helper is missing.
	ErrNoFUSE = errors.New("FUSE is not available")
)

// fsError is an errno with the reason behind it, for bazil's debug log.
type fsError struct {
	errno fuse.Errno
	err   error
}

func (e *fsError) Error() string     { return e.err.Error() }
func (e *fsError) Unwrap() error     { return e.err }
func (e *fsError) Errno() fuse.Errno { return e.errno }

// errnoOf maps an engine error to the errno a file system call returns.
func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	switch {
	case errors.Is(err, node.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, node.ErrNotTrusted), errors.Is(err, node.ErrReadOnly):
		return syscall.EACCES
	case errors.Is(err, node.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, node.ErrExists):
		return syscall.EEXIST
	case errors.Is(err, node.ErrTooLarge):
		return syscall.EMSGSIZE
	case errors.Is(err, node.ErrClosed):
		return syscall.EIO
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR
	case errors.As(err, &errno):
		return errno // ENOSPC and friends pass through
	}
	return syscall.EIO
}

// fail logs why op on path failed and returns the errno for it. An
// ENOENT from a lookup is normal (shells probe names) and logged at debug
// level only.
func (f *fileSystem) fail(op, path string, err error) error {
	errno := errnoOf(err)
	level := slog.LevelWarn
	if errno == syscall.ENOENT && op == "lookup" {
		level = slog.LevelDebug
	}
	f.log.Log(context.Background(), level, "messagefs: "+op+" failed",
		"path", path, "errno", errnoName(errno), "err", err)
	return &fsError{errno: fuse.Errno(errno), err: fmt.Errorf("%s %s: %w", op, path, err)}
}

// refuse is fail for a reason found by the file system itself.
func (f *fileSystem) refuse(op, path string, errno syscall.Errno, why string) error {
	f.log.Warn("messagefs: "+op+" refused", "path", path, "errno", errnoName(errno), "why", why)
	return &fsError{errno: fuse.Errno(errno), err: fmt.Errorf("%s %s: %s", op, path, why)}
}

// errnoName names the errnos this package returns, for log lines.
func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.EACCES:
		return "EACCES"
	case syscall.EPERM:
		return "EPERM"
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.EEXIST:
		return "EEXIST"
	case syscall.EMSGSIZE:
		return "EMSGSIZE"
	case syscall.EINTR:
		return "EINTR"
	case syscall.EIO:
		return "EIO"
	case syscall.ENOSPC:
		return "ENOSPC"
	case syscall.EFBIG:
		return "EFBIG"
	case syscall.EBADF:
		return "EBADF"
	}
	return e.Error()
}
