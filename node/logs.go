package node

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/store"
)

// fromMe is the sender name of our own messages in logs.
const fromMe = "me"

// logCache is the rendered, append-only text of one conversation, built
// from the store on first use and extended as messages commit. Lines are
// rendered once, with the sender's alias at arrival, and never change.
type logCache struct {
	loaded  bool
	buf     []byte
	count   uint64            // entries rendered into buf
	early   map[uint64]string // committed lines waiting for a gap before them
	mtime   time.Time
	created time.Time
}

// peerConv is the conversation id of the pairwise conversation with key.
func peerConv(key crypto.PublicKey) string { return "p:" + hex.EncodeToString(key[:]) }

// resolveLog maps a log name ("alice", ".all", "team/.all") to its
// conversation id. Called with n.mu held.
func (n *Node) resolveLogLocked(where string) (string, error) {
	if strings.Contains(where, "/") || strings.HasPrefix(where, ".") {
		return n.resolveGroupLogLocked(where)
	}
	e, ok := n.keys.Lookup(where)
	if !ok {
		return "", fmt.Errorf("%w: no trusted peer %q", ErrNotFound, where)
	}
	return peerConv(e.Key), nil
}

// logLocked returns the loaded cache of conv, reading it from the store the
// first time. Called with n.mu held.
func (n *Node) logLocked(conv string, created time.Time) (*logCache, error) {
	lc := n.logs[conv]
	if lc == nil {
		lc = &logCache{created: created}
		n.logs[conv] = lc
	}
	if lc.loaded {
		return lc, nil
	}
	var buf []byte
	var count uint64
	var mtime time.Time
	err := n.db.View(func(tx *store.Tx) error {
		return tx.Entries(conv, 1, func(index uint64, e store.Entry) error {
			buf = append(buf, renderLogLine(e.Time, e.From, string(e.Text))...)
			count = index
			mtime = e.Time
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	lc.buf, lc.count, lc.mtime, lc.loaded = buf, count, mtime, true
	for i := range lc.early {
		if i <= count {
			delete(lc.early, i)
		}
	}
	lc.flushEarly()
	return lc, nil
}

// appendLocked adds the committed entry number index to the cache of conv.
// Entries may commit out of order between concurrent writers; a line waits
// until every line before it is there. Called with n.mu held.
func (n *Node) appendLocked(conv string, index uint64, e store.Entry) {
	lc := n.logs[conv]
	if lc == nil {
		// Not loaded yet: the first read loads it from the store.
		return
	}
	if index <= lc.count && lc.loaded {
		return
	}
	if lc.early == nil {
		lc.early = make(map[uint64]string)
	}
	lc.early[index] = renderLogLine(e.Time, e.From, string(e.Text))
	if e.Time.After(lc.mtime) {
		lc.mtime = e.Time
	}
	if lc.loaded {
		lc.flushEarly()
	}
}

func (lc *logCache) flushEarly() {
	for {
		line, ok := lc.early[lc.count+1]
		if !ok {
			return
		}
		delete(lc.early, lc.count+1)
		lc.buf = append(lc.buf, line...)
		lc.count++
	}
}

// LogStat returns the size and modification time of a log.
func (n *Node) LogStat(where string) (int64, time.Time, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	conv, err := n.resolveLogLocked(where)
	if err != nil {
		return 0, time.Time{}, err
	}
	lc, err := n.logLocked(conv, n.createdLocked(where))
	if err != nil {
		return 0, time.Time{}, err
	}
	mtime := lc.mtime
	if mtime.IsZero() {
		mtime = lc.created
	}
	return int64(len(lc.buf)), mtime, nil
}

// ReadLog reads a log like io.ReaderAt.
func (n *Node) ReadLog(where string, p []byte, off int64) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	conv, err := n.resolveLogLocked(where)
	if err != nil {
		return 0, err
	}
	lc, err := n.logLocked(conv, n.createdLocked(where))
	if err != nil {
		return 0, err
	}
	if off >= int64(len(lc.buf)) {
		return 0, io.EOF
	}
	c := copy(p, lc.buf[off:])
	if c < len(p) {
		return c, io.EOF
	}
	return c, nil
}

// createdLocked is the time shown for a log with no messages: when its
// peer was trusted. Called with n.mu held.
func (n *Node) createdLocked(where string) time.Time {
	if e, ok := n.keys.Lookup(where); ok {
		return e.Added
	}
	return n.started
}

// dropLogLocked forgets the cache of conv (after its history was deleted).
func (n *Node) dropLogLocked(conv string) {
	delete(n.logs, conv)
}
