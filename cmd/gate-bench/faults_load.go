package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// liveSession is one session the fault load sends decisions for, and what
// the harness knows of its end.
type liveSession struct {
	req    []byte
	cookie string
	// born is when its login was answered, since the epoch; 0 for the
	// sessions logged in before the run.
	born time.Duration
	// ended is when the session ended, as time since the run's epoch: the
	// answer to its logout, or the loss of every session (Redis restarted
	// empty). 0 while it lives; unknownEnd after a logout whose answer was
	// a failure, which may or may not have ended it.
	ended atomic.Int64
	// lostInCrash is set when the session ended because Redis restarted
	// empty, not by a logout.
	lostInCrash atomic.Bool
}

const unknownEnd = -1

// crashUnseen is how long after a crash a 200 for a session that was live
// when Redis died is told apart: gate's local session cache answers until
// the invalidation stream's connection reports the reset, a millisecond
// or two. No logout preceded those sessions' end.
const crashUnseen = 20 * time.Millisecond

// sessionSet is the sessions in play. Decisions read it without a lock;
// logins add to it copy-on-write (a few a second).
type sessionSet struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*liveSession]
}

func newSessionSet(cookies []string) *sessionSet {
	s := &sessionSet{}
	list := make([]*liveSession, 0, len(cookies))
	for i, c := range cookies {
		list = append(list, &liveSession{req: authzRequest("gate", c, i), cookie: c})
	}
	s.list.Store(&list)
	return s
}

func (s *sessionSet) all() []*liveSession { return *s.list.Load() }

func (s *sessionSet) add(ls *liveSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.list.Load()
	list := append(old[:len(old):len(old)], ls)
	s.list.Store(&list)
}

// endAll marks every session ended at t: Redis lost them all.
func (s *sessionSet) endAll(t time.Duration) {
	for _, ls := range s.all() {
		if ls.ended.CompareAndSwap(0, int64(t)) {
			ls.lostInCrash.Store(true)
		}
	}
}

// tally is one load worker's count of what it saw; the run merges them.
type tally struct {
	codes map[int]int
	// connErrors are requests that got no HTTP answer.
	connErrors int
	// deadAllowed counts 200s for a session that had ended before the
	// request was sent, by the session's end: gate must never let one
	// through, unless Redis itself lost the logout (a failover).
	deadAllowed map[time.Duration]int
	// crashUnseen counts 200s sent within crashUnseen of a crash that
	// ended their session (see crashUnseen); not in deadAllowed.
	crashUnseen int
	// liveRefused counts 302/401 for a session that was live as far as
	// the harness knows, by the session's birth: lost with Redis, or
	// refused wrongly.
	liveRefused map[time.Duration]int
	// first503 and last503 are the ends of the first and the last 503,
	// since the epoch; sent503 counts 503s by the millisecond the request
	// was sent in.
	first503, last503 time.Duration
	sent503           []int32
	// slowest is the longest decision, and when it was sent.
	slowest, slowestSent time.Duration
}

func newTally() *tally {
	return &tally{codes: map[int]int{}, first503: -1, deadAllowed: map[time.Duration]int{}, liveRefused: map[time.Duration]int{}}
}

func (t *tally) record(ls *liveSession, sent, done time.Duration, code int) {
	t.codes[code]++
	if d := done - sent; d > t.slowest {
		t.slowest, t.slowestSent = d, sent
	}
	ended := ls.ended.Load()
	switch {
	case code == http.StatusOK && ended > 0 && time.Duration(ended) < sent &&
		ls.lostInCrash.Load() && sent-time.Duration(ended) < crashUnseen:
		t.crashUnseen++
	case code == http.StatusOK && ended > 0 && time.Duration(ended) < sent:
		t.deadAllowed[time.Duration(ended)]++
	case (code == http.StatusFound || code == http.StatusUnauthorized) && ended == 0:
		t.liveRefused[ls.born]++
	case code == http.StatusServiceUnavailable:
		if t.first503 < 0 || done < t.first503 {
			t.first503 = done
		}
		t.last503 = max(t.last503, done)
		ms := int(sent / time.Millisecond)
		for len(t.sent503) <= ms {
			t.sent503 = append(t.sent503, 0)
		}
		t.sent503[ms]++
	}
}

func (t *tally) merge(o *tally) {
	for c, n := range o.codes {
		t.codes[c] += n
	}
	t.connErrors += o.connErrors
	t.crashUnseen += o.crashUnseen
	for k, n := range o.deadAllowed {
		t.deadAllowed[k] += n
	}
	for k, n := range o.liveRefused {
		t.liveRefused[k] += n
	}
	if o.first503 >= 0 && (t.first503 < 0 || o.first503 < t.first503) {
		t.first503 = o.first503
	}
	t.last503 = max(t.last503, o.last503)
	for len(t.sent503) < len(o.sent503) {
		t.sent503 = append(t.sent503, 0)
	}
	for i, n := range o.sent503 {
		t.sent503[i] += n
	}
	if o.slowest > t.slowest {
		t.slowest, t.slowestSent = o.slowest, o.slowestSent
	}
}

