package gateway

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Auth checks a request's credentials: HTTP basic auth against bcrypt
// hashes (htpasswd -B lines, "user:$2y$..."), or a bearer token.
type Auth struct {
	users  map[string][]byte
	tokens [][sha256.Size]byte

	// verified remembers passwords that matched, by digest, so each
	// request does not pay bcrypt's deliberate cost again.
	mu       sync.Mutex
	verified map[string][sha256.Size]byte
}

// dummyHash is compared against when the user is unknown, so the answer
// takes as long as for a known user with a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("hafs-no-such-user"), bcrypt.MinCost)

// LoadAuth reads a file of bcrypt user hashes and/or a file of bearer
// tokens (one per line; blank lines and # comments are skipped).
func LoadAuth(usersFile, tokensFile string) (*Auth, error) {
	a := &Auth{users: map[string][]byte{}, verified: map[string][sha256.Size]byte{}}
	if usersFile != "" {
		err := eachLine(usersFile, func(n int, line string) error {
			user, hash, ok := strings.Cut(line, ":")
			if !ok || user == "" {
				return fmt.Errorf("%s line %d: want user:bcrypt-hash", usersFile, n)
			}
			if _, err := bcrypt.Cost([]byte(hash)); err != nil {
				return fmt.Errorf("%s line %d: user %s: not a bcrypt hash (make one with htpasswd -nB)", usersFile, n, user)
			}
			a.users[user] = []byte(hash)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if tokensFile != "" {
		err := eachLine(tokensFile, func(_ int, line string) error {
			a.tokens = append(a.tokens, sha256.Sum256([]byte(line)))
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(a.users) == 0 && len(a.tokens) == 0 {
		return nil, fmt.Errorf("no users or tokens in %s", strings.Trim(usersFile+" "+tokensFile, " "))
	}
	return a, nil
}

func eachLine(file string, fn func(n int, line string) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	return nil
}

// Check returns the authenticated user ("token" for a bearer token).
func (a *Auth) Check(r *http.Request) (string, bool) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		found := 0
		for _, t := range a.tokens {
			found |= subtle.ConstantTimeCompare(sum[:], t[:])
		}
		return "token", found == 1
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	sum := sha256.Sum256([]byte(user + "\x00" + pass))
	a.mu.Lock()
	prev, seen := a.verified[user]
	a.mu.Unlock()
	if seen && subtle.ConstantTimeCompare(prev[:], sum[:]) == 1 {
		return user, true
	}
	hash, known := a.users[user]
	if !known {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(pass))
		return "", false
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil {
		return "", false
	}
	a.mu.Lock()
	a.verified[user] = sum
	a.mu.Unlock()
	return user, true
}
