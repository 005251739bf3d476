package e2e

import (
	"context"
	"encoding/hex"
	"slices"

	"filippo.io/age"
	"fmt"
	"github.com/messagefs/messagefs/store"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writerLog records, per concurrent writer, the numbers of the messages
// whose write(2) returned success.
type writerLog struct {
	pause time.Duration // between writes of one writer

	mu   sync.Mutex
	ok   map[int][]int
	next map[int]int
	errs map[string]int
}

func newWriterLog() *writerLog {
	return &writerLog{ok: map[int][]int{}, next: map[int]int{}, errs: map[string]int{}}
}

// run writes "wW-N" messages to path from writer w, one write(2) each,
// until stop is closed; N grows by one per attempt, whatever the outcome.
func (wl *writerLog) run(path string, w int, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-stop:
			return
		default:
		}
		wl.mu.Lock()
		n := wl.next[w]
		wl.next[w]++
		wl.mu.Unlock()
		// O_WRONLY without O_CREATE: once the mount is gone, a create
		// would make a plain file in the empty mount point and "succeed".
		err := writeExisting(path, []byte(fmt.Sprintf("w%d-%d\n", w, n)))
		wl.mu.Lock()
		if err == nil {
			wl.ok[w] = append(wl.ok[w], n)
		} else {
			wl.errs[errText(err)]++
		}
		wl.mu.Unlock()
		if err != nil {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(wl.pause)
	}
}