// split counts the decisions of m (by a session's end or birth) whose
// key falls within [from, to], and the others.
func split(m map[time.Duration]int, from, to time.Duration) (within, outside int) {
	for k, n := range m {
		if k >= from && k <= to {
			within += n
		} else {
			outside += n
		}
	}
	return within, outside
}

// sent503From counts the 503s for requests sent at or after from.
func (t *tally) sent503From(from time.Duration) int {
	n := 0
	for ms := max(0, int(from/time.Millisecond)); ms < len(t.sent503); ms++ {
		n += int(t.sent503[ms])
	}
	return n
}

// churnTally counts the logins and logouts of the churn.
type churnTally struct {
	logins, loginsFailed   int
	logouts, logoutsFailed int
}

// faultLoad drives decisions over keep-alive connections and, beside them,
// logins and logouts, until stopped.
type faultLoad struct {
	addr     string
	sessions *sessionSet
	epoch    time.Time
	users    int
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	tallies  []*tally
	churnMu  sync.Mutex
	churn    churnTally
}

// churned returns the churn's counts so far.
func (l *faultLoad) churned() churnTally {
	l.churnMu.Lock()
	defer l.churnMu.Unlock()
	return l.churn
}

func (l *faultLoad) since() time.Duration { return time.Since(l.epoch) }

// startFaultLoad starts conns decision workers and, with churn > 0, churn
// logins and as many logouts per second.
func startFaultLoad(addr string, sessions *sessionSet, users, conns, churn int, epoch time.Time) *faultLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &faultLoad{addr: addr, sessions: sessions, epoch: epoch, users: users, cancel: cancel}
	for i := range conns {
		t := newTally()
		l.tallies = append(l.tallies, t)
		l.wg.Go(func() { l.decide(ctx, i, conns, t) })
	}
	if churn > 0 {
		l.wg.Go(func() { l.churnLoop(ctx, churn) })
	}
	return l
}

// stop ends the load and returns the merged tally.
func (l *faultLoad) stop() *tally {
	l.cancel()
	l.wg.Wait()
	all := newTally()
	for _, t := range l.tallies {
		all.merge(t)
	}
	return all
}

// decide is one worker: connection i sends the decisions of sessions i,
// i+conns, … in turn.
func (l *faultLoad) decide(ctx context.Context, i, conns int, t *tally) {
	var c *conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	next := i
	for ctx.Err() == nil {
		if c == nil {
			var err error
			if c, err = dial(l.addr); err != nil {
				t.connErrors++
				time.Sleep(10 * time.Millisecond)
				continue
			}
		}
		list := l.sessions.all()
		ls := list[next%len(list)]
		next += conns
		sent := l.since()
		code, err := c.do(ls.req)
		if err != nil {
			t.connErrors++
			c.Close()
			c = nil
			continue
		}
		t.record(ls, sent, l.since(), code)
	}
}

// churnLoop logs a user in and a live session out, rate times a second
// each.
func (l *faultLoad) churnLoop(ctx context.Context, rate int) {
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		l.loginOne(ctx, client, n%l.users)
		l.logoutOne(ctx, client)
	}
}

func (l *faultLoad) loginOne(ctx context.Context, client *http.Client, user int) {
	body := fmt.Sprintf(`{"username":"user%d","password":%q}`, user, benchPassword)
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+l.addr+"/api/login", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	l.churnMu.Lock()
	defer l.churnMu.Unlock()
	if err != nil || resp.StatusCode != http.StatusOK {
		if err == nil {
			resp.Body.Close()
		}
		if ctx.Err() == nil {
			l.churn.loginsFailed++
		}
		return
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "gate_session" {
			cookie := c.Name + "=" + c.Value
			l.sessions.add(&liveSession{req: authzRequest("gate", cookie, user), cookie: cookie, born: l.since()})
			l.churn.logins++
			return
		}
	}
	l.churn.loginsFailed++
}

// logoutOne ends a random session the harness believes live. Its end
// counts from the answer: a decision sent after it must not be a 200.
func (l *faultLoad) logoutOne(ctx context.Context, client *http.Client) {
	list := l.sessions.all()
	ls := list[rand.IntN(len(list))]
	// Claimed as of unknown end while the logout is out: a decision
	// answered meanwhile may see the session either way.
	if !ls.ended.CompareAndSwap(0, unknownEnd) {
		return
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+l.addr+"/api/logout", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cookie", ls.cookie)
	resp, err := client.Do(req)
	done := l.since()
	l.churnMu.Lock()
	defer l.churnMu.Unlock()
	if err == nil {
		var v map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
	}
	switch {
	case err == nil && resp.StatusCode == http.StatusOK:
		ls.ended.Store(int64(done))
		l.churn.logouts++
	case ctx.Err() != nil:
	default:
		// Failed: the session may or may not have ended; it stays unknown.
		l.churn.logoutsFailed++
	}
}
