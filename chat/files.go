package chat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// The file operations of the chat. Each takes the mount directory and does
// exactly what a shell user would do with standard tools; their errors
// keep the errno of the failing system call (see explain.go).

// ErrSecretKey is returned by trustKey for a key file holding a secret
// identity instead of a public key.
var ErrSecretKey = errors.New("that is a secret identity, not a public key")

// ErrBadName is returned for a peer or group name that cannot be a single
// file name in the mount.
var ErrBadName = errors.New("not a valid name")

// maxKeyFile bounds what /trust reads from a key file.
const maxKeyFile = 64 << 10

// allLog is the log of the everyone group, and of every group directory.
const allLog = ".all"

// logPath returns the file of the log at where ("alice", ".all",
// "team/.all").
func logPath(dir, where string) string {
	return filepath.Join(dir, filepath.FromSlash(where))
}

// checkName refuses names that are not one plain file name, so that no
// command reaches outside the mount.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return nil
}

// resolveConversation maps a name typed by the user to the log it means:
// a peer "alice" to "alice", a group "team" to "team/.all", ".all" or
// "everyone" to ".all"; "team/.all" stays as it is.
func resolveConversation(dir, name string) (string, error) {
	if name == allLog || name == "everyone" {
		return allLog, nil
	}
	group, isGroupLog := strings.CutSuffix(name, "/"+allLog)
	if isGroupLog {
		name = group
	}
	if err := checkName(name); err != nil {
		return "", err
	}
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return name + "/" + allLog, nil
	}
	if isGroupLog {
		return "", &os.PathError{Op: "open", Path: name, Err: syscall.ENOTDIR}
	}
	return name, nil
}

// readLogFrom reads the log at where from byte offset off to its end.
func readLogFrom(dir, where string, off int64) ([]byte, error) {
	f, err := os.Open(logPath(dir, where))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.NewSectionReader(f, off, 1<<62))
}

// writeOnce opens path with flag, writes data with exactly one write(2)
// (one message), and closes it. An interrupted write that sent nothing is
// retried; a short write is an error, never completed by a second write,
// which would be a second message.
func writeOnce(path string, flag int, data []byte) error {
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	var n int
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), data)
			if werr != syscall.EINTR {
				return werr != syscall.EAGAIN
			}
		}
	})
	cerr := f.Close()
	switch {
	case err != nil:
		return &os.PathError{Op: "write", Path: path, Err: err}
	case werr != nil:
		return &os.PathError{Op: "write", Path: path, Err: werr}
	case n != len(data):
		return &os.PathError{Op: "write", Path: path, Err: io.ErrShortWrite}
	case cerr != nil:
		// Key files are trusted at close: EEXIST and EINVAL can come here.
		return cerr
	}
	return nil
}

// sendMessage sends text to the log at where with one write(2).
func sendMessage(dir, where, text string) error {
	return writeOnce(logPath(dir, where), os.O_WRONLY, []byte(text+"\n"))
}

// keySourceError is a failure to read the key file given to /trust.
type keySourceError struct {
	path string
	err  error
}

func (e *keySourceError) Error() string { return "reading " + e.path + ": " + e.err.Error() }
func (e *keySourceError) Unwrap() error { return e.err }

// keyContent returns what /trust writes to keys/NAME.pub for src: a bare
// "age1..." recipient, the content of a key file (a path, "~/" expanded),
// or the key of a pending fingerprint.
func keyContent(dir, src string) ([]byte, error) {
	if strings.HasPrefix(src, "age1") {
		return []byte(src + "\n"), nil
	}
	path := src
	if rest, ok := strings.CutPrefix(src, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, rest)
		}
	}
	data, err := readSmallFile(path)
	if errors.Is(err, os.ErrNotExist) && checkName(src) == nil {
		if pending, perr := readSmallFile(filepath.Join(dir, "keys", "pending", src+".pub")); perr == nil {
			data, err = pending, nil
		}
	}
	if err != nil {
		return nil, &keySourceError{path: src, err: err}
	}
	if bytes.Contains(data, []byte("AGE-SECRET-KEY-")) {
		return nil, &keySourceError{path: src, err: ErrSecretKey}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	return data, nil
}

// readSmallFile reads at most maxKeyFile bytes of a file.
func readSmallFile(path string) ([]byte, error) {
	return readSmallFileN(path, maxKeyFile)
}

// trustKey trusts the key given by src (see keyContent) as name by writing
// it to keys/NAME.pub with one write(2).
func trustKey(dir, name, src string) error {
	if err := checkName(name); err != nil {
		return err
	}
	content, err := keyContent(dir, src)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "keys", name+".pub")
	return writeOnce(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, content)
}

// makeGroup creates group (mkdir).
func makeGroup(dir, group string) error {
	if err := checkName(group); err != nil {
		return err
	}
	return os.Mkdir(filepath.Join(dir, group), 0o700)
}

// addMember adds trusted peer name to group (touch GROUP/NAME).
func addMember(dir, group, name string) error {
	if err := checkName(group); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, group, name), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// leaveGroup leaves group (rmdir).
func leaveGroup(dir, group string) error {
	if err := checkName(group); err != nil {
		return err
	}
	path := filepath.Join(dir, group)
	if err := syscall.Rmdir(path); err != nil {
		return &os.PathError{Op: "rmdir", Path: path, Err: err}
	}
	return nil
}

// PendingKey is a key announced by a node that is not trusted yet, from
// MOUNT/keys/pending/FPR.pub.
type PendingKey struct {
	Fingerprint string
	Key         string // "age1..."
}

// listPending reads keys/pending/.
func listPending(dir string) ([]PendingKey, error) {
	pdir := filepath.Join(dir, "keys", "pending")
	ents, err := os.ReadDir(pdir)
	if err != nil {
		return nil, err
	}
	var keys []PendingKey
	for _, e := range ents {
		fpr, ok := strings.CutSuffix(e.Name(), ".pub")
		if !ok || e.IsDir() {
			continue
		}
		k := PendingKey{Fingerprint: fpr}
		if data, err := readSmallFile(filepath.Join(pdir, e.Name())); err == nil {
			for line := range strings.SplitSeq(string(data), "\n") {
				if line = strings.TrimSpace(line); strings.HasPrefix(line, "age1") {
					k.Key = line
					break
				}
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// listing is what the side list shows: the conversations of the mount.
type listing struct {
	peers   []string          // trusted aliases (files of the root), sorted
	groups  []string          // group directories, sorted
	states  map[string]string // alias -> "online", "offline", ... from .peers
	pending int               // number of keys/pending entries
}

// listMount reads the root of the mount, .peers and keys/pending/.
func listMount(dir string) (listing, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return listing{}, err
	}
	l := listing{states: make(map[string]string)}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "."):
		case e.IsDir():
			if name != "keys" {
				l.groups = append(l.groups, name)
			}
		default:
			l.peers = append(l.peers, name)
		}
	}
	slices.Sort(l.peers)
	slices.Sort(l.groups)
	if data, err := readSmallFileN(filepath.Join(dir, ".peers"), 1<<20); err == nil {
		for _, p := range ParsePeers(data) {
			if p.Alias != "" {
				l.states[p.Alias] = p.State
			}
		}
	}
	if pend, err := os.ReadDir(filepath.Join(dir, "keys", "pending")); err == nil {
		l.pending = len(pend)
	}
	return l, nil
}

// readSmallFileN reads at most n bytes of a file.
func readSmallFileN(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}
