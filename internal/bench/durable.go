package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/store"
)

// msgText is a typical short message (120 bytes, as in store's benchmarks).
var msgText = []byte("hello there hello there hello there hello there hello there hello there hello there hello there hello there hello there ")

// rateRun is one timed run of a durable workload.
type rateRun struct {
	ops  int
	el   time.Duration
	lats []float64 // seconds per op (every op, all writers)
	cpu  float64   // CPU seconds of the messagefs process, if any
	csw  float64   // context switches of the messagefs process, if any
}

func (r rateRun) rate() float64 { return float64(r.ops) / r.el.Seconds() }

// runWriters runs op in w goroutines until d has passed and returns the
// ops done, the wall time and every op's latency.
func runWriters(ctx context.Context, w int, d time.Duration, op func(writer, i int) error) (rateRun, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lats  []float64
		total atomic.Int64
		first error
	)
	t0 := time.Now()
	deadline := t0.Add(d)
	for wr := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []float64
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				s := time.Now()
				if err := op(wr, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(s).Seconds())
			}
			total.Add(int64(len(mine)))
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return rateRun{ops: int(total.Load()), el: time.Since(t0), lats: lats}, first
}

// rateNode is a fresh messagefs process with 8 trusted peers that are
// offline (keys only), so that every message stays in its outbox and
// only its own commits hit the disk; fds are open on the 8 peer files.
type rateNode struct {
	nd  *mfsNode
	fds []int
}

func startRateNode(ctx context.Context, e *env, name string, keys []crypto.PublicKey) (*rateNode, error) {
	nd, err := newMFSNode(e, name)
	if err != nil {
		return nil, err
	}
	for i, k := range keys {
		if err := nd.trust(fmt.Sprintf("peer%d", i), k); err != nil {
			return nil, err
		}
	}
	if err := nd.start(ctx, e); err != nil {
		return nil, err
	}
	r := &rateNode{nd: nd}
	for i := range keys {
		fd, err := syscall.Open(nd.path(fmt.Sprintf("peer%d", i)), syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			r.stop()
			return nil, err
		}
		r.fds = append(r.fds, fd)
	}
	return r, nil
}

func (r *rateNode) stop() {
	for _, fd := range r.fds {
		syscall.Close(fd)
	}
	r.fds = nil
	r.nd.stop()
}

// line is what one write(2) sends.
var line = append(append([]byte(nil), msgText...), '\n')

func writeOp(fds []int) func(w, _ int) error {
	return func(w, _ int) error { return writeMsg(fds[w], line) }
}

// eintrs counts write(2) calls that failed with EINTR and were retried.
var eintrs atomic.Int64

// writeMsg sends one message with one write(2). Like os.File.Write it
// retries after EINTR, which the file system returns only when the
// message was not committed (a signal reached the writer before that).
func writeMsg(fd int, b []byte) error {
	for {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			eintrs.Add(1)
			continue
		}
		if err == nil && n != len(b) {
			err = fmt.Errorf("short write: %d of %d", n, len(b))
		}
		return err
	}
}

