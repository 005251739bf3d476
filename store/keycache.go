package store

import (
	"crypto/cipher"
	"sync"
)

// maxCachedKeys bounds the conversation key cache; when it is full it is
// emptied and refilled on demand.
const maxCachedKeys = 4096

// keyCache memoizes the unwrapping of conversation keys. It is keyed by the
// sealed key as stored in the database, so it is a pure function cache: it
// stays correct whatever transactions commit or roll back, and a key that
// is replaced in the database is simply never looked up again.
type keyCache struct {
	mu sync.Mutex
	m  map[string]cipher.AEAD
}

func newKeyCache() *keyCache {
	return &keyCache{m: make(map[string]cipher.AEAD)}
}

// get returns the cipher for a sealed conversation key, if cached.
func (c *keyCache) get(sealed []byte) (cipher.AEAD, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[string(sealed)]
	return a, ok
}

// put remembers the cipher for a sealed conversation key.
func (c *keyCache) put(sealed []byte, a cipher.AEAD) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedKeys {
		clear(c.m)
	}
	c.m[string(sealed)] = a
}

// forget drops a conversation key, so a deleted conversation's key does not
// outlive it in memory either.
func (c *keyCache) forget(sealed []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, string(sealed))
}

// reset empties the cache.
func (c *keyCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}
