package fs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"bazil.org/fuse"
)

// preflight finds the reasons a mount would fail obscurely and explains
// them.
func preflight(dir string) error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("fs: %w: /dev/fuse: %w (load the fuse module with `modprobe fuse`; in a container, pass --device /dev/fuse)", ErrNoFUSE, err)
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return fmt.Errorf("fs: %w: fusermount3 is not in PATH (install the fuse3 package): %w", ErrNoFUSE, err)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return fmt.Errorf("fs: %w: %s: transport endpoint is not connected (the messagefs that served it is gone); run `fusermount3 -u %s` and mount again", ErrStaleMount, dir, dir)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("fs: mount point %s does not exist; create it with mkdir", dir)
	case err != nil:
		return fmt.Errorf("fs: mount point: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("fs: mount point %s is not a directory", dir)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("fs: mount point: %w", err)
	}
	if fstype, ok := mountedAt(real); ok {
		return fmt.Errorf("fs: %w: %s is already a mount point (%s); is another messagefs running? `fusermount3 -u %s` unmounts it", ErrAlreadyMounted, dir, fstype, dir)
	}
	return nil
}

// explainMountError adds advice to fuse.Mount's errors.
func explainMountError(dir string, err error) error {
	var notExist *fuse.MountpointDoesNotExistError
	if errors.As(err, &notExist) {
		return fmt.Errorf("fs: mount point %s does not exist: %w", dir, err)
	}
	return fmt.Errorf("fs: mounting %s with fusermount3 failed (see its message above; a non-root user needs /dev/fuse access and fusermount3 installed setuid): %w", dir, err)
}

// mountedAt reports whether dir is a mount point, and of which type,
// according to /proc/self/mountinfo.
func mountedAt(dir string) (string, bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source super
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || unescapeMountinfo(fields[4]) != dir {
			continue
		}
		fstype := "unknown"
		for i, fl := range fields {
			if fl == "-" && i+1 < len(fields) {
				fstype = fields[i+1]
			}
		}
		return fstype, true
	}
	return "", false
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