func durablePhase(ctx context.Context, e *env, rp *report) error {
	d := 800 * time.Millisecond
	if opt.quick {
		d = 150 * time.Millisecond
	}
	dir := filepath.Join(e.work, "durable")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// First, on its own: messages to an offline peer, by outbox length.
	if err := offlineGrowth(ctx, e, rp); err != nil {
		return err
	}

	// Baseline: bare bbolt, default options (fsync on), one small Put per
	// Update, in the same file system as the nodes' state directories.
	bdb, err := bolt.Open(filepath.Join(dir, "bare.db"), 0o600, nil)
	if err != nil {
		return err
	}
	defer bdb.Close()
	bucket := []byte("b")
	if err := bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err }); err != nil {
		return err
	}
	var boltN atomic.Uint64
	boltOp := func(int, int) error {
		k := binary.BigEndian.AppendUint64(nil, boltN.Add(1))
		return bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(k, msgText) })
	}

	// The store alone: what a send commits (history, sequence, outbox).
	sk, err := crypto.GenerateKey(crand.Reader)
	if err != nil {
		return err
	}
	ageID, err := age.ParseX25519Identity(sk.String())
	if err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(dir, "state", "messagefs.db"), ageID, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	keys := make([]crypto.PublicKey, 8)
	peerHex := make([]string, 8)
	for i := range keys {
		k, _ := crypto.GenerateKey(crand.Reader)
		keys[i] = k.Public()
		peerHex[i] = hex.EncodeToString(keys[i][:])
	}
	envelope := make([]byte, 399) // a short message's sealed envelope
	crand.Read(envelope)
	var storeN atomic.Uint64
	storeOp := func(w, _ int) error {
		var id [16]byte
		binary.BigEndian.PutUint64(id[:], storeN.Add(1))
		now := time.Now()
		peer, conv := peerHex[w], "p:"+peerHex[w]
		return st.Update(ctx, func(tx *store.Tx) error {
			if _, err := tx.Append(conv, store.Entry{Time: now, From: "me", Text: msgText, ID: id}); err != nil {
				return err
			}
			seq, err := tx.NextSendSeq(peer)
			if err != nil {
				return err
			}
			return tx.PutOutbox(store.OutboxItem{ID: id, To: peer, Conv: conv, Seq: seq, Payload: envelope, Created: now})
		})
	}

	// The engine in-process and messagefs through its mount: a fresh node
	// for every run, so that every run starts with an empty outbox.
	fresh := 0
	engine := func(w int) func() (rateRun, error) {
		return func() (rateRun, error) {
			fresh++
			in, err := newInNode(filepath.Join(dir, fmt.Sprintf("engine-%d", fresh)), "engine", 0, nil, false)
			if err != nil {
				return rateRun{}, err
			}
			defer in.close()
			for i, k := range keys {
				if err := in.n.TrustKeyFile(fmt.Sprintf("peer%d", i), []byte(k.String()+"\n")); err != nil {
					return rateRun{}, err
				}
			}
			in.run()
			c0 := cpuNow()
			r, err := runWriters(ctx, w, d, func(w, _ int) error { return in.n.Send(ctx, fmt.Sprintf("peer%d", w), msgText) })
			r.cpu = cpuNow() - c0
			return r, err
		}
	}
	mount := func(w int) func() (rateRun, error) {
		return func() (rateRun, error) {
			fresh++
			rn, err := startRateNode(ctx, e, fmt.Sprintf("rate-%d", fresh), keys)
			if err != nil {
				return rateRun{}, err
			}
			defer rn.stop()
			c0, _ := procCPU(rn.nd.pid())
			s0 := procSwitches(rn.nd.pid())
			r, err := runWriters(ctx, w, d, writeOp(rn.fds))
			c1, _ := procCPU(rn.nd.pid())
			r.cpu, r.csw = c1-c0, procSwitches(rn.nd.pid())-s0
			return r, err
		}
	}
	inProc := func(w int, op func(int, int) error) func() (rateRun, error) {
		return func() (rateRun, error) {
			c0 := cpuNow()
			r, err := runWriters(ctx, w, d, op)
			r.cpu = cpuNow() - c0
			return r, err
		}
	}
	type wl struct {
		name, label string
		run         func() (rateRun, error)
	}
	wls := []wl{
		{"bolt", "bare bbolt commit (default options)", inProc(1, boltOp)},
		{"store1", "store: a send's commit, 1 writer", inProc(1, storeOp)},
		{"store8", "store: a send's commit, 8 writers", inProc(8, storeOp)},
		{"node1", "engine: node.Send in-process, 1 writer", engine(1)},
		{"node8", "engine: node.Send in-process, 8 writers", engine(8)},
		{"fuse1", "messagefs: write(2) on a mount, 1 writer", mount(1)},
		{"fuse8", "messagefs: write(2) on a mount, 8 writers", mount(8)},
	}
	// A round in which some run had a stall (one op over 100 ms and over 50
	// times the run's median) is repeated, at most maxExtra times: this
	// disk is shared, and other processes' bursts stall every workload
	// here, the baseline as much as the rest.
	const maxExtra = 6
	runs := map[string][]rateRun{}
	var repeated []string
	for round, kept := -1, 0; kept < opt.reps; round++ {
		got := map[string]rateRun{}
		stall := ""
		for _, w := range wls {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := w.run()
			if err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
			got[w.name] = r
			if l := summarize(r.lats); l.Max > 0.1 && l.Max > 50*l.Med && stall == "" {
				stall = fmt.Sprintf("%s had an op of %s", w.name, fmtDur(l.Max))
			}
		}
		if round < 0 {
			continue // warm-up
		}
		if stall != "" && len(repeated) < maxExtra {
			repeated = append(repeated, stall)
			logf("durable: repeating a round: %s", stall)
			continue
		}
		for name, r := range got {
			runs[name] = append(runs[name], r)
		}
		kept++
	}
	if len(repeated) > 0 {
		rp.note("durable rows: %d round(s) were measured again because a run in them stalled (%s); the disk is "+
			"shared with other processes (at most %d rounds are repeated, then stalls are kept)", len(repeated), strings.Join(repeated, "; "), maxExtra)
	}
	rates := func(name string) []float64 {
		var out []float64
		for _, r := range runs[name] {
			out = append(out, r.rate())
		}
		return out
	}
	med := func(name string) float64 { return summarize(rates(name)).Med }
	lats := func(name string) summary {
		var all []float64
		for _, r := range runs[name] {
			all = append(all, r.lats...)
		}
		return summarize(all)
	}
	cpuPer := func(name string) float64 {
		var c float64
		var n int
		for _, r := range runs[name] {
			c += r.cpu
			n += r.ops
		}
		return c / float64(n)
	}
	switchesPer := func(name string) float64 {
		var c float64
		var n int
		for _, r := range runs[name] {
			c += r.csw
			n += r.ops
		}
		return c / float64(n)
	}
	boltLat := lats("bolt")
	e.put("store.commit.p50", lats("store1").Med)
	e.put("bolt.commit.p50", boltLat.Med)
	e.put("bolt.commit.p99", boltLat.P99)
	fmtRate := func(v float64) string { return fmtNum(v) + "/s" }

	// Online peers that acknowledge: the common case, measured once, with
	// the time the outbox takes to empty afterwards (bounded).
	online, err := onlineRates(ctx, e, rp, d)
	if err != nil {
		return err
	}

	single := &row{
		what:     "durable single-writer message rate",
		value:    spread(summarize(rates("fuse1")), fmtRate),
		baseline: "bare bbolt commits: " + spread(summarize(rates("bolt")), fmtRate),
		ratio:    fmtRatio(summarize(ratios(rates("fuse1"), rates("bolt")))),
		note: fmt.Sprintf("end-to-end; one writer doing write(2) of a 120-byte message to a peer file of a messagefs "+
			"mount, each write returning once durable; the node's 8 trusted peers are offline, so only its own "+
			"commits hit the disk, and every run uses a freshly started node so that it starts with an empty outbox "+
			"(how the cost grows with the outbox, and sending to online peers that acknowledge, are in \"How cost "+
			"grows\"). Baseline: bbolt with default options (fsync on), one 120-byte Put per Update, same file "+
			"system. %d alternating repetitions of %v after a warm-up round; the store and the engine alone are in "+
			"Details.", opt.reps, d),
	}
	single.judge(atLeast(0.7, ">= 70%"), summarize(ratios(rates("fuse1"), rates("bolt"))).Med)
	multi := &row{
		what:     "durable rate, 8 concurrent writers",
		value:    spread(summarize(rates("fuse8")), fmtRate),
		baseline: "single writer: " + spread(summarize(rates("fuse1")), fmtRate),
		ratio:    fmtRatio(summarize(ratios(rates("fuse8"), rates("fuse1")))),
		note: "end-to-end; as above with 8 goroutines, each writing to its own peer's file of the same mount, in the " +
			"same repetitions; ratio to the single-writer rate of the same repetition (ratio to bare bbolt in Details).",
	}
	multi.judge(atLeast(3, ">= 3x single"), summarize(ratios(rates("fuse8"), rates("fuse1"))).Med)
	breakdown := fmt.Sprintf("Medians of the same repetitions, one writer: bare bbolt %s/s (commit p50 %s); the store's "+
		"send commit %s/s (p50 %s); the engine in-process (node.Send, no FUSE) %s/s (p50 %s); write(2) through the "+
		"mount %s/s (p50 %s). CPU per message: the store commit %s (bbolt alone %s), the messagefs process %s with one "+
		"writer and %s with 8; its threads switched context %.1f times per message with one writer, %.1f with 8. With 8 writers: store %s/s, engine %s/s, mount %s/s. To online peers that acknowledge, "+
		"one writer reaches %s/s, 8 writers %s/s (How cost grows).",
		fmtNum(med("bolt")), fmtDur(boltLat.Med), fmtNum(med("store1")), fmtDur(lats("store1").Med),
		fmtNum(med("node1")), fmtDur(lats("node1").Med), fmtNum(med("fuse1")), fmtDur(lats("fuse1").Med),
		fmtDur(cpuPer("store1")), fmtDur(cpuPer("bolt")), fmtDur(cpuPer("fuse1")), fmtDur(cpuPer("fuse8")),
		switchesPer("fuse1"), switchesPer("fuse8"),
		fmtNum(med("store8")), fmtNum(med("node8")), fmtNum(med("fuse8")), fmtNum(online.rate1), fmtNum(online.rate8))
	profileMount := func(name string, w int, diag string) string {
		rn, err := startRateNode(ctx, e, "rate-profile-"+name, keys)
		if err != nil {
			return diag + "\n\n(profile failed: " + err.Error() + ")\n"
		}
		defer rn.stop()
		return perfProfile(ctx, e, name, map[int]string{rn.nd.pid(): "messagefs"}, func(ctx context.Context) {
			runWriters(ctx, w, d, writeOp(rn.fds))
		}, diag+fmt.Sprintf(" The profile is of one more run like the measured ones (%v on a fresh node).", d))
	}
	if single.verdict == "MISS" {
		single.miss = profileMount("durable-single", 1, breakdown+" "+durableDiagnosis+" "+fmt.Sprintf(
			"So the store's send commit alone is at %.2fx of a bare commit: it writes 4 values in 3 buckets (history "+
				"entry, message-id index, send counter, outbox item holding the sealed envelope: the text twice) "+
				"and seals 3 of them inside the transaction, against one 120-byte Put; the engine adds little (%.2fx), "+
				"FUSE and the separate process the rest (%.2fx). Likely fixes: a lighter send commit (no id-index "+
				"entry for our own random ids, the send counter kept with the outbox, the envelope sealed again from "+
				"the history on retry instead of stored), encryption of the values before the transaction, and fewer "+
				"thread wake-ups per write(2) (see the context switches in Details).",
			med("store1")/med("bolt"), med("node1")/med("bolt"), med("fuse1")/med("bolt")))
	}
	if multi.verdict == "MISS" {
		multi.miss = profileMount("durable-8", 8, breakdown+" "+durableDiagnosis+" "+fmt.Sprintf(
			"With 8 writers the store alone gets %.2fx its single-writer rate, the engine %.2fx, the mount %.2fx: "+
				"the group commit runs every queued Update function (history, counter and outbox puts with their "+
				"at-rest encryption) one after another on the committer goroutine and only then writes and syncs, "+
				"so CPU work is never overlapped with the previous batch's fdatasync; and every Send kicks the "+
				"outbox loop, whose flushOutbox scans and sorts the whole outbox under the node's mutex "+
				"(flushOutbox and map iteration in the profile; see the offline-peer table for how it grows). "+
				"Likely fixes: encrypt and encode values before submitting them (the committer only puts), and "+
				"let a kick send only what was just queued (per-peer queues, a due-time heap) instead of "+
				"scanning everything.",
			med("store8")/med("store1"), med("node8")/med("node1"), med("fuse8")/med("fuse1")))
	}
	rp.add(single)
	rp.add(multi)

	tbl := "### Durable writes\n\n" +
		"Same repetitions as the durable rows; 120-byte messages to offline peers, each run on a fresh node. " +
		"CPU per message: of the bench process for bbolt and the store, of the whole bench process for the " +
		"engine, of the messagefs process for write(2); context switches: of all the messagefs process's threads.\n\n" +
		"| workload | rate | ratio to bare bbolt | latency p50 | latency p99 | CPU per message | context switches per message |\n" +
		"| --- | --- | --- | --- | --- | --- | --- |\n"
	for _, w := range wls {
		l := lats(w.name)
		csw := "—"
		if strings.HasPrefix(w.name, "fuse") {
			csw = fmt.Sprintf("%.1f", switchesPer(w.name))
		}
		tbl += fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |\n", w.label, spread(summarize(rates(w.name)), fmtRate),
			fmtRatio(summarize(ratios(rates(w.name), rates("bolt")))), fmtDur(l.Med), fmtDur(l.P99), fmtDur(cpuPer(w.name)), csw)
	}
	rp.details = append(rp.details, tbl)
	return nil
}

