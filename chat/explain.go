package chat

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// The file system answers with errnos; these functions turn them into
// sentences that say what happened and what to do, for the status line.

// errnoOf returns the errno inside err, if any.
func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

// reason is the short cause of err, without the path that os errors
// repeat.
func reason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err.Error()
}

// explainCommon covers the errnos that mean the same for every operation.
func explainCommon(err error) (string, bool) {
	switch errnoOf(err) {
	case syscall.ENOTCONN:
		return "the node serving the mount is gone: restart messagefs (after `fusermount3 -u MOUNT`)", true
	case syscall.ENOSPC:
		return "the node's disk is full: nothing was stored", true
	case syscall.EIO:
		return "the node failed to store or read it (see the node's log)", true
	}
	if errors.Is(err, io.ErrShortWrite) {
		return "the file system took only part of the message (see the node's log)", true
	}
	return "", false
}

// label names a log for people: "alice", "team", "everyone".
func label(where string) string {
	if where == allLog {
		return "everyone"
	}
	if g, ok := strings.CutSuffix(where, "/"+allLog); ok {
		return g
	}
	return where
}

// notTrusted is the advice for a peer name that has no conversation.
func notTrusted(name string) string {
	return fmt.Sprintf("%s is not trusted yet: add their key with /trust %s age1...", name, name)
}

// explainSend explains a failed message to the log at where.
func explainSend(where string, err error) string {
	name := label(where)
	_, isGroup := strings.CutSuffix(where, "/"+allLog)
	switch errnoOf(err) {
	case syscall.ENOENT:
		if isGroup {
			return fmt.Sprintf("group %s is gone (left or removed): message not sent", name)
		}
		return notTrusted(name)
	case syscall.EINVAL:
		return "message not sent: it is not valid UTF-8"
	case syscall.EMSGSIZE:
		return "message too long (64 KiB max)"
	case syscall.EACCES, syscall.EPERM:
		return fmt.Sprintf("%s is read-only: message not sent", name)
	}
	if s, ok := explainCommon(err); ok {
		return "message not sent: " + s
	}
	return fmt.Sprintf("sending to %s failed: %s", name, reason(err))
}

// explainOpen explains why the conversation name cannot be shown.
func explainOpen(name string, err error) string {
	switch {
	case errors.Is(err, ErrBadName):
		return fmt.Sprintf("%q is not a peer or group name", name)
	case errnoOf(err) == syscall.ENOENT:
		return notTrusted(name) + " (or /group " + name + " for a group)"
	case errnoOf(err) == syscall.ENOTDIR:
		return fmt.Sprintf("%s is a peer, not a group: /open %s", label(name), label(name))
	case errnoOf(err) == syscall.EACCES:
		return fmt.Sprintf("%s cannot be read", name)
	}
	if s, ok := explainCommon(err); ok {
		return s
	}
	return fmt.Sprintf("opening %s failed: %s", name, reason(err))
}

// explainRead explains a failure to read more of the open log.
func explainRead(where string, err error) string {
	if errnoOf(err) == syscall.ENOENT {
		return fmt.Sprintf("%s is gone (key revoked or group left)", label(where))
	}
	if s, ok := explainCommon(err); ok {
		return s
	}
	return fmt.Sprintf("reading %s failed: %s", label(where), reason(err))
}

// explainTrust explains a failed /trust NAME SRC.
func explainTrust(name, src string, err error) string {
	var kse *keySourceError
	if errors.As(err, &kse) {
		switch {
		case errors.Is(err, ErrSecretKey):
			return fmt.Sprintf("%s is a secret identity, not a public key: give the age1... line that `mfs-keygen -y %s` prints", src, src)
		case errors.Is(err, os.ErrNotExist):
			return fmt.Sprintf("%s is not an age1... key, a key file or a pending fingerprint (see /pending)", src)
		}
		return fmt.Sprintf("cannot read %s: %s", src, reason(err))
	}
	switch {
	case errors.Is(err, ErrBadName):
		return fmt.Sprintf("%q is not a valid name: use [a-z0-9][a-z0-9._-]{0,31}", name)
	case errnoOf(err) == syscall.EEXIST:
		return fmt.Sprintf("%s is already used by another key: remove keys/%s.pub first (or this key is already trusted under another name)", name, name)
	case errnoOf(err) == syscall.EINVAL:
		return fmt.Sprintf("not trusted: %s is not a valid public key, or %s is not a valid name (keys are the age1... line `mfs-keygen -y` prints; names match [a-z0-9][a-z0-9._-]{0,31})", src, name)
	case errnoOf(err) == syscall.EACCES, errnoOf(err) == syscall.EPERM:
		return fmt.Sprintf("keys/%s.pub cannot be written (self is reserved)", name)
	}
	if s, ok := explainCommon(err); ok {
		return s
	}
	return fmt.Sprintf("trusting %s failed: %s", name, reason(err))
}

// explainGroup explains a failed /group GROUP.
func explainGroup(group string, err error) string {
	switch {
	case errors.Is(err, ErrBadName), errnoOf(err) == syscall.EINVAL:
		return fmt.Sprintf("%q is not a valid group name (it cannot start with '.' or contain '/')", group)
	case errnoOf(err) == syscall.EEXIST:
		return fmt.Sprintf("%s already exists (a group, a peer or keys/): choose another name", group)
	}
	if s, ok := explainCommon(err); ok {
		return s
	}
	return fmt.Sprintf("creating group %s failed: %s", group, reason(err))
}

// explainAdd explains a failed /add GROUP NAME.
func explainAdd(group, name string, err error) string {
	switch {
	case errors.Is(err, ErrBadName):
		return fmt.Sprintf("/add GROUP NAME: %q or %q is not a valid name", group, name)
	case errnoOf(err) == syscall.ENOENT:
		return fmt.Sprintf("cannot add %s to %s: no such group, or %s", name, group, notTrusted(name))
	case errnoOf(err) == syscall.ENOTDIR:
		return fmt.Sprintf("%s is a peer, not a group", group)
	case errnoOf(err) == syscall.EINVAL:
		return fmt.Sprintf("%s is not a trusted peer: a member must be one", name)
	case errnoOf(err) == syscall.EEXIST:
		return fmt.Sprintf("%s is already in %s", name, group)
	case errnoOf(err) == syscall.EACCES, errnoOf(err) == syscall.EPERM:
		return fmt.Sprintf("%s cannot be added to %s", name, group)
	}
	if s, ok := explainCommon(err); ok {
		return s
	}
	return fmt.Sprintf("adding %s to %s failed: %s", name, group, reason(err))
}

// explainLeave explains a failed /leave GROUP.
func explainLeave(group string, err error) string {
	switch {
	case errors.Is(err, ErrBadName):
		return fmt.Sprintf("%q is not a group name", group)
	case errnoOf(err) == syscall.ENOENT:
		return fmt.Sprintf("no group %s here", group)
	case errnoOf(err) == syscall.ENOTDIR:
		return fmt.Sprintf("%s is a peer, not a group", group)
	case errnoOf(err) == syscall.EACCES, errnoOf(err) == syscall.EPERM:
		return fmt.Sprintf("%s cannot be left", group)
	}
	if s, ok := explainCommon(err); ok {
		return s
	}
	return fmt.Sprintf("leaving %s failed: %s", group, reason(err))
}

// explainPending explains a failure to list keys/pending/.
func explainPending(err error) string {
	if s, ok := explainCommon(err); ok {
		return s
	}
	return "cannot list keys/pending: " + reason(err)
}
