package store

import (
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// rewriteTxSize bounds the transactions of a rewrite.
const rewriteTxSize = 4 << 20

// rewritePath is the temporary file a rewrite builds.
func (s *Store) rewritePath() string { return s.path + ".rewrite" }

// rewrite copies the live data to a new file and renames it over the
// database, so that freed pages (holding deleted keys and ciphertexts) are
// gone from the state directory. It holds dbMu, so no View or commit runs
// meanwhile. The copy has no scrub mark; if anything fails before the
// rename, the old file keeps its mark and the rewrite is retried later.
func (s *Store) rewrite() error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.db == nil {
		return s.unusable()
	}
	tmp := s.rewritePath()
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("store: removing %s: %w", tmp, err)
	}
	dst, err := s.openBolt(tmp)
	if err != nil {
		os.Remove(tmp) // bbolt may have created it before failing
		return err
	}
	abort := func(err error) error {
		dst.Close()
		os.Remove(tmp)
		return err
	}
	if err := bolt.Compact(dst, s.db, rewriteTxSize); err != nil {
		return abort(fmt.Errorf("store: copying the database: %w", classify(err)))
	}
	err = dst.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Delete(metaScrub)
	})
	if err != nil {
		return abort(fmt.Errorf("store: copying the database: %w", classify(err)))
	}
	if err := dst.Sync(); err != nil {
		return abort(fmt.Errorf("store: syncing the copy: %w", classify(err)))
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: closing the copy: %w", classify(err))
	}

	if err := s.db.Close(); err != nil {
		s.log.Warn("store: closing the database for its rewrite", "err", err)
	}
	s.db = nil
	renameErr := os.Rename(tmp, s.path)
	if renameErr != nil {
		os.Remove(tmp)
	} else if err := syncDir(filepath.Dir(s.path)); err != nil {
		s.log.Warn("store: syncing the state directory", "err", err)
	}
	db, err := s.openBolt(s.path)
	if err != nil {
		s.broken = err
		return err
	}
	s.db = db
	if renameErr != nil {
		return fmt.Errorf("store: replacing the database: %w", classify(renameErr))
	}
	s.scrubs.Add(1)
	s.log.Info("store: database rewritten")
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
