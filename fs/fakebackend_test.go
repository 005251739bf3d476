package fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"filippo.io/age"

	"github.com/messagefs/messagefs/node"
)

// fakeBackend is an in-memory Backend for the tests: logs, a trust map,
// pending keys, groups and an event hub. The alias "slow" is special: a
// Send to it waits until the request is interrupted (or 5 s), then
// commits anyway and counts the interruption in OutboxText.
type fakeBackend struct {
	hub *node.EventHub

	mu          sync.Mutex
	self        string
	trust       map[string]fakeKey
	pending     []node.PendingKey
	groups      map[string][]string
	logs        map[string]*fakeLog
	onChange    []func(node.Change)
	subscribes  int
	interrupted int
}

type fakeKey struct {
	rcpt  string
	added time.Time
}

type fakeLog struct {
	data  []byte
	mtime time.Time
}

// eventLimit is the per-reader queue of the fake's hub.
const eventLimit = 16

func newFakeBackend() *fakeBackend {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		panic(err)
	}
	return &fakeBackend{
		hub: node.NewEventHub(eventLimit, func(lost int) string {
			return fmt.Sprintf("%s warn overflow %d events lost\n", stamp(), lost)
		}),
		self:   id.Recipient().String(),
		trust:  make(map[string]fakeKey),
		groups: make(map[string][]string),
		logs:   map[string]*fakeLog{".all": {mtime: time.Now()}},
	}
}

func stamp() string { return time.Now().UTC().Format(time.RFC3339) }

func fingerprint(rcpt string) string {
	sum := sha256.Sum256([]byte(rcpt))
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:16]
}

// changed calls the OnChange callbacks; b.mu must not be held.
func (b *fakeBackend) changed(cs ...node.Change) {
	b.mu.Lock()
	fs := slices.Clone(b.onChange)
	b.mu.Unlock()
	for _, c := range cs {
		for _, f := range fs {
			f(c)
		}
	}
}

func (b *fakeBackend) SelfRecipient() string { return b.self }

func (b *fakeBackend) Aliases() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var as []string
	for a := range b.trust {
		as = append(as, a)
	}
	sort.Strings(as)
	return as
}

func (b *fakeBackend) TrustedKey(alias string) (string, time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.trust[alias]
	if !ok {
		return "", time.Time{}, fmt.Errorf("alias %q: %w", alias, node.ErrNotFound)
	}
	return k.rcpt, k.added, nil
}

// parseKeyFile is the fake's key file syntax check.
func parseKeyFile(content []byte) (string, error) {
	if bytes.Contains(content, []byte("AGE-SECRET-KEY-")) {
		return "", fmt.Errorf("%w: this is a secret identity, not a public key; run mfs-keygen -y", node.ErrInvalid)
	}
	var keys []string
	for _, line := range strings.Split(string(content), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		keys = append(keys, line)
	}
	if len(keys) != 1 {
		return "", fmt.Errorf("%w: want one age1... line, have %d", node.ErrInvalid, len(keys))
	}
	if _, err := age.ParseX25519Recipient(keys[0]); err != nil {
		return "", fmt.Errorf("%w: %v", node.ErrInvalid, err)
	}
	return keys[0], nil
}

// trustLocked trusts rcpt as alias; b.mu is held.
func (b *fakeBackend) trustLocked(alias, rcpt string) error {
	if err := b.checkLocked(alias, rcpt); err != nil {
		return err
	}
	if _, ok := b.trust[alias]; ok {
		return nil
	}
	b.trust[alias] = fakeKey{rcpt: rcpt, added: time.Now()}
	if b.logs[alias] == nil {
		b.logs[alias] = &fakeLog{mtime: time.Now()}
	}
	return nil
}

// checkLocked returns the error trusting rcpt as alias would give; b.mu
// is held.
func (b *fakeBackend) checkLocked(alias, rcpt string) error {
	if !validAlias(alias) {
		return fmt.Errorf("%w: bad alias %q", node.ErrInvalid, alias)
	}
	if k, ok := b.trust[alias]; ok {
		if k.rcpt == rcpt {
			return nil
		}
		return fmt.Errorf("%w: alias %s names another key; remove it first", node.ErrExists, alias)
	}
	if _, ok := b.groups[alias]; ok {
		return fmt.Errorf("%w: %s is a group", node.ErrExists, alias)
	}
	for a, k := range b.trust {
		if k.rcpt == rcpt {
			return fmt.Errorf("%w: key is trusted as %s", node.ErrExists, a)
		}
	}
	return nil
}

func (b *fakeBackend) CheckKeyFile(alias string, content []byte) error {
	rcpt, err := parseKeyFile(content)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.checkLocked(alias, rcpt)
}

