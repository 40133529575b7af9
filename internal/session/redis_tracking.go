package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// invalidateChannel is where Redis sends tracking invalidations to a
// RESP2 client.
const invalidateChannel = "__redis__:invalidate"

const (
	// pingEvery is how long a stream waits for a message before it pings;
	// deadAfter how long a ping may go unanswered before the stream is
	// taken for lost. A connection cut without a reset (a partition, a
	// frozen Redis) is noticed within deadAfter+pingEvery, the longest
	// the cache may answer without its stream; a closed one at once. Four
	// pings a second per master cost Redis nothing measurable.
	pingEvery = 250 * time.Millisecond
	deadAfter = 500 * time.Millisecond
	// Reconnection back-off bounds.
	minBackoff = 20 * time.Millisecond
	maxBackoff = 2 * time.Second
	// clusterRefresh is how often a Cluster's masters are listed, so that
	// a new master (a failover, a resharding) gets its stream.
	clusterRefresh = time.Second
)

// errRestarted ends a stream whose master may have changed.
var errRestarted = errors.New("session cache: invalidation stream restarted: the master may have changed")

// CacheOptions turns on the Redis store's local cache.
type CacheOptions struct {
	// MaxEntries bounds the sessions held (session.redis.local_cache.max_entries).
	MaxEntries int
	// StreamClient builds the client of one invalidation stream, with
	// onConnect as its OnConnect hook: for addr "" the one master of a
	// single server or a Sentinel deployment (following failovers), else
	// the Cluster master at addr. The stream owns the client.
	StreamClient func(addr string, onConnect func(context.Context, *redis.Conn) error) redis.UniversalClient
	// WatchMaster, when set, follows the master's switches (Sentinel):
	// it runs until ctx ends and calls report(true) while it watches,
	// report(false) when it stops watching and on every switch. The cache
	// is up only while it watches, and every report(false) restarts the
	// streams, which may listen to a master that is one no more.
	WatchMaster func(ctx context.Context, report func(watching bool))
	// OnStream, when set, is told each time a stream comes up or goes
	// down, with the reason.
	OnStream func(addr string, up bool, err error)
}

// tracker keeps the local cache exact with Redis's server-assisted
// invalidation: one connection per master runs
//
//	CLIENT ID
//	CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <prefix>{
//	SUBSCRIBE __redis__:invalidate
//
// (RESP2: a connection may redirect its invalidations to itself), and
// Redis then names on it every key under "<prefix>{" that changes: records
// and indexes, written at login, logout and revocation, and removed by
// expiry, eviction or FLUSHDB/FLUSHALL (a flush arrives as a null
// message, which go-redis 9.23 reads as an error: the stream restarts, and
// the cache is emptied, as a flush asks). Activity write-backs go to keys
// outside the prefix and cause no traffic.
//
// The cache is in use only while every stream is subscribed. A stream that
// breaks (connection closed or killed, no answer to a ping, Redis
// restarted) empties the cache at once and it stays bypassed until the
// stream has reconnected and Redis has confirmed the subscription.
//
// Sentinel: the stream's client asks the sentinels for the master on every
// dial. Sentinel itself kills the pub/sub connections of a demoted master
// (CLIENT KILL TYPE pubsub, part of its reconfiguration), and the store's
// own client dialling a new address restarts the stream too (dialWatch),
// whichever comes first. Cluster: a stream per master, the masters listed
// every clusterRefresh; a change of masters restarts the streams.
type tracker struct {
	cache     *localCache
	prefix    string // tracked: "<prefix>{"
	newClient func(addr string, onConnect func(context.Context, *redis.Conn) error) redis.UniversalClient
	onStream  func(addr string, up bool, err error)
	// cluster lists the masters; nil for one master.
	cluster *redis.ClusterClient

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	streams map[string]*stream
	// watching is whether WatchMaster watches; true without one.
	watching bool
	// With a master that moves (WatchMaster), the cache is up only while
	// every connection the store's own client holds open (mainConns, by
	// server) goes to the server the stream listens to: a read from a
	// former master could fill the cache with what the new master's stream
	// will never invalidate.
	matchAddr bool
	mainConns map[string]int
}

// stream is the invalidation connection to one master.
type stream struct {
	addr   string
	client redis.UniversalClient
	cancel context.CancelFunc

	mu      sync.Mutex
	ps      *redis.PubSub // the live subscription, for restart to close
	stopped bool
	up      bool   // guarded by tracker.mu
	remote  string // the server the stream last dialled; guarded by tracker.mu
}

