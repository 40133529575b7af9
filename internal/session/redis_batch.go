package session

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// maxBatch bounds the reads one pipeline carries.
	maxBatch = 128
	// maxPipelines bounds the pipelines in flight. One keeps batches
	// deepest: what queues while it is out leaves together next (on two
	// cores, under the load harness, one worker batched 11 GETs on average,
	// two 7.5 and eight 3.3, eight at a lower rate). Two, so that a pipeline
	// stuck on a dead connection until the timeout does not stall every
	// decision.
	maxPipelines = 2
)

// getBatcher coalesces concurrent reads (MGETs) into pipelines. Every decision
// waits on one read, and under load many wait at once. Sent one by one, each costs
// a write and a read on a socket, in gate and in Redis, and on a loaded
// machine those system calls, not Redis's work, bound the rate. A worker
// instead sends whatever queued up while its previous pipeline was in
// flight as one pipeline: one write and one read for many decisions, and
// still one round trip each. A lone request pays a goroutine hand-off.
//
// Workers never outnumber pooled connections, so a worker never waits for
// a connection another one holds.
//
// Cluster clients do not batch: a pipeline there spans the masters, and one
// master that hangs would hold up the answers of all the others.
type getBatcher struct {
	client redis.UniversalClient
	queue  chan *getCall
	calls  sync.Pool
	// timeout bounds a caller's wait, queueing included; 0 leaves it to
	// go-redis's own timeouts. A worker stuck on a frozen Redis holds its
	// pipeline until go-redis gives up, but never its callers.
	timeout time.Duration
	// ctx ends on close, so that a pipeline in flight does not hold up
	// shutdown; go-redis's timeouts bound it otherwise.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// getCall is one queued read. done is buffered, so a worker never blocks on
// a caller that stopped waiting. timer bounds the caller's wait; it stays
// with the call, so that a read allocates no timer.
type getCall struct {
	key, activity string
	val, act      string
	found         bool
	err           error
	done          chan struct{}
	timer         *time.Timer
}

// errNoAnswer is a read's error when Redis did not answer within the
// timeout.
var errNoAnswer = errors.New("no answer within session.redis.timeout")

// newGetBatcher starts up to poolSize workers on client; a read waits at
// most timeout.
func newGetBatcher(client redis.UniversalClient, poolSize int, timeout time.Duration) *getBatcher {
	workers := maxPipelines // go-redis's default pool holds 10 per CPU
	if poolSize > 0 {
		workers = min(poolSize, maxPipelines)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &getBatcher{
		client:  client,
		queue:   make(chan *getCall, maxBatch),
		timeout: timeout,
		ctx:     ctx,
		cancel:  cancel,
	}
	b.calls.New = func() any {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return &getCall{done: make(chan struct{}, 1), timer: t}
	}
	b.wg.Add(workers)
	for range workers {
		go b.work()
	}
	return b
}

// get is mget(ctx, client, key, activity), through a pipeline shared with
// the reads queued beside it.
func (b *getBatcher) get(ctx context.Context, key, activity string) (v, act string, found bool, err error) {
	c := b.calls.Get().(*getCall)
	c.key, c.activity = key, activity
	var expired <-chan time.Time // nil, never ready, without a timeout
	if b.timeout > 0 {
		c.timer.Reset(b.timeout)
		expired = c.timer.C
	}
	select {
	case b.queue <- c:
	case <-ctx.Done():
		b.recycle(c)
		return "", "", false, ctx.Err()
	case <-expired:
		b.recycle(c)
		return "", "", false, errNoAnswer
	case <-b.ctx.Done():
		b.recycle(c)
		return "", "", false, errClosed
	}
	select {
	case <-c.done:
		v, act, found, err = c.val, c.act, c.found, c.err
		b.recycle(c)
		return v, act, found, err
	case <-ctx.Done():
		// A worker holds c: it is left to it, not reused.
		c.timer.Stop()
		return "", "", false, ctx.Err()
	case <-expired:
		return "", "", false, errNoAnswer
	case <-b.ctx.Done():
		c.timer.Stop()
		return "", "", false, errClosed
	}
}

// recycle returns a call no worker holds to the pool.
func (b *getBatcher) recycle(c *getCall) {
	c.timer.Stop()
	*c = getCall{done: c.done, timer: c.timer}
	b.calls.Put(c)
}

func (b *getBatcher) work() {
	defer b.wg.Done()
	batch := make([]*getCall, 0, maxBatch)
	cmds := make([]*redis.SliceCmd, 0, maxBatch)
	for {
		select {
		case c := <-b.queue:
			batch = append(batch[:0], c)
		case <-b.ctx.Done():
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case c := <-b.queue:
				batch = append(batch, c)
			default:
				break fill
			}
		}
		cmds = b.exec(batch, cmds[:0])
		for _, c := range batch {
			c.done <- struct{}{}
		}
		clear(batch)
		clear(cmds)
	}
}

// exec runs the batch and files every result in its call.
func (b *getBatcher) exec(batch []*getCall, cmds []*redis.SliceCmd) []*redis.SliceCmd {
	if len(batch) == 1 {
		c := batch[0]
		c.val, c.act, c.found, c.err = mget(b.ctx, b.client, c.key, c.activity)
		return cmds
	}
	pipe := b.client.Pipeline()
	for _, c := range batch {
		cmds = append(cmds, pipe.MGet(b.ctx, c.key, c.activity))
	}
	// Exec's error is also every failed command's own error.
	_, _ = pipe.Exec(b.ctx)
	for i, c := range batch {
		c.val, c.act, c.found, c.err = mgetResult(cmds[i])
	}
	return cmds
}

// close stops the workers; calls still queued fail with errClosed.
func (b *getBatcher) close() {
	b.cancel()
	b.wg.Wait()
}
