package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Algorithms accepted by HashPassword.
const (
	AlgorithmArgon2id = "argon2id"
	AlgorithmBcrypt   = "bcrypt"
)

// Parameters of the hashes HashPassword produces, the same as Authelia's
// defaults for argon2id. Memory is in KiB.
const (
	Argon2Memory      = 64 * 1024
	Argon2Iterations  = 3
	Argon2Parallelism = 4
	Argon2SaltLength  = 16
	Argon2KeyLength   = 32
	BcryptCost        = 12
)

// Bounds on the argon2id parameters a users file may carry. The file is
// trusted, but a typo such as m=6553600 would make every login allocate
// 6 GiB; refusing it at load time beats an out-of-memory kill at login.
const (
	maxArgon2Memory     = 4 * 1024 * 1024 // 4 GiB
	maxArgon2Iterations = 1 << 10
	minArgon2SaltLength = 8 // RFC 9106 minimum
	minArgon2KeyLength  = 4 // RFC 9106 minimum
	maxArgon2KeyLength  = 1024
	maxArgon2SaltLength = 1024
)

// errBadHash is wrapped by every hash parse error. Messages never include the
// hash or any part of it.
var errBadHash = errors.New("not a supported password hash (want an argon2id PHC string $argon2id$v=19$m=...,t=...,p=...$salt$key or bcrypt $2a$/$2b$/$2y$)")

// HashPassword hashes password for the users file with algorithm, which is
// AlgorithmArgon2id (also when empty) or AlgorithmBcrypt. argon2id hashes are
// PHC strings with the Argon2* parameters above; bcrypt uses BcryptCost and
// refuses passwords longer than 72 bytes rather than silently truncating them.
func HashPassword(password, algorithm string) (string, error) {
	switch algorithm {
	case "", AlgorithmArgon2id:
		return hashArgon2id(password, Argon2Memory, Argon2Iterations, Argon2Parallelism)
	case AlgorithmBcrypt:
		h, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
		if err != nil {
			return "", fmt.Errorf("users: bcrypt: %w", err)
		}
		return string(h), nil
	default:
		return "", fmt.Errorf("users: unknown hash algorithm %q (want %s or %s)", algorithm, AlgorithmArgon2id, AlgorithmBcrypt)
	}
}

// hashArgon2id hashes with explicit parameters; tests use it to make cheap
// fixtures, since a hash carries its own parameters.
func hashArgon2id(password string, memory, iterations uint32, parallelism uint8) (string, error) {
	salt := make([]byte, Argon2SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("users: salt: %w", err)
	}
	h := argon2Hash{memory: memory, iterations: iterations, parallelism: parallelism, salt: salt}
	h.key = argon2.IDKey([]byte(password), salt, iterations, memory, parallelism, Argon2KeyLength)
	return h.String(), nil
}

// verifier checks a password against one parsed hash.
type verifier interface {
	// verify reports whether password matches, comparing in constant time.
	verify(password string) (bool, error)
	// shape identifies algorithm and cost, not the secret parts, so that a
	// dummy with the same cost can be built for unknown users.
	shape() string
	// dummy returns a verifier of the same shape that no password matches.
	dummy() (verifier, error)
	// scratch is the memory in bytes one verification allocates.
	scratch() uint64
}

// parseHash parses a hash from the users file.
func parseHash(s string) (verifier, error) {
	switch {
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return parseBcrypt(s)
	default:
		return nil, errBadHash
	}
}

// argon2Hash is a parsed argon2id PHC string.
type argon2Hash struct {
	memory      uint32 // KiB
	iterations  uint32
	parallelism uint8
	salt, key   []byte
}

// parseArgon2id parses $argon2id$v=19$m=M,t=T,p=P$salt$key, with salt and key
// in unpadded standard base64 as in the PHC format (padding is tolerated).
// Only version 19 exists in x/crypto; the parameters may come in any order.
func parseArgon2id(s string) (verifier, error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 {
		return nil, fmt.Errorf("%w: argon2id: want 5 $-separated fields", errBadHash)
	}
	if parts[2] != "v=19" {
		return nil, fmt.Errorf("%w: argon2id: version must be v=19", errBadHash)
	}
	var h argon2Hash
	var seen [3]bool
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%w: argon2id: parameters must look like m=65536,t=3,p=4", errBadHash)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: argon2id: parameter %s is not a number", errBadHash, k)
		}
		switch k {
		case "m":
			h.memory, seen[0] = uint32(n), true
		case "t":
			h.iterations, seen[1] = uint32(n), true
		case "p":
			if n < 1 || n > 255 {
				return nil, fmt.Errorf("%w: argon2id: p must be 1-255", errBadHash)
			}
			h.parallelism, seen[2] = uint8(n), true
		default:
			return nil, fmt.Errorf("%w: argon2id: unknown parameter %q", errBadHash, k)
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return nil, fmt.Errorf("%w: argon2id: parameters m, t and p are required", errBadHash)
	}
	switch {
	case h.iterations < 1 || h.iterations > maxArgon2Iterations:
		return nil, fmt.Errorf("%w: argon2id: t must be 1-%d", errBadHash, maxArgon2Iterations)
	case h.memory < 8*uint32(h.parallelism) || h.memory > maxArgon2Memory:
		return nil, fmt.Errorf("%w: argon2id: m must be 8*p-%d KiB", errBadHash, maxArgon2Memory)
	}
	var err error
	if h.salt, err = decodeB64(parts[4]); err != nil {
		return nil, fmt.Errorf("%w: argon2id: salt is not base64", errBadHash)
	}
	if h.key, err = decodeB64(parts[5]); err != nil {
		return nil, fmt.Errorf("%w: argon2id: key is not base64", errBadHash)
	}
	if len(h.salt) < minArgon2SaltLength || len(h.salt) > maxArgon2SaltLength {
		return nil, fmt.Errorf("%w: argon2id: salt must be %d-%d bytes", errBadHash, minArgon2SaltLength, maxArgon2SaltLength)
	}
	if len(h.key) < minArgon2KeyLength || len(h.key) > maxArgon2KeyLength {
		return nil, fmt.Errorf("%w: argon2id: key must be %d-%d bytes", errBadHash, minArgon2KeyLength, maxArgon2KeyLength)
	}
	return h, nil
}

