package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"time"

	"gate/internal/config"
	"gate/internal/keys"
	"gate/internal/redisconn"
	"gate/internal/session"
)

// cacheMemoryReport builds a Redis store with the local cache, in this
// process, on the bench's Redis at addr; logs n sessions shaped like the
// bench's in; reads each once so that the cache holds it; and reports the
// heap the cache grew by per session, with the read latency from Redis
// and from the cache.
func cacheMemoryReport(out io.Writer, addr string, n int) error {
	ctx := context.Background()
	s, err := cachedStore(addr, n)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := waitStreamUp(s); err != nil {
		return err
	}
	ids := make([]string, n)
	now := time.Now()
	for i := range ids {
		user := fmt.Sprintf("cacheuser%d", i)
		id, err := s.NewID(user)
		if err != nil {
			return err
		}
		rec := &session.Session{
			ID: id, User: user, DisplayName: fmt.Sprintf("Bench User %d", i), Email: user + "@example.com",
			Groups: []string{"staff", "dev"}, CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(time.Hour), Inactivity: 30 * time.Minute,
		}
		if err := s.Create(ctx, rec); err != nil {
			return err
		}
		ids[i] = id
	}
	time.Sleep(100 * time.Millisecond) // the logins' own invalidations
	before := heapInUse()
	start := time.Now()
	for _, id := range ids {
		if _, err := s.Get(ctx, id); err != nil {
			return err
		}
	}
	miss := time.Since(start) / time.Duration(n)
	after := heapInUse()
	st := s.CacheStats()
	start = time.Now()
	for _, id := range ids {
		if _, err := s.Get(ctx, id); err != nil {
			return err
		}
	}
	hit := time.Since(start) / time.Duration(n)
	fmt.Fprintf(out, "\nlocal session cache: %d sessions cached, %.0f bytes per cached session (heap in use / sessions); a read from Redis %s, from the cache %s (one goroutine)\n",
		st.Entries, float64(after-before)/float64(max(1, st.Entries)), fmtDur(miss), fmtDur(hit))
	runtime.KeepAlive(ids)
	return nil
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// cachedStore is the store gate serve builds, with a prefix of its own.
func cachedStore(addr string, n int) (*session.Redis, error) {
	k, err := keys.FromSecret("bench-secret-bench-secret-bench-secret-0123")
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	rc := config.Redis{Host: host, Port: p, Timeout: 5 * time.Second, SessionPrefix: "cachebench:session:"}
	client, plan, err := redisconn.New(rc)
	if err != nil {
		return nil, err
	}
	s, err := session.NewRedis(client, session.RedisOptions{
		RecordKey: k.RecordCipher, NameKey: k.KeyHash, Prefix: rc.SessionPrefix, Name: plan.String(), Timeout: plan.Timeout,
		Cache: &session.CacheOptions{MaxEntries: n + n/4, StreamClient: plan.StreamClient},
	})
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	return s, s.Ping(context.Background())
}

func waitStreamUp(s *session.Redis) error {
	deadline := time.Now().Add(10 * time.Second)
	for !s.CacheStats().Up {
		if time.Now().After(deadline) {
			return fmt.Errorf("local cache: invalidation stream not up after 10s")
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}
