package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// sentCommands are the commands gate sends on a decision: MGET (GET
// before the activity key), and the activity write-back script. Commands a script runs inside Redis also
// show in INFO commandstats, but they cost no round trip, so they are not
// counted; nor are the reachability watcher's PINGs.
var sentCommands = map[string]bool{"cmdstat_get": true, "cmdstat_mget": true, "cmdstat_evalsha": true, "cmdstat_eval": true}

// commandStats reads a Redis server's command counters.
type commandStats struct{ c *redis.Client }

func newCommandStats(addr string) *commandStats {
	return &commandStats{redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})}
}

// sent sums the calls of sentCommands from INFO commandstats.
func (s *commandStats) sent() (int64, error) {
	info, err := s.c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !sentCommands[name] {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				total += n
			}
		}
	}
	return total, nil
}

func (s *commandStats) Close() error { return s.c.Close() }