// decodeB64 decodes the PHC encoding (standard alphabet, no padding), and
// tolerates padding since some tools write it.
func decodeB64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

func (h argon2Hash) verify(password string) (bool, error) {
	got := argon2.IDKey([]byte(password), h.salt, h.iterations, h.memory, h.parallelism, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

func (h argon2Hash) shape() string {
	return fmt.Sprintf("argon2id m=%d,t=%d,p=%d salt=%d key=%d", h.memory, h.iterations, h.parallelism, len(h.salt), len(h.key))
}

func (h argon2Hash) scratch() uint64 { return uint64(h.memory) * 1024 }

func (h argon2Hash) dummy() (verifier, error) {
	d := h
	d.salt = make([]byte, len(h.salt))
	d.key = make([]byte, len(h.key))
	if _, err := rand.Read(d.salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(d.key); err != nil {
		return nil, err
	}
	return d, nil
}

// String formats the PHC string.
func (h argon2Hash) String() string {
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", h.memory, h.iterations, h.parallelism,
		base64.RawStdEncoding.EncodeToString(h.salt), base64.RawStdEncoding.EncodeToString(h.key))
}

// bcryptHash is a whole bcrypt hash, as x/crypto/bcrypt compares it.
type bcryptHash []byte

// bcryptAlphabet is bcrypt's own base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// parseBcrypt checks the shape $2x$CC$<22 salt><31 hash>. $2a$, $2b$ and $2y$
// are one algorithm for passwords that are valid UTF-8 without the historic
// 8-bit bug, and x/crypto compares all three.
func parseBcrypt(s string) (verifier, error) {
	if len(s) != 60 || s[6] != '$' {
		return nil, fmt.Errorf("%w: bcrypt: want $2x$cost$ and 53 characters", errBadHash)
	}
	for i := 7; i < len(s); i++ {
		if strings.IndexByte(bcryptAlphabet, s[i]) < 0 {
			return nil, fmt.Errorf("%w: bcrypt: salt and hash must use bcrypt's base64 alphabet", errBadHash)
		}
	}
	if _, err := bcrypt.Cost([]byte(s)); err != nil {
		return nil, fmt.Errorf("%w: bcrypt: cost must be %d-%d", errBadHash, bcrypt.MinCost, bcrypt.MaxCost)
	}
	return bcryptHash(s), nil
}

func (h bcryptHash) verify(password string) (bool, error) {
	// CompareHashAndPassword compares with subtle.ConstantTimeCompare.
	err := bcrypt.CompareHashAndPassword(h, []byte(password))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		return false, fmt.Errorf("bcrypt: %w", err)
	}
}

func (h bcryptHash) shape() string { return "bcrypt cost=" + string(h[4:6]) }

// scratch is bcrypt's state, about 4 KiB whatever the cost.
func (h bcryptHash) scratch() uint64 { return 4 << 10 }

// dummy keeps the prefix and cost and fills salt and hash at random: the
// comparison costs the same and can never succeed.
func (h bcryptHash) dummy() (verifier, error) {
	b := make([]byte, 60)
	copy(b, h[:7])
	r := make([]byte, 53)
	if _, err := rand.Read(r); err != nil {
		return nil, err
	}
	for i, c := range r {
		b[7+i] = bcryptAlphabet[int(c)%len(bcryptAlphabet)]
	}
	return bcryptHash(b), nil
}

// defaultDummy is the dummy used when the file has no users: the cost of a
// default argon2id hash.
func defaultDummy() (verifier, error) {
	return argon2Hash{
		memory: Argon2Memory, iterations: Argon2Iterations, parallelism: Argon2Parallelism,
		salt: make([]byte, Argon2SaltLength), key: make([]byte, Argon2KeyLength),
	}.dummy()
}
