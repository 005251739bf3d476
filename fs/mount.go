package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"bazil.org/fuse"
	fusefs "bazil.org/fuse/fs"
)

// Options configures a mount.
type Options struct {
	// Logger receives the file system's log lines (why a call failed,
	// mount and unmount). Nil means slog.Default().
	Logger *slog.Logger
	// Debug, if not nil, receives bazil.org/fuse's trace of every FUSE
	// request and response.
	Debug func(msg any)
}

// Server is a mounted messagefs tree being served.
type Server struct {
	dir  string
	conn *fuse.Conn
	fsys *fileSystem
	log  *slog.Logger

	done chan struct{} // closed when serving has ended
	err  error         // why serving ended; set before done is closed

	unmountMu sync.Mutex
}

// Mount mounts the messagefs tree backed by b at dir and serves it in the
// background until Unmount, or until it is unmounted from outside
// (`fusermount3 -u DIR`; see Done). It returns once the kernel has the
// mount ready. The mount has FSName and Subtype "messagefs", is private to
// the calling user (no allow_other) and enforces permissions itself (no
// default_permissions).
//
// Mount explains the usual failures: ErrStaleMount when dir is what is
// left of a dead mount, ErrAlreadyMounted, ErrNoFUSE when /dev/fuse or
// fusermount3 is missing. If ctx is done before the mount is ready, Mount
// unmounts and returns ctx's error; ctx does not matter afterwards.
//
// The process that serves a mount must not use it itself: the kernel can
// make it wait for its own replies.
func Mount(ctx context.Context, dir string, b Backend, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fs: mount point %s: %w", dir, err)
	}
	if err := preflight(abs); err != nil {
		return nil, err
	}
	conn, err := fuse.Mount(abs,
		fuse.FSName("messagefs"),
		fuse.Subtype("messagefs"),
	)
	if err != nil {
		return nil, explainMountError(abs, err)
	}

	fsys := newFileSystem(b, log)
	cfg := &fusefs.Config{Debug: opts.Debug}
	if cfg.Debug == nil {
		cfg.Debug = func(any) {}
	}
	fsys.srv = fusefs.New(conn, cfg)
	s := &Server{dir: abs, conn: conn, fsys: fsys, log: log, done: make(chan struct{})}
	go fsys.inval.run()
	b.OnChange(fsys.inval.add)
	go s.serve()
	log.Info("messagefs: mounted", "dir", abs)

	if err := ctx.Err(); err != nil {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if uerr := s.Unmount(uctx); uerr != nil {
			return nil, errors.Join(err, uerr)
		}
		return nil, err
	}
	return s, nil
}

// serve runs the FUSE request loop until the kernel ends the connection.
func (s *Server) serve() {
	err := s.fsys.srv.Serve(s.fsys)
	s.fsys.shutdown()
	s.fsys.releaseAll()
	s.fsys.inval.stop()
	if cerr := s.conn.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("fs: closing /dev/fuse: %w", cerr)
	} else if err != nil {
		err = fmt.Errorf("fs: serving %s: %w", s.dir, err)
	}
	s.err = err
	s.log.Info("messagefs: unmounted", "dir", s.dir)
	close(s.done)
}

// Dir returns the absolute mount point.
func (s *Server) Dir() string { return s.dir }

// Done returns a channel that is closed when the file system is no longer
// served: after Unmount, or after someone else unmounted it.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns why serving ended (nil for a clean unmount). It is
// meaningful once Done is closed.
func (s *Server) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Wait blocks until the file system is no longer served and returns Err.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

// Unmount ends every .events stream (blocked readers get EOF, so `cat
// .events` exits and closes the file), then unmounts, retrying while the
// mount is busy, until ctx is done. It returns once serving has ended.
// A mount that stays busy (an open file, a shell's working directory)
// makes it fail with an error that says so; the tree is then still
// served, but its .events streams have ended. Unmount may be called
// again.
func (s *Server) Unmount(ctx context.Context) error {
	s.unmountMu.Lock()
	defer s.unmountMu.Unlock()
	s.fsys.shutdown()
	var lastErr error
	for {
		select {
		case <-s.done:
			return s.err
		default:
		}
		err := fuse.Unmount(s.dir)
		if err == nil {
			break
		}
		lastErr = err
		select {
		case <-s.done:
			return s.err
		case <-ctx.Done():
			return fmt.Errorf("fs: unmounting %s: %w (is a file in it still open, or a shell in it? `fusermount3 -u -z %s` detaches it anyway)", s.dir, lastErr, s.dir)
		case <-time.After(100 * time.Millisecond):
		}
	}
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
		return fmt.Errorf("fs: unmounted %s but requests are still being served: %w", s.dir, ctx.Err())
	}
}
