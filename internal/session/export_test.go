package session

import "fmt"

// RandomID is the random part of every store's ids.
func RandomID() (string, error) { return newID() }

// CleanupNow runs one cleanup pass, so tests need not wait for the ticker.
func (m *Memory) CleanupNow() int { return m.cleanup() }

// CleanupDone is closed once the background cleanup has stopped.
func (m *Memory) CleanupDone() <-chan struct{} { return m.done }

// IndexedIDs counts the ids the per-user index holds for user.
func (m *Memory) IndexedIDs(user string) int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		n += sh.byUser[user].len()
		sh.mu.RUnlock()
	}
	return n
}

// CheckIndex reports the first disagreement between the records, the
// per-user index and the count.
func (m *Memory) CheckIndex() error {
	total := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		for id, rec := range sh.sessions {
			if !sh.byUser[rec.User].has(id) {
				sh.mu.RUnlock()
				return fmt.Errorf("session %.8s… of %s missing from the index", id, rec.User)
			}
		}
		for user, ids := range sh.byUser {
			if ids.len() == 0 {
				sh.mu.RUnlock()
				return fmt.Errorf("empty index entry for %s", user)
			}
			for _, id := range ids.ids() {
				rec, ok := sh.sessions[id]
				if !ok || rec.User != user {
					sh.mu.RUnlock()
					return fmt.Errorf("index of %s holds stale id %.8s…", user, id)
				}
			}
		}
		total += len(sh.sessions)
		sh.mu.RUnlock()
	}
	if got := m.Len(); got != total {
		return fmt.Errorf("Len() = %d; the shards hold %d", got, total)
	}
	return nil
}

// QueuedGets counts the reads waiting for a batching worker.
func (r *Redis) QueuedGets() int { return len(r.gets.queue) }