func (b *fakeBackend) TrustKeyFile(alias string, content []byte) error {
	rcpt, err := parseKeyFile(content)
	if err != nil {
		return err
	}
	b.mu.Lock()
	err = b.trustLocked(alias, rcpt)
	b.mu.Unlock()
	if err == nil {
		b.changed(node.Change{Dir: ""}, node.Change{Dir: "keys"})
	}
	return err
}

func (b *fakeBackend) Revoke(alias string) error {
	b.mu.Lock()
	_, ok := b.trust[alias]
	delete(b.trust, alias)
	b.mu.Unlock()
	if !ok {
		return fmt.Errorf("alias %q: %w", alias, node.ErrNotFound)
	}
	b.changed(node.Change{Dir: ""}, node.Change{Dir: "keys"})
	return nil
}

func (b *fakeBackend) RenameAlias(oldAlias, newAlias string) error {
	b.mu.Lock()
	k, ok := b.trust[oldAlias]
	switch {
	case !ok:
		b.mu.Unlock()
		return fmt.Errorf("alias %q: %w", oldAlias, node.ErrNotFound)
	case !validAlias(newAlias):
		b.mu.Unlock()
		return fmt.Errorf("%w: bad alias %q", node.ErrInvalid, newAlias)
	}
	if _, taken := b.trust[newAlias]; taken {
		b.mu.Unlock()
		return fmt.Errorf("%w: alias %s is taken", node.ErrExists, newAlias)
	}
	delete(b.trust, oldAlias)
	b.trust[newAlias] = k
	b.logs[newAlias] = b.logs[oldAlias]
	delete(b.logs, oldAlias)
	for g, ms := range b.groups {
		if i := slices.Index(ms, oldAlias); i >= 0 {
			b.groups[g][i] = newAlias
		}
	}
	b.mu.Unlock()
	b.changed(node.Change{Dir: ""}, node.Change{Dir: "keys"})
	return nil
}

func (b *fakeBackend) Pending() []node.PendingKey {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.pending)
}

// addPending announces a new key from an untrusted node.
func (b *fakeBackend) addPending() (node.PendingKey, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return node.PendingKey{}, err
	}
	rcpt := id.Recipient().String()
	pk := node.PendingKey{Fingerprint: fingerprint(rcpt), Recipient: rcpt, Seen: time.Now()}
	b.mu.Lock()
	b.pending = append(b.pending, pk)
	b.mu.Unlock()
	b.hub.Publish(fmt.Sprintf("%s pending %s %s\n", stamp(), pk.Fingerprint, rcpt))
	b.changed(node.Change{Dir: "keys/pending"})
	return pk, nil
}

func (b *fakeBackend) TrustPending(fpr, alias string) error {
	b.mu.Lock()
	i := slices.IndexFunc(b.pending, func(k node.PendingKey) bool { return k.Fingerprint == fpr })
	if i < 0 {
		b.mu.Unlock()
		return fmt.Errorf("pending key %s: %w", fpr, node.ErrNotFound)
	}
	if err := b.trustLocked(alias, b.pending[i].Recipient); err != nil {
		b.mu.Unlock()
		return err
	}
	b.pending = slices.Delete(b.pending, i, i+1)
	b.mu.Unlock()
	b.changed(node.Change{Dir: ""}, node.Change{Dir: "keys"}, node.Change{Dir: "keys/pending"})
	return nil
}

func (b *fakeBackend) Groups() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var gs []string
	for g := range b.groups {
		gs = append(gs, g)
	}
	sort.Strings(gs)
	return gs
}

func (b *fakeBackend) GroupMembers(group string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ms, ok := b.groups[group]
	if !ok {
		return nil, fmt.Errorf("group %q: %w", group, node.ErrNotFound)
	}
	return slices.Clone(ms), nil
}

func (b *fakeBackend) CreateGroup(group string) error {
	return b.createGroup(group, nil)
}

func (b *fakeBackend) createGroup(group string, members []string) error {
	b.mu.Lock()
	_, isGroup := b.groups[group]
	_, isAlias := b.trust[group]
	switch {
	case !validAlias(group):
		b.mu.Unlock()
		return fmt.Errorf("%w: bad group name %q", node.ErrInvalid, group)
	case isGroup || isAlias:
		b.mu.Unlock()
		return fmt.Errorf("%w: %s", node.ErrExists, group)
	}
	b.groups[group] = slices.Clone(members)
	b.logs[group+"/.all"] = &fakeLog{mtime: time.Now()}
	b.mu.Unlock()
	b.changed(node.Change{Dir: ""})
	return nil
}

func (b *fakeBackend) LeaveGroup(group string) error {
	b.mu.Lock()
	_, ok := b.groups[group]
	delete(b.groups, group)
	delete(b.logs, group+"/.all")
	b.mu.Unlock()
	if !ok {
		return fmt.Errorf("group %q: %w", group, node.ErrNotFound)
	}
	b.changed(node.Change{Dir: ""})
	return nil
}

