package cookie_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gate/internal/cookie"
	"gate/internal/keys"
)

const (
	name   = "gate_session"
	secret = "a-secret-of-at-least-thirty-two-characters"
	testID = "VGhpcyBpcyBhIHRlc3Qgc2Vzc2lvbiBpZCwgMzIgYnl0ZXM"
)

func deriveKeys(t testing.TB, secret string) (hashKey, blockKey []byte) {
	t.Helper()
	k, err := keys.FromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k.CookieHash, k.CookieBlock
}

func baseConfig(t testing.TB) cookie.Config {
	t.Helper()
	hk, bk := deriveKeys(t, secret)
	return cookie.Config{
		Name:     name,
		HashKey:  hk,
		BlockKey: bk,
		Domain:   "example.com",
		Secure:   true,
		SameSite: http.SameSiteLaxMode,
	}
}

func newCodec(t testing.TB) *cookie.Codec {
	t.Helper()
	c, err := cookie.New(baseConfig(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// setCookies returns what one call to fn wrote as Set-Cookie headers.
func setCookies(t testing.TB, fn func(w http.ResponseWriter)) []*http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	fn(rec)
	var out []*http.Cookie
	for _, line := range rec.Header().Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("ParseSetCookie(%q): %v", line, err)
		}
		out = append(out, c)
	}
	return out
}

// encoded returns a cookie value c produced for id.
func encoded(t testing.TB, c *cookie.Codec, id string) string {
	t.Helper()
	cs := setCookies(t, func(w http.ResponseWriter) {
		if err := c.Write(w, id, 0); err != nil {
			t.Fatalf("Write: %v", err)
		}
	})
	if len(cs) != 1 {
		t.Fatalf("Write set %d cookies; want 1", len(cs))
	}
	return cs[0].Value
}

func requestWith(cookieHeaders ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com/", nil)
	for _, h := range cookieHeaders {
		r.Header.Add("Cookie", h)
	}
	return r
}

func TestRoundTrip(t *testing.T) {
	c := newCodec(t)
	value := encoded(t, c, testID)
	if strings.Contains(value, testID) {
		t.Fatalf("cookie value %q shows the id in clear", value)
	}

	got, err := c.Read(requestWith("theme=dark; " + name + "=" + value + "; other=1"))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got != testID {
		t.Errorf("Read = %q; want %q", got, testID)
	}
	if got, want := c.Name(), name; got != want {
		t.Errorf("Name() = %q; want %q", got, want)
	}
}

func TestWriteAttributes(t *testing.T) {
	tests := []struct {
		name       string
		secure     bool
		domain     string
		sameSite   http.SameSite
		maxAge     time.Duration
		wantMaxAge int
		wantSame   http.SameSite
	}{
		{"browser_session", true, "example.com", http.SameSiteLaxMode, 0, 0, http.SameSiteLaxMode},
		{"remember_me", true, "example.com", http.SameSiteStrictMode, 30 * 24 * time.Hour, 30 * 24 * 3600, http.SameSiteStrictMode},
		{"sub_second_rounds_up", true, "example.com", http.SameSiteLaxMode, 300 * time.Millisecond, 1, http.SameSiteLaxMode},
		{"negative_is_browser_session", true, "example.com", http.SameSiteLaxMode, -time.Hour, 0, http.SameSiteLaxMode},
		{"plain_http", false, "example.com", http.SameSiteLaxMode, 0, 0, http.SameSiteLaxMode},
		{"same_site_none", true, "example.com", http.SameSiteNoneMode, 0, 0, http.SameSiteNoneMode},
		{"same_site_zero_is_lax", true, "example.com", 0, 0, 0, http.SameSiteLaxMode},
		{"host_only", true, "", http.SameSiteLaxMode, 0, 0, http.SameSiteLaxMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.Secure, cfg.Domain, cfg.SameSite = tt.secure, tt.domain, tt.sameSite
			c, err := cookie.New(cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			before := time.Now()
			cs := setCookies(t, func(w http.ResponseWriter) {
				if err := c.Write(w, testID, tt.maxAge); err != nil {
					t.Fatalf("Write: %v", err)
				}
			})
			if len(cs) != 1 {
				t.Fatalf("Write set %d cookies; want 1", len(cs))
			}
			got := cs[0]
			if got.Name != name {
				t.Errorf("Name = %q; want %q", got.Name, name)
			}
			if got.Domain != tt.domain {
				t.Errorf("Domain = %q; want %q", got.Domain, tt.domain)
			}
			if got.Path != "/" {
				t.Errorf("Path = %q; want %q", got.Path, "/")
			}
			if !got.HttpOnly {
				t.Error("HttpOnly not set")
			}
			if got.Secure != tt.secure {
				t.Errorf("Secure = %v; want %v", got.Secure, tt.secure)
			}
			if got.SameSite != tt.wantSame {
				t.Errorf("SameSite = %v; want %v", got.SameSite, tt.wantSame)
			}
			if got.MaxAge != tt.wantMaxAge {
				t.Errorf("MaxAge = %d; want %d", got.MaxAge, tt.wantMaxAge)
			}
			if tt.wantMaxAge == 0 {
				if !got.Expires.IsZero() {
					t.Errorf("Expires = %v on a browser-session cookie", got.Expires)
				}
				return
			}
			// Expires is written to the second.
			want := before.Add(time.Duration(tt.wantMaxAge) * time.Second)
			if d := got.Expires.Sub(want); d < -time.Second || d > 2*time.Second {
				t.Errorf("Expires = %v; want about %v", got.Expires, want)
			}
		})
	}
}

