package fs

import (
	"errors"
	"strings"
	"sync"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"

	"github.com/messagefs/messagefs/node"
)

// invalidator tells the kernel to drop cached attributes and entries. It
// runs the notifications on its own goroutine: the kernel holds inode and
// directory locks while it waits for our replies, and a notification
// written to /dev/fuse waits for those same locks, so it must never be
// sent by a goroutine that serves a request or holds a lock of ours.
// Queued changes are coalesced; adding one never blocks.
type invalidator struct {
	apply func(node.Change)

	mu      sync.Mutex
	queue   []node.Change
	queued  map[node.Change]bool
	stopped bool
	wake    chan struct{}
	done    chan struct{}
}

func newInvalidator(apply func(node.Change)) *invalidator {
	return &invalidator{
		apply:  apply,
		queued: make(map[node.Change]bool),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
}

// add queues a change; it is Backend.OnChange's callback.
func (v *invalidator) add(c node.Change) {
	v.mu.Lock()
	if v.stopped || v.queued[c] {
		v.mu.Unlock()
		return
	}
	v.queued[c] = true
	v.queue = append(v.queue, c)
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// log queues the invalidation of log where ("alice", ".all", "team/.all").
func (v *invalidator) log(where string) { v.add(node.Change{Where: where}) }

// dir queues the invalidation of a directory's entries.
func (v *invalidator) dir(path string) { v.add(node.Change{Dir: path}) }

// run applies queued changes until stop.
func (v *invalidator) run() {
	defer close(v.done)
	for range v.wake {
		for {
			v.mu.Lock()
			if v.stopped || len(v.queue) == 0 {
				stopped := v.stopped
				v.mu.Unlock()
				if stopped {
					return
				}
				break
			}
			c := v.queue[0]
			v.queue = v.queue[1:]
			delete(v.queued, c)
			v.mu.Unlock()
			v.apply(c)
		}
	}
}

// stop ends run and waits for it; later changes are dropped.
func (v *invalidator) stop() {
	v.mu.Lock()
	v.stopped = true
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
	<-v.done
}

// apply sends the kernel notifications for one change. It runs on the
// invalidator's goroutine only.
func (f *fileSystem) apply(c node.Change) {
	if c.Where != "" {
		for _, n := range f.logNodes(c.Where) {
			f.notify("invalidate data", c.Where, f.srv.InvalidateNodeData(n))
		}
		return
	}
	var d *dir
	var dn fusefs.Node
	switch c.Dir {
	case "":
		d, dn = &f.root.dir, f.root
	case "keys":
		d, dn = &f.keys.dir, f.keys
	case "keys/pending":
		d, dn = &f.pending.dir, f.pending
	default:
		f.mu.Lock()
		g := f.groups[c.Dir]
		f.mu.Unlock()
		if g == nil {
			return // never looked up: nothing cached
		}
		d, dn = &g.dir, g
	}
	f.mu.Lock()
	f.dirTimes[c.Dir] = time.Now()
	f.mu.Unlock()
	f.notify("invalidate attr", c.Dir, f.srv.InvalidateNodeAttr(dn))
	names := d.names()
	if c.Dir == "" {
		// Group directories are cached by the file system, not the root.
		for _, g := range f.cachedGroups() {
			names = append(names, g.path)
		}
	}
	for _, name := range names {
		f.notify("invalidate entry", d.childPath(name), f.srv.InvalidateEntry(dn, name))
	}
}

// logNodes returns the cached nodes that show log where: the root file
// and the member files in groups for a conversation, the group's .all for
// "team/.all".
func (f *fileSystem) logNodes(where string) []fusefs.Node {
	var ns []fusefs.Node
	add := func(n fusefs.Node) {
		if n != nil {
			ns = append(ns, n)
		}
	}
	if group, ok := strings.CutSuffix(where, "/.all"); ok {
		f.mu.Lock()
		g := f.groups[group]
		f.mu.Unlock()
		if g != nil {
			add(g.cached(".all"))
		}
		return ns
	}
	add(f.root.cached(where))
	if !strings.HasPrefix(where, ".") {
		for _, g := range f.cachedGroups() {
			add(g.cached(where))
		}
	}
	return ns
}

// notify logs a failed notification; ErrNotCached is normal.
func (f *fileSystem) notify(what, path string, err error) {
	if err == nil || errors.Is(err, fuse.ErrNotCached) {
		return
	}
	f.log.Debug("messagefs: kernel notification failed", "op", what, "path", path, "err", err)
}
