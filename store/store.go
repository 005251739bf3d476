package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultTimeout is how long Open waits for another process to release the
// database file when Options.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// formatVersion is the layout version stored in the meta bucket.
const formatVersion = 1

// initialMmapSize is reserved address space (not memory) for the database
// map, so that the file can grow to this size without remapping, which
// would make the committer wait for every open read transaction.
const initialMmapSize = 256 << 20

// Top-level buckets and structural keys. These are the only names that
// appear in clear in the file.
var (
	bucketMeta    = []byte("meta")
	bucketConv    = []byte("conv")
	bucketHist    = []byte("hist")
	bucketOutbox  = []byte("outbox")
	bucketCounter = []byte("counter")
	bucketSecret  = []byte("secret")

	topBuckets = [][]byte{bucketMeta, bucketConv, bucketHist, bucketOutbox, bucketCounter, bucketSecret}

	metaFormat = []byte("format")
	metaDBKey  = []byte("dbkey")
	metaScrub  = []byte("scrub")
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Logger receives the store's log records; nil discards them.
	Logger *slog.Logger

	// Timeout is how long Open waits for the file lock held by another
	// process before failing with ErrLocked; zero means DefaultTimeout.
	Timeout time.Duration

	// NoSync skips fsync on commit. Commits are then not durable: it exists
	// for benchmarks and tests that measure something else, never for use.
	NoSync bool
}

// Store is an open messagefs database. Its methods are safe for concurrent
// use.
type Store struct {
	path string
	opts Options
	log  *slog.Logger

	keys  *rootKeys
	cache *keyCache

	// dbMu guards db: Views and commits hold it for reading, Close and
	// the file rewrite after a deletion for writing.
	dbMu   sync.RWMutex
	db     *bolt.DB
	broken error // set when a rewrite left no database open

	// closeMu guards closed and sends on reqs.
	closeMu sync.RWMutex
	closed  bool
	reqs    chan *request
	started bool          // the committer runs (set once by Open)
	done    chan struct{} // closed when the committer has exited

	commits atomic.Uint64 // write transactions committed (for tests)
	scrubs  atomic.Uint64 // file rewrites done (for tests)
}

// Open opens the database at path, creating it (and its directory, mode
// 0700; the file gets mode 0600) if needed. A new database gets a random
// database key encrypted to id's recipient; an existing one must have been
// created with the same identity, or Open fails with ErrWrongIdentity.
func Open(path string, id *age.X25519Identity, opts Options) (*Store, error) {
	if id == nil {
		return nil, fmt.Errorf("%w: nil identity", ErrInvalid)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: creating state directory: %w", classify(err))
	}
	s := &Store{
		path:  path,
		opts:  opts,
		log:   opts.Logger.With("db", path),
		cache: newKeyCache(),
		reqs:  make(chan *request, maxBatch),
		done:  make(chan struct{}),
	}
	db, err := s.openBolt(path)
	if err != nil {
		return nil, err
	}
	// A rewrite that crashed before its rename leaves a partial copy.
	if err := os.Remove(s.rewritePath()); err != nil && !os.IsNotExist(err) {
		s.log.Warn("store: removing a stale rewrite", "err", err)
	}
	dbKey, scrub, err := loadKey(db, id)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	s.keys, err = newRootKeys(dbKey)
	clear(dbKey)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.db = db
	if scrub {
		s.log.Info("store: finishing an interrupted rewrite after a deletion")
		if err := s.rewrite(); err != nil {
			if s.db == nil {
				return nil, fmt.Errorf("store: rewriting after a deletion: %w", err)
			}
			s.log.Warn("store: rewrite after a deletion failed; will retry", "err", err)
		}
	}
	s.started = true
	go s.commitLoop()
	s.log.Debug("store: open")
	return s, nil
}

// openBolt opens the bbolt file with the store's options.
func (s *Store) openBolt(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: s.opts.Timeout,
		// The freelist is rebuilt by scanning at open instead of being
		// written by every commit: fewer pages per commit.
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		NoSync:          s.opts.NoSync,
		InitialMmapSize: initialMmapSize,
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, s.opts.Timeout)
	case err != nil:
		return nil, fmt.Errorf("store: opening %s: %w", path, classify(err))
	}
	return db, nil
}

// loadKey returns the database key, creating the database layout if the
// file is new. scrub reports an unfinished rewrite after a deletion.
func loadKey(db *bolt.DB, id *age.X25519Identity) (key []byte, scrub bool, err error) {
	var sealed []byte
	empty := true
	err = db.View(func(tx *bolt.Tx) error {
		tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		if f := meta.Get(metaFormat); len(f) != 1 || f[0] != formatVersion {
			return fmt.Errorf("%w: unsupported database format %v", ErrCorrupt, f)
		}
		sealed = bytes.Clone(meta.Get(metaDBKey))
		scrub = meta.Get(metaScrub) != nil
		for _, name := range topBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: bucket %q missing", ErrCorrupt, name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if sealed != nil {
		key, err := unwrapDBKey(sealed, id)
		return key, scrub, err
	}
	if !empty {
		return nil, false, fmt.Errorf("%w: database has data but no key", ErrCorrupt)
	}
	return createLayout(db, id)
}

// unwrapDBKey decrypts the age-encrypted database key.
func unwrapDBKey(sealed []byte, id *age.X25519Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(sealed), id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, fmt.Errorf("%w (created for another age key than %s)", ErrWrongIdentity, id.Recipient())
		}
		return nil, fmt.Errorf("%w: database key: %v", ErrCorrupt, err)
	}
	key, err := io.ReadAll(io.LimitReader(r, keySize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: database key: %v", ErrCorrupt, err)
	}
	if len(key) != keySize {
		return nil, fmt.Errorf("%w: database key of %d bytes", ErrCorrupt, len(key))
	}
	return key, nil
}

// createLayout makes a new database key and the top-level buckets.
func createLayout(db *bolt.DB, id *age.X25519Identity) ([]byte, bool, error) {
	key := make([]byte, keySize)
	randRead(key)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, id.Recipient())
	if err != nil {
		return nil, false, fmt.Errorf("store: encrypting database key: %w", err)
	}
	if _, err := w.Write(key); err != nil {
		return nil, false, fmt.Errorf("store: encrypting database key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, false, fmt.Errorf("store: encrypting database key: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range topBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(metaFormat, []byte{formatVersion}); err != nil {
			return err
		}
		return meta.Put(metaDBKey, buf.Bytes())
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: creating database: %w", classify(err))
	}
	return key, false, nil
}

// Close waits for queued updates to finish and closes the database.
// Updates and Views after Close fail with ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.closeMu.Unlock()
	if s.started {
		<-s.done
	}
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	s.cache.reset()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("store: closing: %w", classify(err))
	}
	return nil
}

// View runs fn in a read-only transaction, which sees a consistent snapshot.
// Writing methods of the Tx fail with ErrReadOnly. The Tx must not be used
// after fn returns, and fn must not call Update (a pending rewrite of the
// file would wait for fn, and fn for it).
func (s *Store) View(fn func(tx *Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return s.unusable()
	}
	return s.db.View(func(btx *bolt.Tx) error {
		t := s.newTx(btx)
		defer t.finish()
		return t.run(fn)
	})
}

// unusable returns why the database is not open; callers hold dbMu.
func (s *Store) unusable() error {
	if s.broken != nil {
		return fmt.Errorf("store: database unusable after a failed rewrite: %w", s.broken)
	}
	return ErrClosed
}

// Path returns the database file name.
func (s *Store) Path() string { return s.path }
