package redisprobe

import (
	"context"
	"net"
	"time"
)

// FirstPong sends PING on a fresh connection to addr every millisecond
// until the answer is +PONG, and returns when that answer came. A loading
// server (-LOADING), a frozen one, and one with requirepass (-NOAUTH) do
// not count. It gives up when ctx ends.
func FirstPong(ctx context.Context, addr string) (time.Time, error) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if Pong(addr) {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// Pong sends PING on a fresh connection to addr and reports whether the
// answer was +PONG within 50 ms.
func Pong(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, err := c.Read(buf)
	return err == nil && string(buf[:n]) == "+PONG\r\n"
}