// writeExisting writes data to an existing file with one write(2).
func writeExisting(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// crash kills a node with SIGKILL and leaves its mount stale (the harness's
// Kill unmounts at once, which would let writers in the test process write
// into the bare mount point).
func crash(n *Node) {
	n.cmd.Process.Kill()
	<-n.done
}

func errText(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

func (wl *writerLog) total() int {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	n := 0
	for _, l := range wl.ok {
		n += len(l)
	}
	return n
}

var writerMsg = regexp.MustCompile(`^w(\d+)-(\d+)$`)

// checkWriterHistory checks that a log (as logTexts returns it, sender
// from) holds every successful write exactly once, nothing twice, and each
// writer's messages in the order they were written.
func checkWriterHistory(wl *writerLog, got []string, from string) error {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	seen := map[string]int{}
	last := map[int]int{}
	for _, l := range got {
		text, ok := strings.CutPrefix(l, from+": ")
		if !ok {
			continue
		}
		m := writerMsg.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		seen[text]++
		w, _ := strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		if p, ok := last[w]; ok && n <= p {
			return fmt.Errorf("writer %d: w%d-%d after w%d-%d (out of order)", w, w, n, w, p)
		}
		last[w] = n
	}
	for text, c := range seen {
		if c != 1 {
			return fmt.Errorf("%s shown %d times", text, c)
		}
	}
	missing := 0
	var example string
	for w, ns := range wl.ok {
		for _, n := range ns {
			if seen[fmt.Sprintf("w%d-%d", w, n)] != 1 {
				missing++
				example = fmt.Sprintf("w%d-%d", w, n)
			}
		}
	}
	if missing > 0 {
		return fmt.Errorf("%d acknowledged writes missing (e.g. %s)", missing, example)
	}
	return nil
}

// checkBolt runs bbolt's consistency check on a stopped node's database.
func checkBolt(t *testing.T, n *Node) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(n.State, "messagefs.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("opening %s's database: %v", n.Name, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("%s's database: %v", n.Name, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// TestCrashUnderConcurrentWriters: four writers send to bob from alice's
// mount while alice (the sender) or bob (the receiver) is killed with
// SIGKILL at a random moment, five times, and restarted. Every write that
// returned success is in alice's history and reaches bob exactly once and
// in each writer's order; the databases pass bbolt's check; the keyrings
// are unchanged.
func TestCrashUnderConcurrentWriters(t *testing.T) {
	alice, bob := pair(t)
	bob.Connect(alice) // a restarted bob dials alice himself
	keysA, keysB := listDir(t, alice.Path("keys")), listDir(t, bob.Path("keys"))
	const writers, rounds = 4, 5
	wl := newWriterLog()
	seed := time.Now().UnixNano()
	rng := mrand.New(mrand.NewPCG(uint64(seed), 0))
	t.Logf("random seed %d", seed)

	for round := 0; round < rounds; round++ {
		victim := alice
		if round%2 == 1 {
			victim = bob
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go wl.run(alice.Path("bob"), w, stop, &wg)
		}
		delay := time.Duration(200+rng.IntN(1000)) * time.Millisecond
		time.Sleep(delay)
		before := wl.total()
		crash(victim)
		if victim == bob {
			// alice keeps writing while bob is down.
			time.Sleep(300 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		Unmount(victim.Mount)
		t.Logf("round %d: killed %s after %v (%d writes acknowledged so far, %d at the kill)", round, victim.Name, delay, wl.total(), before)
		if d := os.Getenv("MFS_DUMP"); d != "" {
			os.WriteFile(filepath.Join(d, fmt.Sprintf("round%d-%s.log", round, victim.Name)), []byte(victim.Log()), 0o600)
		}
		victim.Start()
	}

	// Everything acknowledged arrives, once, in order.
	settle := time.Now()
	var err error
	for time.Since(settle) < 60*time.Second {
		if err = checkWriterHistory(wl, logTexts(t, bob.Path("alice")), "alice"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		outbox, _ := os.ReadFile(alice.Path(".outbox"))
		peersA, _ := os.ReadFile(alice.Path(".peers"))
		peersB, _ := os.ReadFile(bob.Path(".peers"))
		t.Errorf("bob, 60s after the last restart: %v\nalice's history: %v\nalice's .outbox has %d lines:\n%s\nalice's .peers: %s\nbob's .peers: %s",
			err, checkWriterHistory(wl, logTexts(t, alice.Path("bob")), "me"), strings.Count(string(outbox), "\n"), firstLines(string(outbox), 5), peersA, peersB)
		if d := os.Getenv("MFS_DUMP"); d != "" {
			os.WriteFile(filepath.Join(d, "alice.log"), []byte(alice.Log()), 0o600)
			os.WriteFile(filepath.Join(d, "bob.log"), []byte(bob.Log()), 0o600)
			os.WriteFile(filepath.Join(d, "bob.hist"), []byte(strings.Join(logTexts(t, bob.Path("alice")), "\n")), 0o600)
			os.WriteFile(filepath.Join(d, "alice.hist"), []byte(strings.Join(logTexts(t, alice.Path("bob")), "\n")), 0o600)
		}
		if d := os.Getenv("MFS_DUMP"); d != "" {
			alice.Stop()
			bob.Stop()
			wlForDump = wl
			dumpSeqs(t, alice, bob)
		}
		t.FailNow()
	}
	t.Logf("bob had everything %v after the last restart", time.Since(settle))
	if err := checkWriterHistory(wl, logTexts(t, alice.Path("bob")), "me"); err != nil {
		t.Errorf("alice's history: %v", err)
	}
	Eventually(t, 30*time.Second, func() error {
		if data, _ := os.ReadFile(alice.Path(".outbox")); len(data) != 0 {
			return fmt.Errorf("alice's outbox is not empty: %q", data)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // retries in flight must not duplicate
	if err := checkWriterHistory(wl, logTexts(t, bob.Path("alice")), "alice"); err != nil {
		t.Errorf("bob's history after settling: %v", err)
	}
	// Whatever bob shows, alice wrote (a write cut by the crash may be in
	// both histories without having returned success: that is fine).
	mine := map[string]bool{}
	for _, l := range logTexts(t, alice.Path("bob")) {
		mine[strings.TrimPrefix(l, "me: ")] = true
	}
	extra := 0
	for _, l := range logTexts(t, bob.Path("alice")) {
		if !mine[strings.TrimPrefix(l, "alice: ")] {
			t.Errorf("bob shows %q, which is not in alice's history", l)
		}
	}
	for range mine {
		extra++
	}
	extra -= wl.total()
	if got := listDir(t, alice.Path("keys")); got != keysA {
		t.Errorf("alice's keys/ changed: %s, was %s", got, keysA)
	}
	if got := listDir(t, bob.Path("keys")); got != keysB {
		t.Errorf("bob's keys/ changed: %s, was %s", got, keysB)
	}
	total := wl.total()
	wl.mu.Lock()
	t.Logf("%d kills survived; %d writes acknowledged, %d more committed but cut by a crash; write errors: %v", rounds, total, extra, wl.errs)
	wl.mu.Unlock()
	alice.Stop()
	bob.Stop()
	checkBolt(t, alice)
	checkBolt(t, bob)
}

// dumpSeqs logs alice's outbox sequence numbers and what bob has
// delivered, from their stopped databases (diagnostics with MFS_DUMP=DIR,
// which also saves every node run's log in DIR).
var wlForDump *writerLog

func readOr(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func dumpSeqs(t *testing.T, alice, bob *Node) {
	open := func(n *Node) *store.Store {
		id, err := age.ParseX25519Identity(identityOf(t, n).String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := store.Open(filepath.Join(n.State, "messagefs.db"), id, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ak, bk := pubOf(t, alice.Recipient()), pubOf(t, bob.Recipient())
	sa := open(alice)
	var seqs []uint64
	var aliceCount int
	sa.View(func(tx *store.Tx) error {
		tx.Entries("p:"+hex.EncodeToString(bk[:]), 1, func(_ uint64, e store.Entry) error {
			aliceCount++
			return nil
		})
		return tx.Outbox(func(it store.OutboxItem) error { seqs = append(seqs, it.Seq); return nil })
	})
	var nextSeq uint64
	sa.Update(context.Background(), func(tx *store.Tx) error {
		var err error
		nextSeq, err = tx.NextSendSeq(hex.EncodeToString(bk[:]))
		return err
	})
	sa.Close()
	t.Logf("alice's store: %d messages to bob, next send sequence %d", aliceCount, nextSeq)
	slices.Sort(seqs)
	sb := open(bob)
	var delivered uint64
	var stored []string
	sb.View(func(tx *store.Tx) error {
		delivered = tx.DeliveredSeq(hex.EncodeToString(ak[:]))
		return tx.Entries("p:"+hex.EncodeToString(ak[:]), 1, func(_ uint64, e store.Entry) error {
			stored = append(stored, "alice: "+string(e.Text))
			return nil
		})
	})
	sb.Close()
	t.Logf("bob's store holds %d messages from alice; his mount showed %d", len(stored), len(strings.Split(readOr(filepath.Join(os.Getenv("MFS_DUMP"), "bob.hist")), "\n")))
	if err := checkWriterHistory(wlForDump, stored, "alice"); err != nil {
		t.Logf("bob's store: %v", err)
	} else {
		t.Logf("bob's store has every acknowledged write: the mount showed a stale log")
	}
	_ = bk
	t.Logf("alice's outbox seqs: %d items, first %v, last %v; bob delivered %d", len(seqs), seqs[:min(5, len(seqs))], seqs[max(0, len(seqs)-3):], delivered)
}
