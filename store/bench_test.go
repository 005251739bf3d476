package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The benchmarks below run in one `go test -bench` so that their rates can
// be compared on the same disk (DESIGN.md, "Performance targets"):
//
//	durable single-writer rate  >= 70% of BenchmarkBareBoltCommit
//	durable rate, 8 writers     >= 3x BenchmarkAppendSingleWriter
//
// Each reports ops/s; every op is one durable commit for the caller.

// benchText is a typical short message.
var benchText = bytes.Repeat([]byte("hello there "), 10)

// BenchmarkBareBoltCommit is the baseline: one small Put per bbolt Update,
// with bbolt's default options (fsync on), in the same kind of directory.
func BenchmarkBareBoltCommit(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bare.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	name := []byte("b")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(name); return err }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(name).Put(binary.BigEndian.AppendUint64(nil, uint64(i)), benchText)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// sendOne is what sending a message does: history, send sequence and
// outbox in one durable Update.
func sendOne(s *Store, peer, conv string, n uint64) error {
	var e Entry
	binary.BigEndian.PutUint64(e.ID[:], n)
	e.Time, e.From, e.Text = time.Now(), "me", benchText
	return s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.Append(conv, e); err != nil {
			return err
		}
		seq, err := tx.NextSendSeq(peer)
		if err != nil {
			return err
		}
		return tx.PutOutbox(OutboxItem{ID: e.ID, To: peer, Conv: conv, Seq: seq, Payload: benchText, Created: e.Time})
	})
}

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "state", "messagefs.db"), newIdentity(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkAppendSingleWriter: one writer, one Update (Append + NextSendSeq
// + PutOutbox) per op.
func BenchmarkAppendSingleWriter(b *testing.B) {
	s := openBench(b)
	before := s.commits.Load()
	b.ResetTimer()
	for i := range b.N {
		if err := sendOne(s, "aa", "p:aa", uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(s.commits.Load()-before)/float64(b.N), "commits/op")
}

// BenchmarkAppend8Writers: the same op from 8 goroutines (8 peers) at once.
func BenchmarkAppend8Writers(b *testing.B) {
	const writers = 8
	s := openBench(b)
	before := s.commits.Load()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			peer := fmt.Sprintf("%02x", w)
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				if err := sendOne(s, peer, "p:"+peer, uint64(n)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(s.commits.Load()-before)/float64(b.N), "commits/op")
}
