package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/keyring"
	"github.com/messagefs/messagefs/store"
)

// Aliases returns the aliases of trusted peers, sorted.
func (n *Node) Aliases() []string {
	list := n.keys.List()
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, e.Alias)
	}
	return out
}

// TrustedKey returns the recipient trusted under alias.
func (n *Node) TrustedKey(alias string) (string, time.Time, error) {
	e, ok := n.keys.Lookup(alias)
	if !ok {
		return "", time.Time{}, fmt.Errorf("%w: no trusted key %q", ErrNotFound, alias)
	}
	return e.Key.String(), e.Added, nil
}

// TrustKeyFile trusts the key in a key file's content under alias.
func (n *Node) TrustKeyFile(alias string, content []byte) error {
	key, err := keyring.ParseKeyFile(content)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return n.trust(alias, key)
}

// CheckKeyFile returns the error TrustKeyFile(alias, content) would return
// now, without trusting anything.
func (n *Node) CheckKeyFile(alias string, content []byte) error {
	key, err := keyring.ParseKeyFile(content)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := n.checkTrust(alias, key); err != nil {
		return err
	}
	if e, ok := n.keys.Lookup(alias); ok && e.Key != key {
		return fmt.Errorf("%w: alias %q is used by another key: remove keys/%s.pub first", ErrExists, alias, alias)
	}
	if e, ok := n.keys.ByKey(key); ok && e.Alias != alias {
		return fmt.Errorf("%w: this key is already trusted as %q", ErrExists, e.Alias)
	}
	return nil
}

// TrustPending trusts the pending key with fingerprint fpr as alias.
func (n *Node) TrustPending(fpr, alias string) error {
	n.mu.Lock()
	p, ok := n.pending.Lookup(fpr)
	n.mu.Unlock()
	key := p.Key
	if !ok {
		return fmt.Errorf("%w: no pending key %q", ErrNotFound, fpr)
	}
	return n.trust(alias, key)
}

// checkTrust checks what trusting key as alias needs, short of conflicts
// in the keyring.
func (n *Node) checkTrust(alias string, key crypto.PublicKey) error {
	if err := keyring.ValidAlias(alias); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if key == n.self {
		return fmt.Errorf("%w: that is this node's own key (keys/self.pub)", ErrInvalid)
	}
	if err := crypto.CheckPublic(key); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.isGroupNameLocked(alias) {
		return fmt.Errorf("%w: %q is the name of a group", ErrExists, alias)
	}
	return nil
}

func (n *Node) trust(alias string, key crypto.PublicKey) error {
	if err := n.checkTrust(alias, key); err != nil {
		return err
	}
	if err := n.keys.Add(alias, key); err != nil {
		if errors.Is(err, keyring.ErrExists) {
			return fmt.Errorf("%w: %w", ErrExists, err)
		}
		return err
	}
	n.mu.Lock()
	n.pending.Remove(key)
	online := false
	if p := n.peers[key]; p != nil {
		online = p.online()
		n.outbox.retryNow(key, time.Now())
	}
	n.mu.Unlock()
	n.log.Info("trusted key", "alias", alias, "fingerprint", key.Fingerprint())
	n.changed(Change{Dir: ""})
	n.changed(Change{Dir: "keys"})
	n.changed(Change{Dir: "keys/pending"})
	if online {
		n.emit("enter", alias)
		n.wakeOutbox()
	}
	return nil
}

// Revoke removes the trust in alias. Its history stays; messages still
// waiting for it are dropped from the outbox, and nothing from its key is
// accepted any more.
func (n *Node) Revoke(alias string) error {
	e, ok := n.keys.Lookup(alias)
	if !ok {
		return fmt.Errorf("%w: no trusted key %q", ErrNotFound, alias)
	}
	if err := n.keys.Remove(alias); err != nil {
		return err
	}
	n.mu.Lock()
	drop := n.outbox.to(e.Key)
	if p := n.peers[e.Key]; p != nil {
		p.pw = nil
	}
	n.mu.Unlock()
	if len(drop) > 0 {
		err := n.db.Update(context.Background(), func(tx *store.Tx) error {
			for _, id := range drop {
				if err := tx.DeleteOutbox(id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			n.log.Warn("dropping a revoked peer's outbox", "err", err)
		} else {
			n.mu.Lock()
			for _, id := range drop {
				n.outbox.remove(id)
			}
			n.mu.Unlock()
			for _, id := range drop {
				n.warn("undeliverable", fmt.Sprintf("%s dropped: %s was revoked", id, alias))
			}
		}
	}
	n.onRevoked(e.Key)
	n.log.Info("revoked key", "alias", alias, "fingerprint", e.Key.Fingerprint())
	n.changed(Change{Dir: ""})
	n.changed(Change{Dir: "keys"})
	return nil
}

// RenameAlias renames a trusted alias. The history is keyed by the key, so
// it follows; lines already written keep the name they were shown with.
func (n *Node) RenameAlias(oldAlias, newAlias string) error {
	if err := keyring.ValidAlias(newAlias); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, ok := n.keys.Lookup(oldAlias); !ok {
		return fmt.Errorf("%w: no trusted key %q", ErrNotFound, oldAlias)
	}
	n.mu.Lock()
	group := n.isGroupNameLocked(newAlias)
	n.mu.Unlock()
	if group {
		return fmt.Errorf("%w: %q is the name of a group", ErrExists, newAlias)
	}
	if err := n.keys.Rename(oldAlias, newAlias); err != nil {
		if errors.Is(err, keyring.ErrExists) {
			return fmt.Errorf("%w: %w", ErrExists, err)
		}
		return err
	}
	n.changed(Change{Dir: ""})
	n.changed(Change{Dir: "keys"})
	return nil
}

// Pending returns the keys announced by untrusted nodes.
func (n *Node) Pending() []PendingKey {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []PendingKey
	for _, p := range n.pending.List() {
		out = append(out, PendingKey{Fingerprint: p.Key.Fingerprint(), Recipient: p.Key.String(), Seen: p.LastSeen})
	}
	return out
}

// DeleteHistory destroys the history of a log. The conversation's key is
// destroyed with it, so the deletion is cryptographic.
func (n *Node) DeleteHistory(where string) error {
	n.mu.Lock()
	conv, err := n.resolveLogLocked(where)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	if err := n.db.Update(context.Background(), func(tx *store.Tx) error {
		return tx.DeleteConversation(conv)
	}); err != nil {
		return fmt.Errorf("deleting history: %w", err)
	}
	n.mu.Lock()
	n.dropLogLocked(conv)
	n.mu.Unlock()
	n.changed(Change{Where: where})
	return nil
}
