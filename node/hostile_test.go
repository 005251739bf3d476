package node

// In-process hardening tests: a peer that leaves and rejoins many times
// leaks no goroutines, memory or file descriptors; and fuzz targets for
// the node's own parsers and renderers (what remote text turns into on a
// terminal, and the group outbox record).

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/messagefs/messagefs/crypto"
)

type hnResources struct {
	goroutines int
	heap       uint64
	fds        int
}

func hnMeasure() hnResources {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, _ := os.ReadDir("/proc/self/fd")
	return hnResources{goroutines: runtime.NumGoroutine(), heap: ms.HeapAlloc, fds: len(fds)}
}

// TestPeerChurnLeaksNothing: bob leaves and rejoins alice 40 times (a new
// node on the same state, a new ZRE UUID each time), exchanging a message
// each way every time. Goroutines, live heap and open file descriptors of
// the process (alice, and bob's stopped incarnations) stay bounded.
func TestPeerChurnLeaksNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("churn test skipped with -short")
	}
	ka, kb := genKey(t), genKey(t)
	pa, pb := freePort(t), freePort(t)
	bobState := t.TempDir()
	alice := startTestNode(t, "alice", t.TempDir(), ka, pa, nil)
	t.Cleanup(alice.stop)
	aliceEP := fmt.Sprintf("tcp://127.0.0.1:%d", pa)
	if err := alice.TrustKeyFile("bob", keyFile(kb)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rounds, warmup := 40, 2
	if s := os.Getenv("MFS_CHURN_ROUNDS"); s != "" {
		fmt.Sscan(s, &rounds)
	}
	var base hnResources
	var current *testNode
	t.Cleanup(func() {
		if current != nil {
			current.stop()
		}
	})
	start := time.Now()
	for r := 0; r < rounds; r++ {
		if r == warmup {
			base = hnMeasure()
		}
		// mesh admits at most 16 new peers a second (after a burst of
		// 64), and every rejoin is a new ZRE UUID: stay under that rate.
		next := time.Now().Add(70 * time.Millisecond)
		// One cleanup for the current incarnation only: a cleanup or defer
		// per round would keep every incarnation reachable.
		bob := startTestNode(t, "bob", bobState, kb, pb, nil, aliceEP)
		current = bob
		if r == 0 {
			if err := bob.TrustKeyFile("alice", keyFile(ka)); err != nil {
				t.Fatal(err)
			}
		}
		if err := bob.Send(ctx, "alice", []byte(fmt.Sprintf("from bob %d", r))); err != nil {
			t.Fatal(err)
		}
		alice.waitEvent(t, fmt.Sprintf(" msg bob bob from bob %d", r))
		if err := alice.Send(ctx, "bob", []byte(fmt.Sprintf("from alice %d", r))); err != nil {
			t.Fatal(err)
		}
		bob.waitEvent(t, fmt.Sprintf(" msg alice alice from alice %d", r))
		bob.events.Close()
		bob.stop()
		current = nil
		time.Sleep(time.Until(next))
	}
	elapsed := time.Since(start)
	var after hnResources
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = hnMeasure()
		ok := after.goroutines <= base.goroutines+10 && after.fds <= base.fds+10
		if ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d rejoins in %v: goroutines %d -> %d, live heap %d -> %d KiB, fds %d -> %d",
		rounds, elapsed, base.goroutines, after.goroutines, base.heap>>10, after.heap>>10, base.fds, after.fds)
	if after.goroutines > base.goroutines+10 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines grew from %d to %d over %d rejoins:\n%s", base.goroutines, after.goroutines, rounds-warmup, buf[:runtime.Stack(buf, true)])
	}
	if after.fds > base.fds+10 {
		t.Errorf("open file descriptors grew from %d to %d over %d rejoins", base.fds, after.fds, rounds-warmup)
	}
	if after.heap > base.heap+16<<20 {
		t.Errorf("live heap grew from %d to %d KiB over %d rejoins", base.heap>>10, after.heap>>10, rounds-warmup)
	}
	got := readAll(t, alice.Node, "bob")
	for r := 0; r < rounds; r++ {
		if c := strings.Count(got, fmt.Sprintf(" bob from bob %d\n", r)); c != 1 {
			t.Errorf("alice shows bob's message %d %d times", r, c)
		}
	}
}

// --- fuzz targets ---