func newTracker(c *localCache, prefix string, opts *CacheOptions, main redis.UniversalClient) *tracker {
	ctx, cancel := context.WithCancel(context.Background())
	t := &tracker{
		cache:     c,
		prefix:    prefix + "{",
		newClient: opts.StreamClient,
		onStream:  opts.OnStream,
		ctx:       ctx,
		cancel:    cancel,
		streams:   map[string]*stream{},
		watching:  opts.WatchMaster == nil,
		matchAddr: opts.WatchMaster != nil,
		mainConns: map[string]int{},
	}
	if opts.WatchMaster != nil {
		t.wg.Go(func() { opts.WatchMaster(ctx, t.watched) })
	}
	switch m := main.(type) {
	case *redis.ClusterClient:
		t.cluster = m
		t.wg.Go(t.followCluster)
	default:
		w := &dialWatch{dialled: t.mainDialled}
		if t.matchAddr {
			w.closed = t.mainClosed
		}
		main.AddHook(w)
		t.mu.Lock()
		t.start("")
		t.mu.Unlock()
	}
	return t
}

// onConnect turns tracking on for a new stream connection, before it
// subscribes.
func (t *tracker) onConnect(ctx context.Context, cn *redis.Conn) error {
	id, err := cn.ClientID(ctx).Result()
	if err != nil {
		return fmt.Errorf("session cache: CLIENT ID: %w", err)
	}
	if err := cn.Do(ctx, "CLIENT", "TRACKING", "ON", "REDIRECT", id, "BCAST", "PREFIX", t.prefix).Err(); err != nil {
		return fmt.Errorf("session cache: CLIENT TRACKING: %w", err)
	}
	return nil
}

// start runs a stream to addr; t.mu is held.
func (t *tracker) start(addr string) {
	ctx, cancel := context.WithCancel(t.ctx)
	st := &stream{addr: addr, client: t.newClient(addr, t.onConnect), cancel: cancel}
	st.client.AddHook(&dialWatch{dialled: func(remote string) { t.streamDialled(st, remote) }})
	t.streams[addr] = st
	t.cache.setUp(false)
	t.wg.Go(func() { t.run(ctx, st) })
}

// stop ends a stream; t.mu is held. The cache goes down with it, until
// the set of streams is whole and up again.
func (t *tracker) stop(st *stream) {
	delete(t.streams, st.addr)
	st.cancel()
	st.mu.Lock()
	st.stopped = true
	st.mu.Unlock()
	st.closeSubscription()
	t.cache.setUp(false)
}

// report records whether st is subscribed, and the cache is up when every
// stream is.
func (t *tracker) report(st *stream, up bool, err error) {
	t.mu.Lock()
	if t.streams[st.addr] != st {
		t.mu.Unlock()
		return // stopped
	}
	changed := st.up != up
	st.up = up
	t.settle()
	t.mu.Unlock()
	if changed && t.onStream != nil {
		t.onStream(st.addr, up, err)
	}
}

// settle puts the cache up when every stream is up and the master is
// watched, down otherwise; t.mu is held.
func (t *tracker) settle() {
	all := len(t.streams) > 0 && t.watching
	for _, s := range t.streams {
		all = all && s.up && (!t.matchAddr || t.mainOnly(s.remote))
	}
	t.cache.setUp(all)
}

// watched is WatchMaster's report: a switch, or a watch that stopped, may
// leave the streams on a former master, so they restart.
func (t *tracker) watched(watching bool) {
	t.mu.Lock()
	t.watching = watching
	t.settle()
	t.mu.Unlock()
	if !watching {
		t.restartAll()
	}
}

// streamDialled records the server a stream connects to.
func (t *tracker) streamDialled(st *stream, remote string) {
	t.mu.Lock()
	st.remote = remote
	t.settle()
	t.mu.Unlock()
}

// mainOnly reports whether the store's client holds connections to
// remote and to no other server; t.mu is held.
func (t *tracker) mainOnly(remote string) bool {
	for addr, n := range t.mainConns {
		if n > 0 && addr != remote {
			return false
		}
	}
	return t.mainConns[remote] > 0
}

// mainDialled records a connection of the store's own client. One to a
// server the stream does not listen to means the master moved: the
// streams restart.
func (t *tracker) mainDialled(remote string) {
	t.mu.Lock()
	t.mainConns[remote]++
	moved := false
	for _, s := range t.streams {
		moved = moved || t.matchAddr && s.remote != "" && s.remote != remote
	}
	t.settle()
	t.mu.Unlock()
	if moved {
		t.restartAll()
	}
}

// mainClosed records the end of a connection of the store's own client.
func (t *tracker) mainClosed(remote string) {
	t.mu.Lock()
	if t.mainConns[remote]--; t.mainConns[remote] <= 0 {
		delete(t.mainConns, remote)
	}
	t.settle()
	t.mu.Unlock()
}

// restartAll drops every stream's subscription: the master may have
// changed under it (dialWatch).
func (t *tracker) restartAll() {
	t.mu.Lock()
	streams := make([]*stream, 0, len(t.streams))
	for _, st := range t.streams {
		streams = append(streams, st)
	}
	t.mu.Unlock()
	for _, st := range streams {
		t.report(st, false, errRestarted)
		st.closeSubscription()
	}
}