const durableDiagnosis = "A durable write(2) is a FUSE round trip, sealing the envelope, one store " +
	"commit (bbolt: write the dirty pages, fdatasync, write the meta page, fdatasync), then the log " +
	"cache, the event, the kernel cache invalidation and a kick of the outbox loop, which scans the " +
	"whole outbox. Concurrent writers share commits through the store's group commit."

// onlineResult is what onlineRates measured.
type onlineResult struct {
	rate1, rate8 float64
}

// onlineRates sends to 8 peers that are online and acknowledge: in-process
// engines whose state is on a tmpfs, so that only the messagefs node's
// commits (messages, and the outbox deletions of acknowledged ones) hit the
// disk. After each burst it waits (bounded) until every message is
// acknowledged.
func onlineRates(ctx context.Context, e *env, rp *report, d time.Duration) (onlineResult, error) {
	var res onlineResult
	tdir, err := e.tmpfs(rp)
	if err != nil {
		return res, err
	}
	nd, err := newMFSNode(e, "online")
	if err != nil {
		return res, err
	}
	peers := make([]*inNode, 8)
	for i := range peers {
		alias := fmt.Sprintf("peer%d", i)
		if peers[i], err = newInNode(filepath.Join(tdir, alias), alias, 0, []string{nd.endpoint()}, false); err != nil {
			return res, err
		}
		if err := nd.trust(alias, peers[i].key.Public()); err != nil {
			return res, err
		}
		if err := peers[i].n.TrustKeyFile("online", keyFile(nd.key)); err != nil {
			return res, err
		}
	}
	if err := nd.start(ctx, e); err != nil {
		return res, err
	}
	defer nd.stop()
	for _, p := range peers {
		p.run()
		defer p.close()
	}
	if err := waitFor(ctx, 30*time.Second, "8 peers online", func() bool {
		b, err := os.ReadFile(nd.path(".peers"))
		return err == nil && strings.Count(string(b), " online ") >= 8
	}); err != nil {
		return res, err
	}
	fds := make([]int, 8)
	for i := range fds {
		if fds[i], err = syscall.Open(nd.path(fmt.Sprintf("peer%d", i)), syscall.O_WRONLY|syscall.O_CLOEXEC, 0); err != nil {
			return res, err
		}
		defer syscall.Close(fds[i])
	}
	outboxLen := func() int {
		b, _ := os.ReadFile(nd.path(".outbox"))
		return bytes.Count(b, []byte("\n"))
	}
	limit := 20 * time.Second
	if opt.quick {
		limit = 5 * time.Second
	}
	g := "### Durable write(2) to online peers that acknowledge\n\n" +
		"End-to-end; the messagefs node's 8 peers are in-process engines in the bench process with their state on " +
		"a tmpfs, so that only the node's own commits (messages, and the outbox deletions of acknowledged ones) " +
		fmt.Sprintf("hit the disk. Each line is one burst of %v; then the bench waits until the outbox is empty "+
			"(at most %v).\n\n", d, limit) +
		"| writers | messages | rate | write(2) p50 | write(2) p99 | unacknowledged at the end of the burst | time until all acknowledged |\n" +
		"| --- | --- | --- | --- | --- | --- | --- |\n"
	for _, w := range []int{1, 8} {
		if err := waitFor(ctx, limit, "the outbox to empty", func() bool { return outboxLen() == 0 }); err != nil && ctx.Err() != nil {
			return res, err
		}
		r, err := runWriters(ctx, w, d, writeOp(fds))
		if err != nil {
			return res, err
		}
		left := outboxLen()
		t := time.Now()
		drain := "—"
		if err := waitFor(ctx, limit, "the outbox to empty", func() bool { return outboxLen() == 0 }); err != nil {
			if ctx.Err() != nil {
				return res, err
			}
			drain = fmt.Sprintf("not within %v (%d left)", limit, outboxLen())
		} else {
			drain = fmtDur(time.Since(t).Seconds())
		}
		l := summarize(r.lats)
		g += fmt.Sprintf("| %d | %d | %s/s | %s | %s | %d | %s |\n", w, r.ops, fmtNum(r.rate()), fmtDur(l.Med), fmtDur(l.P99), left, drain)
		if w == 1 {
			res.rate1 = r.rate()
		} else {
			res.rate8 = r.rate()
		}
	}
	rp.growth = append(rp.growth, g)
	return res, nil
}