// terminalSafe reports the first rune of s that could act on a terminal:
// controls other than tab and newline, DEL, C1, format characters (bidi,
// zero width), line and paragraph separators and invalid UTF-8.
func terminalSafe(s string) (rune, bool) {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return r, false
			}
		}
		switch {
		case r == '\n' || r == '\t':
		case r < 0x20 || (r >= 0x7f && r <= 0x9f), unicode.Is(unicode.Cf, r), r == '\u2028', r == '\u2029':
			return r, false
		}
	}
	return 0, true
}

var hostileSeeds = []string{
	"", "plain", "\x1b[2J\x1b]0;pwned\x07", "\u202eevil\u202c", "\u2066x\u2069", "zw\u200bj\u200d",
	"\u0085\u009b31m", "\x00\r\x7f", "a\nb\n\tc", "\xff\xfe", "\xed\xa0\x80", "\u2028\u2029\ufeff",
	"2026-01-01T00:00:00Z bob forged\n2026-01-01T00:00:00Z bob again", `back\slash \n not a newline`,
}

// FuzzRenderLogLine: whatever a peer sends (and whatever its alias), its
// rendered log line is terminal safe, ends in one newline and continues
// only on lines that start with a tab, so it cannot forge another line.
func FuzzRenderLogLine(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add("bob", s)
	}
	f.Add("b\x1bob", "x")
	f.Fuzz(func(t *testing.T, from, text string) {
		line := renderLogLine(time.Unix(1e9, 0), from, text)
		if r, ok := terminalSafe(line); !ok {
			t.Fatalf("unsafe rune %U in %q", r, line)
		}
		if !strings.HasSuffix(line, "\n") {
			t.Fatalf("no final newline: %q", line)
		}
		lines := strings.Split(strings.TrimSuffix(line, "\n"), "\n")
		if f := strings.Fields(lines[0]); len(f) < 2 || strings.ContainsAny(f[1], " \t") {
			t.Fatalf("first line %q has no single-word sender", lines[0])
		}
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l, "\t") {
				t.Fatalf("continuation line %q does not start with a tab", l)
			}
		}
	})
}

// FuzzEventLine: an event is always exactly one terminal-safe line, and
// the words before the free text have no spaces.
func FuzzEventLine(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add("bob", "bob", s)
	}
	f.Add("te am", "b\nob", "x")
	f.Fuzz(func(t *testing.T, where, from, text string) {
		line := eventLine(time.Unix(1e9, 0), "msg", where, from, text)
		if r, ok := terminalSafe(line); !ok {
			t.Fatalf("unsafe rune %U in %q", r, line)
		}
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("not one line: %q", line)
		}
		if strings.Contains(line, "\t") {
			t.Fatalf("raw tab in %q", line)
		}
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 5)
		if len(f) != 5 || f[1] != "msg" {
			t.Fatalf("fields of %q: %q", line, f)
		}
	})
}

// FuzzNormalizeText: what one write(2) delivers becomes a message only if
// it is valid UTF-8 of at most MaxMessageSize bytes, with one trailing
// newline dropped; nothing panics.
func FuzzNormalizeText(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte("hello\n"))
	f.Add([]byte("\n"))
	f.Add(bytes.Repeat([]byte("x"), MaxMessageSize+1))
	f.Fuzz(func(t *testing.T, p []byte) {
		text, ok, err := normalizeText(p)
		if err != nil || !ok {
			if ok {
				t.Fatalf("ok with error %v", err)
			}
			return
		}
		if !utf8.ValidString(text) || len(text) > MaxMessageSize || text == "" {
			t.Fatalf("accepted %q", text)
		}
		if want := strings.TrimSuffix(string(p), "\n"); text != want {
			t.Fatalf("normalizeText(%q) = %q, want %q", p, text, want)
		}
	})
}

// FuzzDecodeGroupOut: a group outbox record read back from the store
// never panics the node, and what decodes re-encodes to the same bytes.
func FuzzDecodeGroupOut(f *testing.F) {
	var k1, k2 crypto.PublicKey
	rand.Read(k1[:])
	rand.Read(k2[:])
	f.Add(encodeGroupOut(nil, []byte("msg")))
	f.Add(encodeGroupOut([]crypto.PublicKey{k1, k2}, []byte("group message")))
	f.Add([]byte{0xff, 0xff, 1, 2, 3})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, p []byte) {
		keys, msg, err := decodeGroupOut(p)
		if err != nil {
			return
		}
		if again := encodeGroupOut(keys, msg); !bytes.Equal(again, p) {
			t.Fatalf("decode/encode changed %x into %x", p, again)
		}
	})
}
