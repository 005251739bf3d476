// Package fs is the FUSE view of a messagefs node: a file is a peer, a
// directory is a group, writing to a file sends a message and reading it
// shows the conversation. It knows files, not protocols: everything it
// needs from the messaging engine is in the Backend interface.
//
// Mount mounts the tree at a directory and serves it in the background
// until Server.Unmount (or an external `fusermount3 -u`, see Server.Done):
//
//	srv, err := fs.Mount(ctx, dir, node, fs.Options{Logger: log})
//	...
//	<-sigterm // or <-srv.Done()
//	err = srv.Unmount(ctx) // .events readers get EOF, then unmount
//
// The tree:
//
//	MOUNT/
//	  .all  .events  .peers  .outbox
//	  alice             conversation with trusted peer alice
//	  keys/self.pub     my recipient (0400)
//	  keys/alice.pub    trusted key: create = trust, rm = revoke, mv = rename
//	  keys/pending/F.pub key announced by an untrusted node (0400)
//	  team/.all         group log; team/alice = member (touch = add, rm = remove)
//
// Decisions that are not spelled out in DESIGN.md:
//
//   - .events, .peers and .outbox are mode 0400: nothing can be written to
//     them. Conversations, .all and key files are 0600, directories 0700.
//   - Attributes and entries are never cached by the kernel (validity 0;
//     bazil's default is a minute; the one exception is the entry of a
//     directory made by mkdir, whose validity bazil does not let us set),
//     and Backend.OnChange notifications are turned into kernel
//     invalidations on a goroutine of their own.
//   - Every file is opened with direct I/O; .events is also non-seekable.
//     A .events read returns whole lines and never fills the caller's whole
//     request (so the kernel never chains a second, blocking request onto a
//     read(2) that already has data); a line longer than the request is
//     split over several reads.
//   - A key file (keys/NAME.pub) is checked with Backend.CheckKeyFile on
//     every write(2) once its content holds a complete line that is not a
//     comment, or contains "AGE-SECRET-KEY-" (refused at once), so a bad
//     key fails the write itself; content that is only comments or an
//     unterminated line is not judged yet. The content is trusted with
//     Backend.TrustKeyFile at close (flush), which is also where a key
//     written without a newline is first checked. A failed write changes
//     nothing, and an open on which a write failed trusts nothing.
//   - Writing a conversation ignores the offset; a write of nothing or of a
//     single "\n" is a no-op that reports success. truncate(0) and O_TRUNC
//     are accepted and change nothing; any other size is EINVAL; chmod and
//     chown are EPERM; timestamps given by touch are ignored (mtimes stay
//     true).
//   - Creating an unknown name in the root is ENOENT (the peer is unknown:
//     trust its key in keys/ first), renaming anything outside keys/ is
//     EPERM, and removing .events, .peers, .outbox, keys/ or a key in
//     keys/pending is EACCES.
package fs