func TestWriteEmptyID(t *testing.T) {
	c := newCodec(t)
	rec := httptest.NewRecorder()
	if err := c.Write(rec, "", 0); err == nil {
		t.Error("Write(\"\") = nil; want an error")
	}
	if got := rec.Header().Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("Write(\"\") set %q", got)
	}
}

func TestClear(t *testing.T) {
	c := newCodec(t)
	cs := setCookies(t, c.Clear)
	if len(cs) != 1 {
		t.Fatalf("Clear set %d cookies; want 1", len(cs))
	}
	got := cs[0]
	// A deletion only matches the cookie with the same name, domain and path.
	if got.Name != name || got.Domain != "example.com" || got.Path != "/" {
		t.Errorf("Clear = name %q, domain %q, path %q; want %q, %q, %q", got.Name, got.Domain, got.Path, name, "example.com", "/")
	}
	if got.Value != "" {
		t.Errorf("Value = %q; want empty", got.Value)
	}
	if got.MaxAge != -1 {
		t.Errorf("MaxAge = %d; want -1 (Max-Age=0)", got.MaxAge)
	}
	if !got.HttpOnly || !got.Secure || got.SameSite != http.SameSiteLaxMode {
		t.Errorf("HttpOnly %v, Secure %v, SameSite %v; want the attributes of Write", got.HttpOnly, got.Secure, got.SameSite)
	}
}

func TestReadInvalid(t *testing.T) {
	c := newCodec(t)
	valid := encoded(t, c, testID)

	otherSecret := baseConfig(t)
	otherSecret.HashKey, otherSecret.BlockKey = deriveKeys(t, "another-secret-of-thirty-two-characters!")
	foreign, err := cookie.New(otherSecret)
	if err != nil {
		t.Fatal(err)
	}
	otherName := baseConfig(t)
	otherName.Name = "other_cookie"
	renamed, err := cookie.New(otherName)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		value string
	}{
		{"tampered", flip(valid, len(valid)/2)},
		{"tampered_first_byte", flip(valid, 0)},
		{"tampered_last_byte", flip(valid, len(valid)-2)},
		{"other_secret", encoded(t, foreign, testID)},
		// The signature binds the name: a value from another cookie of
		// ours does not pass as the session cookie.
		{"other_cookie_name", encoded(t, renamed, testID)},
		{"truncated", valid[:len(valid)-10]},
		{"truncated_to_half", valid[:len(valid)/2]},
		{"base64_garbage", "!!!not*base64***"},
		{"valid_base64_no_fields", base64.URLEncoding.EncodeToString([]byte("hello"))},
		{"valid_base64_forged_fields", base64.URLEncoding.EncodeToString([]byte("1700000000|" + testID + "|mac"))},
		// Go's base64 decoder would skip these; the value would then decode
		// although it is not one the codec wrote.
		{"line_break_inside", valid[:10] + "\r\n" + valid[10:]},
		{"empty", ""},
		{"quotes_only", `""`},
		{"oversize", strings.Repeat("A", 5000)},
		{"oversize_valid_prefix", valid + strings.Repeat("A", 5000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Read(requestWith(name + "=" + tt.value))
			if !errors.Is(err, cookie.ErrInvalid) {
				t.Errorf("Read = %q, %v; want ErrInvalid", got, err)
			}
			if got != "" {
				t.Errorf("Read returned id %q with an error", got)
			}
		})
	}
}

