package keyring

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/messagefs/messagefs/crypto"
)

// DefaultPendingMax is the number of pending keys a Pending keeps when
// NewPending is given no limit.
const DefaultPendingMax = 64

// PendingEntry is a key announced by an untrusted node.
type PendingEntry struct {
	// Fingerprint names the entry: Key.Fingerprint().
	Fingerprint string
	Key         crypto.PublicKey
	// FirstSeen and LastSeen are the times of the first and the latest
	// announcement.
	FirstSeen, LastSeen time.Time
}

// Pending is a bounded, in-memory set of keys announced by untrusted nodes,
// keyed by fingerprint. When full it forgets the entry seen least recently,
// so a flood of announcements costs memory for at most Max entries. It does
// not know the keyring: callers note only keys they do not trust. The zero
// value is ready to use, with DefaultPendingMax entries. It is safe for
// concurrent use.
type Pending struct {
	mu      sync.Mutex
	max     int
	entries map[string]PendingEntry
}

// NewPending returns an empty Pending that keeps at most max entries
// (DefaultPendingMax if max <= 0).
func NewPending(max int) *Pending {
	return &Pending{max: max}
}

func (p *Pending) limit() int {
	if p.max <= 0 {
		return DefaultPendingMax
	}
	return p.max
}

// Note records that key was announced at now. It returns true if key was not
// pending before (the caller may then announce it to the user). Low-order
// keys are ignored.
func (p *Pending) Note(key crypto.PublicKey, now time.Time) bool {
	if crypto.CheckPublic(key) != nil {
		return false
	}
	fpr := key.Fingerprint()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entries == nil {
		p.entries = make(map[string]PendingEntry)
	}
	if e, ok := p.entries[fpr]; ok {
		if now.After(e.LastSeen) {
			e.LastSeen = now
			p.entries[fpr] = e
		}
		return false
	}
	for len(p.entries) >= p.limit() {
		p.evictLocked()
	}
	p.entries[fpr] = PendingEntry{Fingerprint: fpr, Key: key, FirstSeen: now, LastSeen: now}
	return true
}

// evictLocked forgets the entry seen least recently.
func (p *Pending) evictLocked() {
	var oldest PendingEntry
	first := true
	for _, e := range p.entries {
		if first || e.LastSeen.Before(oldest.LastSeen) ||
			e.LastSeen.Equal(oldest.LastSeen) && e.Fingerprint < oldest.Fingerprint {
			oldest, first = e, false
		}
	}
	delete(p.entries, oldest.Fingerprint)
}

// List returns the pending keys sorted by fingerprint.
func (p *Pending) List() []PendingEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PendingEntry, 0, len(p.entries))
	for _, e := range p.entries {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b PendingEntry) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	return out
}

// Lookup returns the pending entry named fpr.
func (p *Pending) Lookup(fpr string) (PendingEntry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[fpr]
	return e, ok
}

// Take removes the pending entry named fpr and returns its key, for the
// caller to trust it.
func (p *Pending) Take(fpr string) (crypto.PublicKey, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[fpr]
	if ok {
		delete(p.entries, fpr)
	}
	return e.Key, ok
}

// Remove forgets key, if it is pending (for instance once it is trusted).
func (p *Pending) Remove(key crypto.PublicKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.entries, key.Fingerprint())
}

// Len returns the number of pending keys.
func (p *Pending) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}
