package store

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// classify makes sure that running out of space is recognizable with
// errors.Is(err, syscall.ENOSPC) (or EDQUOT), even where bbolt formats the
// system error into a string instead of wrapping it (file growth).
func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		if errors.Is(err, errno) {
			return err
		}
		if strings.Contains(err.Error(), errno.Error()) {
			return fmt.Errorf("%w (%v)", errno, err)
		}
	}
	return err
}