// flip changes the byte at i to another base64url character, so the value
// still decodes as base64 and only the MAC can catch it.
// flip changes the character at i so that the decoded bits change too:
// the top bit of its 6-bit base64 value flips. (Swapping, say, 'A' for 'B'
// in the last character only touches padding bits, which decoders ignore,
// and the "tampered" value would still be the same cookie.)
func flip(s string, i int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := []byte(s)
	if v := strings.IndexByte(alphabet, b[i]); v >= 0 {
		b[i] = alphabet[v^32]
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestReadNoCookie(t *testing.T) {
	c := newCodec(t)
	tests := []struct {
		name    string
		headers []string
	}{
		{"no_header", nil},
		{"empty_header", []string{""}},
		{"other_cookies", []string{"theme=dark; lang=en"}},
		{"name_as_prefix", []string{name + "2=abc; x" + name + "=abc"}},
		{"name_without_value", []string{name}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Read(requestWith(tt.headers...))
			if !errors.Is(err, cookie.ErrNoCookie) {
				t.Errorf("Read = %q, %v; want ErrNoCookie", got, err)
			}
		})
	}
}

func TestReadDuplicates(t *testing.T) {
	c := newCodec(t)
	const otherID = "c2Vjb25kIHNlc3Npb24gaWQgb2YgMzIgYnl0ZXMgbG9uZw"
	valid := encoded(t, c, testID)
	second := encoded(t, c, otherID)

	tests := []struct {
		name    string
		headers []string
		want    string
		wantErr error
	}{
		{"garbage_then_valid", []string{name + "=garbage; " + name + "=" + valid}, testID, nil},
		{"tampered_then_valid", []string{name + "=" + flip(valid, 20) + "; " + name + "=" + valid}, testID, nil},
		// HTTP/2 may send each cookie as its own header line.
		{"valid_in_second_line", []string{name + "=garbage", "a=b; " + name + "=" + valid}, testID, nil},
		{"two_valid_first_wins", []string{name + "=" + valid + "; " + name + "=" + second}, testID, nil},
		{"all_invalid", []string{name + "=x; " + name + "=y"}, "", cookie.ErrInvalid},
		{"quoted_value", []string{name + `="` + valid + `"`}, testID, nil},
		{"spaces_around", []string{"  " + name + " = " + valid + "  ;a=b"}, testID, nil},
		// Past the cap the request is refused before the valid one: it
		// costs at most a few HMACs whatever the header holds.
		{"stuffed_header", []string{strings.Repeat(name+"=x; ", 20) + name + "=" + valid}, "", cookie.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Read(requestWith(tt.headers...))
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("Read = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestReadOldCookie checks that age alone never invalidates a cookie:
// remember-me may outlast securecookie's default 30 days, and the store
// decides when a session ends.
func TestReadOldCookie(t *testing.T) {
	c := newCodec(t)
	hk, bk := deriveKeys(t, secret)
	yearAgo := time.Now().Add(-365 * 24 * time.Hour).Unix()
	value := encodeAt(t, name, []byte(testID), yearAgo, hk, bk)

	got, err := c.Read(requestWith(name + "=" + value))
	if err != nil || got != testID {
		t.Errorf("Read(year-old cookie) = %q, %v; want %q", got, err, testID)
	}
}

// encodeAt builds a value in securecookie's format (AES-CTR, then
// HMAC-SHA256 over name|date|value) with a chosen timestamp.
func encodeAt(t testing.TB, name string, value []byte, ts int64, hashKey, blockKey []byte) string {
	t.Helper()
	block, err := aes.NewCipher(blockKey)
	if err != nil {
		t.Fatal(err)
	}
	iv := bytes.Repeat([]byte{7}, block.BlockSize())
	ct := make([]byte, len(value))
	cipher.NewCTR(block, iv).XORKeyStream(ct, value)
	body := fmt.Sprintf("%d|%s", ts, base64.URLEncoding.EncodeToString(append(iv, ct...)))
	mac := hmac.New(sha256.New, hashKey)
	mac.Write([]byte(name + "|" + body))
	return base64.URLEncoding.EncodeToString(append([]byte(body+"|"), mac.Sum(nil)...))
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*cookie.Config)
	}{
		{"empty_name", func(c *cookie.Config) { c.Name = "" }},
		{"name_with_space", func(c *cookie.Config) { c.Name = "gate session" }},
		{"name_with_semicolon", func(c *cookie.Config) { c.Name = "gate;session" }},
		{"no_hash_key", func(c *cookie.Config) { c.HashKey = nil }},
		{"hash_key_16", func(c *cookie.Config) { c.HashKey = make([]byte, 16) }},
		{"hash_key_31", func(c *cookie.Config) { c.HashKey = make([]byte, 31) }},
		{"hash_key_33", func(c *cookie.Config) { c.HashKey = make([]byte, 33) }},
		{"hash_key_63", func(c *cookie.Config) { c.HashKey = make([]byte, 63) }},
		{"hash_key_128", func(c *cookie.Config) { c.HashKey = make([]byte, 128) }},
		{"no_block_key", func(c *cookie.Config) { c.BlockKey = nil }},
		{"block_key_8", func(c *cookie.Config) { c.BlockKey = make([]byte, 8) }},
		{"block_key_15", func(c *cookie.Config) { c.BlockKey = make([]byte, 15) }},
		{"block_key_33", func(c *cookie.Config) { c.BlockKey = make([]byte, 33) }},
		{"block_key_64", func(c *cookie.Config) { c.BlockKey = make([]byte, 64) }},
		{"bad_domain", func(c *cookie.Config) { c.Domain = "exa mple.com" }},
		{"unknown_same_site", func(c *cookie.Config) { c.SameSite = 9 }},
		{"same_site_none_without_secure", func(c *cookie.Config) { c.SameSite, c.Secure = http.SameSiteNoneMode, false }},
		{"secure_prefix_without_secure", func(c *cookie.Config) { c.Name, c.Secure = "__Secure-gate", false }},
		{"host_prefix_with_domain", func(c *cookie.Config) { c.Name = "__Host-gate" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(t)
			tt.modify(&cfg)
			if c, err := cookie.New(cfg); err == nil {
				t.Errorf("New = %v, nil; want an error", c)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	tests := []struct {
		name        string
		hash, block int
	}{
		{"hash_32_aes_128", 32, 16},
		{"hash_32_aes_192", 32, 24},
		{"hash_64_aes_256", 64, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.HashKey, cfg.BlockKey = bytes.Repeat([]byte{1}, tt.hash), bytes.Repeat([]byte{2}, tt.block)
			c, err := cookie.New(cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got, err := c.Read(requestWith(name + "=" + encoded(t, c, testID))); err != nil || got != testID {
				t.Errorf("Read = %q, %v; want %q", got, err, testID)
			}
		})
	}
}

// New copies the keys: a caller wiping or reusing its buffer afterwards
// must not change the codec.
func TestNewCopiesKeys(t *testing.T) {
	cfg := baseConfig(t)
	c, err := cookie.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	value := encoded(t, c, testID)
	clear(cfg.HashKey)
	clear(cfg.BlockKey)
	if got, err := c.Read(requestWith(name + "=" + value)); err != nil || got != testID {
		t.Errorf("Read after the caller cleared its keys = %q, %v; want %q", got, err, testID)
	}
}

func FuzzDecode(f *testing.F) {
	c := newCodec(f)
	// The keys come from a fixed secret, so values made in one fuzzing
	// process decode in every other, and the only id ever encoded with
	// them is testID: any other id out of Read would be a forgery.
	hk, bk := deriveKeys(f, secret)
	values := []string{
		encoded(f, c, testID),
		encodeAt(f, name, []byte(testID), 1_700_000_000, hk, bk),
	}
	for _, v := range values {
		f.Add(name + "=" + v)
		f.Add("a=b; " + name + "=" + v + "; c=d")
		f.Add(name + "=x; " + name + "=" + v)
		f.Add(name + `="` + v + `"`)
	}
	f.Add("")
	f.Add(name + "=")
	f.Add(name + `=""`)
	f.Add(strings.Repeat(name+"=a;", 50))

	f.Fuzz(func(t *testing.T, header string) {
		id, err := c.Read(requestWith(header))
		switch {
		case err == nil:
			if id != testID {
				t.Fatalf("Read(%q) = %q; the codec never produced that id", header, id)
			}
			if !strings.Contains(header, name) {
				t.Fatalf("Read(%q) = %q without a cookie of that name", header, id)
			}
		case errors.Is(err, cookie.ErrNoCookie), errors.Is(err, cookie.ErrInvalid):
			if id != "" {
				t.Fatalf("Read(%q) = %q with error %v", header, id, err)
			}
		default:
			t.Fatalf("Read(%q) = unexpected error %v", header, err)
		}
	})
}

func BenchmarkRead(b *testing.B) {
	c := newCodec(b)
	value := encoded(b, c, testID)
	// A typical header: analytics and preference cookies around ours.
	r := requestWith("_ga=GA1.2.1234567890.1700000000; theme=dark; " + name + "=" + value + "; lang=en-GB; _gid=GA1.2.987654321.1700000000")

	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Read(r); err != nil {
			b.Fatal(err)
		}
	}
}
