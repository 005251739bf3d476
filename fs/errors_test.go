package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"

	"bazil.org/fuse"

	"github.com/messagefs/messagefs/node"
)

func TestErrno(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want syscall.Errno
	}{
		{node.ErrNotFound, syscall.ENOENT},
		{fmt.Errorf("alias %q: %w", "x", node.ErrNotFound), syscall.ENOENT},
		{node.ErrNotTrusted, syscall.EACCES},
		{node.ErrReadOnly, syscall.EACCES},
		{fmt.Errorf("bad key: %w", node.ErrInvalid), syscall.EINVAL},
		{node.ErrExists, syscall.EEXIST},
		{node.ErrTooLarge, syscall.EMSGSIZE},
		{node.ErrClosed, syscall.EIO},
		{fmt.Errorf("commit: %w", syscall.ENOSPC), syscall.ENOSPC},
		{fmt.Errorf("send: %w", context.Canceled), syscall.EINTR},
		{errors.New("something else"), syscall.EIO},
	} {
		if got := errnoOf(tc.err); got != tc.want {
			t.Errorf("errnoOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}

	f := newFileSystem(newFakeBackend(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	err := f.fail("write", "alice", fmt.Errorf("x: %w", node.ErrTooLarge))
	if fuse.ToErrno(err) != fuse.Errno(syscall.EMSGSIZE) || !errors.Is(err, node.ErrTooLarge) {
		t.Errorf("fail() = %v (errno %v)", err, fuse.ToErrno(err))
	}
}

func TestNeedsCheck(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    bool
	}{
		{"", false},
		{"age1abc", false},
		{"age1abc\n", true},
		{"# comment\n", false},
		{"# comment\n\n   \nage1", false},
		{"# comment\nage1abc\n", true},
		{"AGE-SECRET-KEY-1", true},
		{"# AGE-SECRET-KEY-1 in a comment", true},
		{"age-secret-key-1", true},
	} {
		if got := needsCheck([]byte(tc.content)); got != tc.want {
			t.Errorf("needsCheck(%q) = %v, want %v", tc.content, got, tc.want)
		}
	}
}

func TestValidAlias(t *testing.T) {
	for _, tc := range []struct {
		alias string
		want  bool
	}{
		{"alice", true}, {"a", true}, {"bob.2_x-y", true}, {"0day", true},
		{"", false}, {"Alice", false}, {".x", false}, {"-x", false}, {"a b", false},
		{"self", false}, {"keys", false}, {"a/b", false},
		{"abcdefghijklmnopqrstuvwxyz012345", true}, {"abcdefghijklmnopqrstuvwxyz0123456", false},
	} {
		if got := validAlias(tc.alias); got != tc.want {
			t.Errorf("validAlias(%q) = %v, want %v", tc.alias, got, tc.want)
		}
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescapeMountinfo(`/tmp/a\040b\134c`); got != `/tmp/a b\c` {
		t.Errorf("got %q", got)
	}
}
