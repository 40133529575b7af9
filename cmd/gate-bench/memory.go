package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"time"

	"gate/internal/session"
)

// memoryReport fills an in-process memory store with n idle sessions shaped
// like real ones and reports the heap each costs, then how a Get's latency
// changes between a nearly empty and a full store.
func memoryReport(out io.Writer, n int) error {
	ctx := context.Background()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	small := session.NewMemory(session.MemoryOptions{CleanupInterval: -1})
	defer small.Close()
	smallIDs, err := fill(ctx, small, 1)
	if err != nil {
		return err
	}
	smallGet := getLatency(ctx, small, smallIDs)

	before := heap()
	m := session.NewMemory(session.MemoryOptions{MaxSessions: n + 1, CleanupInterval: -1})
	defer m.Close()
	ids, err := fill(ctx, m, n)
	if err != nil {
		return err
	}
	after := heap()
	perSession := float64(after-before) / float64(n)
	bigGet := getLatency(ctx, m, ids)
	fmt.Fprintf(out, "\nmemory store: %d sessions, %.0f bytes per session (heap in use / sessions, ids and records included)\n", n, perSession)
	fmt.Fprintf(out, "memory store Get: %s with 1 session, %s with %d (random ids, one goroutine)\n", fmtDur(smallGet), fmtDur(bigGet), n)
	runtime.KeepAlive(ids)
	return nil
}

func fill(ctx context.Context, m *session.Memory, n int) ([]string, error) {
	now := time.Now()
	ids := make([]string, n)
	for i := 0; i < n; i++ {
		u := "user" + strconv.Itoa(i)
		id, err := m.NewID(u)
		if err != nil {
			return nil, err
		}
		ids[i] = id
		err = m.Create(ctx, &session.Session{
			ID: id, User: u, DisplayName: "Bench User " + strconv.Itoa(i), Email: u + "@example.com",
			Groups: []string{"staff", "dev"}, Stamp: "0123456789abcdef", Domain: "example.com", CreatedAt: now, LastActivity: now,
			ExpiresAt: now.Add(time.Hour), Inactivity: 30 * time.Minute,
		})
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// getLatency is the mean Get over random ids.
func getLatency(ctx context.Context, m *session.Memory, ids []string) time.Duration {
	const gets = 1_000_000
	order := make([]int, 4096)
	for i := range order {
		order[i] = rand.IntN(len(ids))
	}
	start := time.Now()
	for i := 0; i < gets; i++ {
		if _, err := m.Get(ctx, ids[order[i%len(order)]]); err != nil {
			panic(err)
		}
	}
	return time.Since(start) / gets
}
