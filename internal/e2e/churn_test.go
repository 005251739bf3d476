package e2e

import (
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// seqLog records the numbers of the messages "PREFIX-N" whose write
// returned success, in order.
type seqLog struct {
	mu sync.Mutex
	ok []int
}

func (s *seqLog) add(n int) {
	s.mu.Lock()
	s.ok = append(s.ok, n)
	s.mu.Unlock()
}

func (s *seqLog) list() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.ok...)
}

// checkSeqLog checks that got (logTexts of a conversation) holds every
// successful "from: PREFIX-N" exactly once and in increasing N.
func checkSeqLog(s *seqLog, got []string, from, prefix string) error {
	seen := map[int]int{}
	last := -1
	for _, l := range got {
		rest, ok := strings.CutPrefix(l, from+": "+prefix+"-")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil {
			continue
		}
		seen[n]++
		if n <= last {
			return fmt.Errorf("%s-%d after %s-%d", prefix, n, prefix, last)
		}
		last = n
	}
	for n, c := range seen {
		if c != 1 {
			return fmt.Errorf("%s-%d shown %d times", prefix, n, c)
		}
	}
	missing := 0
	for _, n := range s.list() {
		if seen[n] != 1 {
			missing++
		}
	}
	if missing > 0 {
		return fmt.Errorf("%d acknowledged %s- messages missing", missing, prefix)
	}
	return nil
}

// TestPeerChurn: while alice writes to bob every 30ms, bob leaves and
// comes back eight times: stopped cleanly or killed, on the same port or a
// new one (a new ZRE UUID every time), and he writes to alice after each
// return. Every message that was acknowledged arrives exactly once and in
// order, both ways.
func TestPeerChurn(t *testing.T) {
	alice, bob := pair(t)
	bob.Connect(alice) // bob dials alice when he comes back
	var fromAlice, fromBob seqLog
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(30 * time.Millisecond):
			}
			if writeErr := writeOnce(alice.Path("bob"), fmt.Sprintf("a-%d", n)); writeErr == nil {
				fromAlice.add(n)
			}
		}
	}()

	const rounds = 8
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1))
	bobN := 0
	for r := 0; r < rounds; r++ {
		how := "stopped"
		if r%2 == 1 {
			how = "killed"
			bob.Kill()
		} else {
			bob.Stop()
		}
		if r%3 == 2 {
			bob.Port = FreePort(t)
			how += ", new port"
		}
		down := time.Duration(100+rng.IntN(700)) * time.Millisecond
		time.Sleep(down)
		bob.Start()
		for k := 0; k < 3; k++ {
			if writeOnce(bob.Path("alice"), fmt.Sprintf("b-%d", bobN)) == nil {
				fromBob.add(bobN)
			}
			bobN++
		}
		t.Logf("round %d: bob %s, down %v", r, how, down)
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	start := time.Now()
	Eventually(t, 45*time.Second, func() error {
		if err := checkSeqLog(&fromAlice, logTexts(t, bob.Path("alice")), "alice", "a"); err != nil {
			return fmt.Errorf("bob: %v", err)
		}
		if err := checkSeqLog(&fromBob, logTexts(t, alice.Path("bob")), "bob", "b"); err != nil {
			return fmt.Errorf("alice: %v", err)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // retries in flight must not duplicate
	if err := checkSeqLog(&fromAlice, logTexts(t, bob.Path("alice")), "alice", "a"); err != nil {
		t.Errorf("bob after settling: %v", err)
	}
	if err := checkSeqLog(&fromBob, logTexts(t, alice.Path("bob")), "bob", "b"); err != nil {
		t.Errorf("alice after settling: %v", err)
	}
	t.Logf("%d churn rounds: %d messages from alice and %d from bob delivered exactly once and in order (settled %v after the last round)",
		rounds, len(fromAlice.list()), len(fromBob.list()), time.Since(start))
}

// writeOnce sends one message with one write(2) and returns its error.
func writeOnce(path, text string) error {
	return writeFileErr(path, []byte(text+"\n"))
}

func writeFileErr(path string, data []byte) error {
	return os.WriteFile(path, data, 0o600)
}
