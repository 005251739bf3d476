package chat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Errors of CheckMount, wrapped with what to do about them.
var (
	// ErrNotMounted: the directory is not a messagefs mount.
	ErrNotMounted = errors.New("nothing is mounted")
	// ErrStaleMount: the node that served the mount is gone.
	ErrStaleMount = errors.New("stale mount")
)

// fsType is the type of a messagefs mount in /proc/mounts.
const fsType = "fuse.messagefs"

// DefaultMount returns $HOME/messagefs, where messagefs mounts by default.
func DefaultMount() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the default mount: %w (use --mount DIR)", err)
	}
	return filepath.Join(home, "messagefs"), nil
}

// CheckMount reports whether dir is a messagefs mount: listed in
// /proc/mounts as fuse.messagefs, or serving a .events file. Its errors
// wrap ErrNotMounted or ErrStaleMount and say what to do.
func CheckMount(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("%w at %s: %w", ErrNotMounted, dir, err)
	}
	if data, err := os.ReadFile("/proc/mounts"); err == nil && mountType(data, abs) == fsType {
		return nil
	}
	fi, err := os.Stat(filepath.Join(abs, ".events"))
	switch {
	case err == nil && !fi.IsDir():
		return nil
	case errors.Is(err, syscall.ENOTCONN):
		return fmt.Errorf("%w at %s: the node that served it is gone; run `fusermount3 -u %s`, then start a node with `messagefs %s`",
			ErrStaleMount, dir, dir, dir)
	}
	return fmt.Errorf("%w at %s: start a node with `messagefs %s` (see README)", ErrNotMounted, dir, dir)
}

// mountType returns the file system type of the mount at dir according to
// the content of /proc/mounts, or "" when nothing is mounted there. The
// last matching line wins, as the last mount hides the earlier ones.
func mountType(procMounts []byte, dir string) string {
	typ := ""
	for line := range strings.SplitSeq(string(procMounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && unescapeMountPath(f[1]) == dir {
			typ = f[2]
		}
	}
	return typ
}

// unescapeMountPath decodes the octal escapes (\040 for a space, ...) of
// paths in /proc/mounts.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