// offlineGrowth measures write(2) to a peer that is offline, so that every
// message stays in the outbox: how the cost of a message grows with the
// number already waiting.

func offlineGrowth(ctx context.Context, e *env, rp *report) error {
	nd, err := newMFSNode(e, "offline")
	if err != nil {
		return err
	}
	k, err := crypto.GenerateKey(crand.Reader)
	if err != nil {
		return err
	}
	if err := nd.trust("away", k.Public()); err != nil {
		return err
	}
	if err := nd.start(ctx, e); err != nil {
		return err
	}
	defer nd.stop()
	fd, err := syscall.Open(nd.path("away"), syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	bounds := []int{0, 1000, 5000, 10000, 20000}
	limit := 10 * time.Second
	if opt.quick {
		bounds, limit = []int{0, 500, 1000, 2000}, 5*time.Second
	}
	type bucket struct {
		lats    []float64
		el, cpu float64
	}
	var buckets []bucket
	t0 := time.Now()
	stopped := ""
	for b := 0; b+1 < len(bounds) && stopped == ""; b++ {
		var bk bucket
		c0, _ := procCPU(nd.pid())
		s0 := time.Now()
		for i := bounds[b]; i < bounds[b+1]; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if time.Since(t0) > limit {
				stopped = fmt.Sprintf("stopped at %d messages after %v", i, limit)
				break
			}
			w := time.Now()
			if err := writeMsg(fd, line); err != nil {
				return err
			}
			bk.lats = append(bk.lats, time.Since(w).Seconds())
		}
		c1, _ := procCPU(nd.pid())
		bk.el, bk.cpu = time.Since(s0).Seconds(), c1-c0
		if len(bk.lats) > 0 {
			buckets = append(buckets, bk)
		}
	}
	g := "### Durable write(2) to an offline peer, by outbox length\n\n" +
		"End-to-end; one writer, a messagefs node whose only peer is offline: every message stays in the " +
		"outbox, so the outbox holds as many messages as were written before. One continuous run on a fresh " +
		"node; each line covers the messages written while the outbox held that many."
	if stopped != "" {
		g += " (" + stopped + ".)"
	}
	g += "\n\n| outbox length | messages | write(2) p50 | write(2) p99 | rate | messagefs CPU per message |\n| --- | --- | --- | --- | --- | --- |\n"
	for i, bk := range buckets {
		l := summarize(bk.lats)
		n := float64(len(bk.lats))
		g += fmt.Sprintf("| %d–%d | %d | %s | %s | %s/s | %s |\n", bounds[i], bounds[i]+len(bk.lats), len(bk.lats),
			fmtDur(l.Med), fmtDur(l.P99), fmtNum(n/bk.el), fmtDur(bk.cpu/n))
	}
	rp.growth = append(rp.growth, g)
	return nil
}
