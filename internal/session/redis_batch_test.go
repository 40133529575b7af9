package session_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gate/internal/redisconn"
	"gate/internal/session"
	"gate/internal/testkit/redistest"
)

// gateHook holds the first GET sent alone until release is closed (or the
// command's context ends), and records the size of every pipeline of GETs
// (go-redis's connection handshake is a pipeline too).
type gateHook struct {
	once      atomic.Bool
	release   chan struct{}
	held      chan struct{} // receives once per GET held
	mu        sync.Mutex
	pipelines []int
}

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "mget" && h.once.CompareAndSwap(false, true) {
			h.held <- struct{}{}
			select {
			case <-h.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return next(ctx, cmd)
	}
}

func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if cmds[0].Name() == "mget" {
			h.mu.Lock()
			h.pipelines = append(h.pipelines, len(cmds))
			h.mu.Unlock()
		}
		return next(ctx, cmds)
	}
}

// heldStore is a Redis store with conns connections, so as many batching
// workers (two at most), whose first lone GET waits for hook.release.
func heldStore(t *testing.T, conns int) (*session.Redis, *gateHook) {
	t.Helper()
	cfg := plainConfig(t)
	cfg.MaximumActiveConnections = conns
	client, plan, err := redisconn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hook := &gateHook{release: make(chan struct{}), held: make(chan struct{}, 1)}
	client.AddHook(hook)
	s, err := session.NewRedis(client, session.RedisOptions{RecordKey: testKeys(t).RecordCipher, NameKey: testKeys(t).KeyHash, Prefix: cfg.SessionPrefix, PoolSize: plan.PoolSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, hook
}

// waitQueued polls until n reads wait for the worker.
func waitQueued(t *testing.T, s *session.Redis, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.QueuedGets() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d reads queued; want %d", s.QueuedGets(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRedisGetBatching: reads that queue while the worker is busy go out as
// one pipeline, and every caller gets its own answer, found or not.
func TestRedisGetBatching(t *testing.T) {
	ctx := context.Background()
	s, hook := heldStore(t, 1)
	const n = 12
	recs := make([]*session.Session, n)
	for i := range recs {
		recs[i] = newIdentity().session(t, s, time.Now(), false)
	}
	absent, err := s.NewID("nobody")
	if err != nil {
		t.Fatal(err)
	}

	type answer struct {
		user string
		err  error
	}
	first := make(chan answer, 1)
	go func() {
		got, err := s.Get(ctx, recs[0].ID)
		if err != nil {
			first <- answer{err: err}
			return
		}
		first <- answer{user: got.User}
	}()
	<-hook.held // the worker is busy with recs[0]

	answers := make([]answer, n+1)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			id := absent
			if i < n {
				id = recs[i].ID
			}
			got, err := s.Get(ctx, id)
			if err == nil {
				answers[i].user = got.User
			}
			answers[i].err = err
		})
	}
	waitQueued(t, s, n)
	close(hook.release)
	wg.Wait()

	if a := <-first; a.err != nil || a.user != recs[0].User {
		t.Fatalf("first Get = %q, %v; want %q", a.user, a.err, recs[0].User)
	}
	for i := 1; i < n; i++ {
		if answers[i].err != nil || answers[i].user != recs[i].User {
			t.Errorf("Get #%d = %q, %v; want %q", i, answers[i].user, answers[i].err, recs[i].User)
		}
	}
	if !errors.Is(answers[n].err, session.ErrNotFound) {
		t.Errorf("Get of an absent id: %v; want ErrNotFound", answers[n].err)
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.pipelines) != 1 || hook.pipelines[0] != n {
		t.Errorf("pipelines sent: %v; want one of %d GETs", hook.pipelines, n)
	}
}

// TestRedisGetBatchingGivesUp: a caller whose context ends while its read
// is queued returns at once, and Close fails every read still queued.
func TestRedisGetBatchingGivesUp(t *testing.T) {
	s, hook := heldStore(t, 1)
	rec := newIdentity().session(t, s, time.Now(), false)
	go func() { _, _ = s.Get(context.Background(), rec.ID) }()
	<-hook.held

	ctx, cancel := context.WithCancel(context.Background())
	gave := make(chan error, 1)
	go func() {
		_, err := s.Get(ctx, rec.ID)
		gave <- err
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-gave; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with its context ended: %v; want context.Canceled", err)
	}

	closed := make(chan error, 1)
	go func() {
		_, err := s.Get(context.Background(), rec.ID)
		closed <- err
	}()
	waitQueued(t, s, 2) // the abandoned read is still queued too
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err := <-closed
	if err == nil || errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get queued across Close: %v; want a store error", err)
	}
}

// TestRedisPoolBound: under many concurrent reads, batched into pipelines,
// the store opens no more connections than maximum_active_connections.
func TestRedisPoolBound(t *testing.T) {
	srv := redistest.StartServer(t, redistest.ServerOptions{})
	cfg := redistest.Config()
	cfg.Host, cfg.Port = hostPort(srv)
	cfg.MaximumActiveConnections = 2
	client, plan, err := redisconn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := session.NewRedis(client, session.RedisOptions{RecordKey: testKeys(t).RecordCipher, NameKey: testKeys(t).KeyHash, Prefix: cfg.SessionPrefix, PoolSize: plan.PoolSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rec := newIdentity().session(t, s, time.Now(), false)

	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 200 {
		wg.Go(func() {
			for range 20 {
				if got, err := s.Get(context.Background(), rec.ID); err != nil || got.User != rec.User {
					select {
					case errs <- fmt.Errorf("Get = %v, %v", got, err):
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}

	admin := srv.Admin()
	self, err := admin.ClientID(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	conns := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		if !strings.HasPrefix(line, fmt.Sprintf("id=%d ", self)) {
			conns++
		}
	}
	if conns == 0 || conns > 2 {
		t.Errorf("the store holds %d connections; want 1 or 2:\n%s", conns, list)
	}
}

// TestRedisGetBatchingStuckPipeline: while one worker waits on a stuck
// command, the other serves the reads that arrive.
func TestRedisGetBatchingStuckPipeline(t *testing.T) {
	s, hook := heldStore(t, 2)
	stuck := newIdentity().session(t, s, time.Now(), false)
	other := newIdentity().session(t, s, time.Now(), false)
	first := make(chan error, 1)
	go func() {
		_, err := s.Get(context.Background(), stuck.ID)
		first <- err
	}()
	<-hook.held

	// A context bounds the wait, so that a batcher without a second worker
	// fails this test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := s.Get(ctx, other.ID)
	if err != nil || got.User != other.User {
		t.Fatalf("Get beside a stuck one = %v, %v; want %s", got, err, other.User)
	}
	select {
	case err := <-first:
		t.Fatalf("the held Get returned (%v) before its release", err)
	default:
	}
	close(hook.release)
	if err := <-first; err != nil {
		t.Fatalf("held Get after release: %v", err)
	}
}