// run keeps st subscribed until ctx ends, reconnecting with back-off.
func (t *tracker) run(ctx context.Context, st *stream) {
	defer st.client.Close()
	delay := minBackoff
	for ctx.Err() == nil {
		began := time.Now()
		err := t.subscribe(ctx, st)
		t.report(st, false, err)
		if time.Since(began) > maxBackoff {
			delay = minBackoff // it was up a while: this is a new outage
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, maxBackoff)
	}
}

// subscribe runs one subscription of st until it fails.
func (t *tracker) subscribe(ctx context.Context, st *stream) error {
	ps := st.client.Subscribe(ctx)
	if !st.setSubscription(ps) {
		return ps.Close()
	}
	defer st.closeSubscription()
	if err := ps.Subscribe(ctx, invalidateChannel); err != nil {
		return err
	}
	var pinged time.Time // when the unanswered ping left; zero if none
	for {
		msg, err := ps.ReceiveTimeout(ctx, pingEvery)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || ctx.Err() != nil {
				return err
			}
			if !pinged.IsZero() {
				if time.Since(pinged) > deadAfter {
					return fmt.Errorf("session cache: invalidation stream: no answer to a ping within %v", deadAfter)
				}
				continue
			}
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			pinged = time.Now()
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == invalidateChannel {
				t.report(st, true, nil)
			}
		case *redis.Message:
			if m.Channel == invalidateChannel {
				t.cache.invalidate(m.PayloadSlice)
			}
		case *redis.Pong:
			pinged = time.Time{}
		}
	}
}

// setSubscription makes ps the one restart closes; false if the stream
// was stopped meanwhile.
func (st *stream) setSubscription(ps *redis.PubSub) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopped {
		return false
	}
	st.ps = ps
	return true
}

// closeSubscription ends the live subscription, if any; the stream
// reconnects unless stopped.
func (st *stream) closeSubscription() {
	st.mu.Lock()
	ps := st.ps
	st.ps = nil
	st.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
}

// followCluster keeps a stream on every master of the Cluster.
func (t *tracker) followCluster() {
	tick := time.NewTicker(clusterRefresh)
	defer tick.Stop()
	for {
		t.refreshCluster()
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// refreshCluster starts and stops streams to match the Cluster's masters.
// A listing that fails changes nothing: the streams report for
// themselves.
func (t *tracker) refreshCluster() {
	ctx, cancel := context.WithTimeout(t.ctx, clusterRefresh)
	defer cancel()
	shards, err := t.cluster.ClusterShards(ctx).Result()
	if err != nil {
		return
	}
	var masters []string
	for _, sh := range shards {
		for _, n := range sh.Nodes {
			if addr := nodeAddr(n); n.Role == "master" && len(sh.Slots) > 0 && !slices.Contains(masters, addr) {
				masters = append(masters, addr)
			}
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil {
		return
	}
	for addr, st := range t.streams {
		if !slices.Contains(masters, addr) {
			t.stop(st)
		}
	}
	for _, addr := range masters {
		if t.streams[addr] == nil {
			t.start(addr)
		}
	}
}

// nodeAddr is where a Cluster node takes clients: its plain port, or its
// TLS port when it has no plain one.
func nodeAddr(n redis.Node) string {
	host := n.Endpoint
	if host == "" || host == "?" {
		host = n.IP
	}
	port := n.Port
	if port == 0 {
		port = n.TLSPort
	}
	return net.JoinHostPort(host, strconv.FormatInt(port, 10))
}

// close stops every stream and waits for them.
func (t *tracker) close() {
	t.mu.Lock()
	t.cancel()
	for _, st := range t.streams {
		t.stop(st)
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// dialWatch tells dialled the server of every connection a client opens,
// and closed, when set, when it is closed.
type dialWatch struct {
	dialled, closed func(remote string)
}

func (w *dialWatch) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil || c == nil || c.RemoteAddr() == nil {
			return c, err
		}
		remote := c.RemoteAddr().String()
		w.dialled(remote)
		if w.closed == nil {
			return c, nil
		}
		wc := &watchedConn{Conn: c}
		wc.closed = func() { w.closed(remote) }
		if sc, ok := c.(syscall.Conn); ok {
			// go-redis checks idle connections through the descriptor.
			return &watchedSyscallConn{watchedConn: wc, sc: sc}, nil
		}
		return wc, nil
	}
}

// watchedConn reports its Close, once.
type watchedConn struct {
	net.Conn
	once   sync.Once
	closed func()
}

func (c *watchedConn) Close() error {
	c.once.Do(c.closed)
	return c.Conn.Close()
}

// watchedSyscallConn is a watchedConn that keeps its descriptor visible.
type watchedSyscallConn struct {
	*watchedConn
	sc syscall.Conn
}

func (c *watchedSyscallConn) SyscallConn() (syscall.RawConn, error) { return c.sc.SyscallConn() }

func (w *dialWatch) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (w *dialWatch) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
