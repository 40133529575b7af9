package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// gateLog reads gate's JSON log as it is written, and keeps what the
// report shows: every line about Redis's reachability, and a count of the
// lines at error level by message.
type gateLog struct {
	mu      sync.Mutex
	partial []byte
	redis   []logLine
	errors  map[string]int
	lines   int
}

// logLine is one line of gate's log, the fields the report uses.
type logLine struct {
	Level   string  `json:"level"`
	Message string  `json:"message"`
	Error   string  `json:"error"`
	Outage  string  `json:"outage"`
	Failed  float64 `json:"failed_requests"`
}

func newGateLog() *gateLog { return &gateLog{errors: map[string]int{}} }

func (g *gateLog) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.partial = append(g.partial, p...)
	for {
		i := bytes.IndexByte(g.partial, '\n')
		if i < 0 {
			break
		}
		g.line(g.partial[:i])
		g.partial = g.partial[i+1:]
	}
	return len(p), nil
}

func (g *gateLog) line(b []byte) {
	g.lines++
	var l logLine
	if json.Unmarshal(b, &l) != nil {
		l = logLine{Level: "?", Message: string(b)}
	}
	if strings.HasPrefix(l.Message, "redis ") {
		g.redis = append(g.redis, l)
	}
	if l.Level == "error" || l.Level == "fatal" || l.Level == "panic" {
		g.errors[l.Message]++
	}
}

// summary is what the report prints of the log: the Redis lines, grouped
// in order, and the lines at error level.
type logSummary struct {
	lines int
	// redis lists the reachability lines: one entry per run of lines with
	// the same message.
	redis []string
	// errorLines counts the lines at error level; errorOther those that are
	// not the outage's own.
	errorLines, errorOther int
}

func (g *gateLog) summary() logSummary {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := logSummary{lines: g.lines}
	for i := 0; i < len(g.redis); {
		l := g.redis[i]
		j := i + 1
		for j < len(g.redis) && g.redis[j].Message == l.Message {
			j++
		}
		msg, _, _ := strings.Cut(l.Message, ":")
		entry := fmt.Sprintf("%s %q", l.Level, msg)
		if j-i > 1 {
			entry += fmt.Sprintf(" ×%d", j-i)
		}
		switch {
		case l.Outage != "":
			entry += fmt.Sprintf(" outage=%s failed_requests=%.0f", g.redis[j-1].Outage, g.redis[j-1].Failed)
		case l.Error != "":
			entry += fmt.Sprintf(" (%s)", l.Error)
		}
		s.redis = append(s.redis, entry)
		i = j
	}
	for msg, n := range g.errors {
		s.errorLines += n
		if !strings.HasPrefix(msg, "redis unreachable") {
			s.errorOther += n
		}
	}
	return s
}