func (b *fakeBackend) AddMember(group, alias string) error {
	b.mu.Lock()
	ms, ok := b.groups[group]
	_, trusted := b.trust[alias]
	switch {
	case !ok:
		b.mu.Unlock()
		return fmt.Errorf("group %q: %w", group, node.ErrNotFound)
	case !trusted:
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", alias, node.ErrNotTrusted)
	case slices.Contains(ms, alias):
		b.mu.Unlock()
		return nil
	}
	b.groups[group] = append(ms, alias)
	b.mu.Unlock()
	b.changed(node.Change{Dir: group})
	return nil
}

func (b *fakeBackend) RemoveMember(group, alias string) error {
	b.mu.Lock()
	ms := b.groups[group]
	i := slices.Index(ms, alias)
	if i < 0 {
		b.mu.Unlock()
		return fmt.Errorf("member %s of %s: %w", alias, group, node.ErrNotFound)
	}
	b.groups[group] = slices.Delete(ms, i, i+1)
	b.mu.Unlock()
	b.changed(node.Change{Dir: group})
	return nil
}

// logLocked returns the visible log at where; b.mu is held.
func (b *fakeBackend) logLocked(where string) (*fakeLog, error) {
	l := b.logs[where]
	visible := l != nil
	if g, ok := strings.CutSuffix(where, "/.all"); ok {
		_, visible = b.groups[g]
	} else if where != ".all" {
		_, visible = b.trust[where]
	}
	if l == nil || !visible {
		return nil, fmt.Errorf("log %q: %w", where, node.ErrNotFound)
	}
	return l, nil
}

func (b *fakeBackend) LogStat(where string) (int64, time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, err := b.logLocked(where)
	if err != nil {
		return 0, time.Time{}, err
	}
	return int64(len(l.data)), l.mtime, nil
}

func (b *fakeBackend) ReadLog(where string, p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, err := b.logLocked(where)
	if err != nil {
		return 0, err
	}
	if off >= int64(len(l.data)) {
		return 0, io.EOF
	}
	n := copy(p, l.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// appendLine adds a rendered message to a log and publishes its event.
func (b *fakeBackend) appendLine(where, from string, text []byte) error {
	b.mu.Lock()
	l, err := b.logLocked(where)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	body := strings.ReplaceAll(string(text), "\n", "\n\t")
	l.data = append(l.data, fmt.Sprintf("%s %s %s\n", stamp(), from, body)...)
	l.mtime = time.Now()
	b.mu.Unlock()
	b.hub.Publish(fmt.Sprintf("%s msg %s %s %s\n", stamp(), where, from, strings.ReplaceAll(string(text), "\n", `\n`)))
	b.changed(node.Change{Where: where})
	return nil
}

func (b *fakeBackend) Send(ctx context.Context, where string, text []byte) error {
	if !utf8.Valid(text) {
		return fmt.Errorf("%w: text is not valid UTF-8", node.ErrInvalid)
	}
	text = bytes.TrimSuffix(text, []byte("\n"))
	if len(text) > node.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes", node.ErrTooLarge, len(text))
	}
	if len(text) == 0 {
		return nil
	}
	if where == "slow" {
		select {
		case <-ctx.Done():
			b.mu.Lock()
			b.interrupted++
			b.mu.Unlock()
		case <-time.After(5 * time.Second):
		}
	}
	return b.appendLine(where, "me", text)
}

func (b *fakeBackend) DeleteHistory(where string) error {
	b.mu.Lock()
	l, err := b.logLocked(where)
	if err == nil {
		l.data = nil
		l.mtime = time.Now()
	}
	b.mu.Unlock()
	if err == nil {
		b.changed(node.Change{Where: where})
	}
	return err
}

func (b *fakeBackend) PeersText() []byte {
	var buf bytes.Buffer
	for _, a := range b.Aliases() {
		k, _, _ := b.TrustedKey(a)
		fmt.Fprintf(&buf, "%s - present %s\n", a, fingerprint(k))
	}
	return buf.Bytes()
}

func (b *fakeBackend) OutboxText() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Appendf(nil, "interrupted-sends %d\n", b.interrupted)
}

func (b *fakeBackend) Subscribe() *node.Subscription {
	b.mu.Lock()
	b.subscribes++
	b.mu.Unlock()
	return b.hub.Subscribe()
}

func (b *fakeBackend) OnChange(f func(node.Change)) {
	b.mu.Lock()
	b.onChange = append(b.onChange, f)
	b.mu.Unlock()
}

var _ Backend = (*fakeBackend)(nil)
