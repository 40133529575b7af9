package main

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

var (
	statsMu      sync.Mutex
	statsClients = map[string]*redis.Client{}
)

// redisCalls sums the calls of every command the server has run, from INFO
// commandstats, leaving out INFO itself so that asking does not count.
func redisCalls(addr string) (int64, error) {
	statsMu.Lock()
	c, ok := statsClients[addr]
	if !ok {
		c = redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
		statsClients[addr] = c
	}
	statsMu.Unlock()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" {
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
