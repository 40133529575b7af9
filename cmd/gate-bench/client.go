package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// conn is a minimal HTTP/1.1 keep-alive client for one connection. The load
// generator shares the machine with the servers it measures, so it must cost
// far less per request than net/http's client; it understands exactly the
// answers our servers give (Content-Length bodies).
type conn struct {
	c net.Conn
	r *bufio.Reader
}

func dial(addr string) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, r: bufio.NewReaderSize(c, 4096)}, nil
}

func (c *conn) Close() error { return c.c.Close() }

var errProtocol = errors.New("unexpected HTTP response")

// do writes one prebuilt request and reads the response, returning its status.
func (c *conn) do(req []byte) (int, error) {
	_ = c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write(req); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("%w: status line %q", errProtocol, line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("%w: status line %q", errProtocol, line)
	}
	length := -1
	for {
		line, err = c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				return 0, fmt.Errorf("%w: %q", errProtocol, line)
			}
		}
		if bytes.HasPrefix(bytes.ToLower(line), []byte("transfer-encoding:")) {
			return 0, fmt.Errorf("%w: chunked body", errProtocol)
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("%w: no Content-Length", errProtocol)
	}
	if _, err := c.r.Discard(length); err != nil {
		return 0, err
	}
	return code, nil
}

// authzRequest builds the forward-auth request a proxy sends for one user.
func authzRequest(host, cookie string, i int) []byte {
	if cookie == "" {
		return authzRequestTo(host, "app.example.com", "", i)
	}
	return authzRequestTo(host, "app.example.com", "Cookie: "+cookie, i)
}

// basicRequest is authzRequest with Basic credentials instead of a cookie.
func basicRequest(host, user, password string, i int) []byte {
	cred := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	return authzRequestTo(host, "app.example.com", "Authorization: Basic "+cred, i)
}

// authzRequestTo builds the forward-auth request for forwardedHost,
// carrying credential (a whole header line without its CRLF, or empty).
func authzRequestTo(host, forwardedHost, credential string, i int) []byte {
	var b bytes.Buffer
	b.WriteString("GET /api/authz/forward-auth HTTP/1.1\r\n")
	b.WriteString("Host: " + host + "\r\n")
	b.WriteString("X-Forwarded-Method: GET\r\n")
	b.WriteString("X-Forwarded-Proto: https\r\n")
	b.WriteString("X-Forwarded-Host: " + forwardedHost + "\r\n")
	fmt.Fprintf(&b, "X-Forwarded-Uri: /dashboard/items?page=%d\r\n", i%50)
	fmt.Fprintf(&b, "X-Forwarded-For: 203.0.113.%d\r\n", i%250+1)
	b.WriteString("User-Agent: Mozilla/5.0 (X11; Linux x86_64) gate-bench\r\n")
	b.WriteString("Accept: text/html,application/xhtml+xml\r\n")
	if credential != "" {
		b.WriteString(credential + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}
