package keyring

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messagefs/messagefs/crypto"
)

func TestPending(t *testing.T) {
	var p Pending // the zero value is ready
	t0 := time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)
	a, b := newKey(t).Public(), newKey(t).Public()
	if !p.Note(a, t0) {
		t.Fatalf("first Note returned false")
	}
	if p.Note(a, t0.Add(time.Minute)) {
		t.Fatalf("second Note returned true")
	}
	if !p.Note(b, t0.Add(2*time.Minute)) {
		t.Fatalf("Note(b) returned false")
	}
	if p.Note(crypto.PublicKey{}, t0) {
		t.Fatalf("Note accepted a low-order key")
	}
	e, ok := p.Lookup(a.Fingerprint())
	if !ok || e.Key != a || e.Fingerprint != a.Fingerprint() || !e.FirstSeen.Equal(t0) || !e.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Lookup(a) = %+v, %v", e, ok)
	}
	list := p.List()
	if len(list) != 2 || p.Len() != 2 || !slices.IsSortedFunc(list, func(x, y PendingEntry) int {
		return strings.Compare(x.Fingerprint, y.Fingerprint)
	}) {
		t.Fatalf("List() = %+v", list)
	}
	if key, ok := p.Take(a.Fingerprint()); !ok || key != a {
		t.Fatalf("Take(a) = %v, %v", key, ok)
	}
	if _, ok := p.Take(a.Fingerprint()); ok {
		t.Fatalf("second Take succeeded")
	}
	if _, ok := p.Lookup("nosuchfingerprnt"); ok {
		t.Fatalf("Lookup of an unknown fingerprint succeeded")
	}
	p.Remove(b)
	p.Remove(b)
	if p.Len() != 0 {
		t.Fatalf("Len() = %d after Remove", p.Len())
	}
	// A key taken and announced again is new again.
	if !p.Note(a, t0) {
		t.Fatalf("Note after Take returned false")
	}
}

func TestPendingCap(t *testing.T) {
	p := NewPending(3)
	t0 := time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)
	keys := make([]crypto.PublicKey, 5)
	for i := range keys {
		keys[i] = newKey(t).Public()
	}
	for i := range 3 {
		p.Note(keys[i], t0.Add(time.Duration(i)*time.Second))
	}
	// keys[0] is announced again: now keys[1] is the least recently seen.
	p.Note(keys[0], t0.Add(10*time.Second))
	p.Note(keys[3], t0.Add(11*time.Second))
	if _, ok := p.Lookup(keys[1].Fingerprint()); ok || p.Len() != 3 {
		t.Fatalf("keys[1] not evicted: Len() = %d", p.Len())
	}
	p.Note(keys[4], t0.Add(12*time.Second))
	for i, want := range []bool{true, false, false, true, true} {
		if _, ok := p.Lookup(keys[i].Fingerprint()); ok != want {
			t.Errorf("keys[%d] pending = %v, want %v", i, ok, want)
		}
	}

	// The default cap holds under a flood.
	var q Pending
	for range 3 * DefaultPendingMax {
		q.Note(newKey(t).Public(), time.Now())
	}
	if q.Len() != DefaultPendingMax {
		t.Fatalf("Len() = %d after a flood, want %d", q.Len(), DefaultPendingMax)
	}
	if NewPending(0).limit() != DefaultPendingMax {
		t.Fatalf("NewPending(0) has no default limit")
	}
}

func TestPendingConcurrent(t *testing.T) {
	p := NewPending(8)
	keys := make([]crypto.PublicKey, 20)
	for i := range keys {
		keys[i] = newKey(t).Public()
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := keys[(g+i)%len(keys)]
				switch i % 4 {
				case 0, 1:
					p.Note(k, time.Now())
				case 2:
					p.Take(k.Fingerprint())
				case 3:
					_ = p.List()
					p.Remove(k)
				}
			}
		})
	}
	wg.Wait()
	if n := p.Len(); n > 8 {
		t.Fatalf("Len() = %d over the cap", n)
	}
	for _, e := range p.List() {
		if e.Fingerprint != e.Key.Fingerprint() {
			t.Fatalf("entry %s holds key %s", e.Fingerprint, fmt.Sprint(e.Key))
		}
	}
}
