package users

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"
)

// ErrInvalidCredentials is returned by Authenticate for an unknown user, a
// wrong password and a disabled user alike, so that a caller cannot tell
// which (user enumeration). ErrBusy (check.go) is its other outcome a
// caller branches on.
var ErrInvalidCredentials = errors.New("users: invalid credentials")

// debounce is how long the watcher waits for a burst of file events to end
// before reloading: editors and kubelet write in several steps.
const debounce = 100 * time.Millisecond

// File is a users file. Lookups read an immutable snapshot through an atomic
// pointer and take no lock; reloads build a new snapshot and swap it in.
type File struct {
	path string
	log  zerolog.Logger
	snap atomic.Pointer[snapshot]

	// checks runs password checks on a bounded pool of workers and pads
	// them to equal times; its timings outlive reloads.
	checks *checker

	mu      sync.Mutex // serialises reloads; never taken by Lookup
	lastSum [32]byte   // content of the snapshot in use
	badSum  [32]byte   // content of the last broken file, to log it once
	// onRevoke is told, after a reload, the users whose password hash
	// changed or who were disabled or removed. Guarded by mu.
	onRevoke func(names []string)

	watcher   *fsnotify.Watcher
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Open reads and validates the users file at path. With watch, it reloads the
// file when it changes; a file that fails to parse is logged and the last
// good snapshot stays in use. Close stops watching.
func Open(path string, watch bool, log zerolog.Logger) (*File, error) {
	f := &File{
		path:   path,
		log:    log,
		checks: defaultChecker(),
	}
	// Watch before the first read, so that a change made in between is not
	// missed.
	if watch {
		if err := f.startWatch(); err != nil {
			return nil, fmt.Errorf("users: watch %s: %w", path, err)
		}
	}
	if err := f.Reload(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Reload reads the file again and, if it parses, swaps it in. On error the
// previous snapshot stays in use and the error is returned. Reloading an
// unchanged file does nothing.
func (f *File) Reload() error {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("users: read users file: %w", err)
	}
	sum := sha256.Sum256(data)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.snap.Load() != nil && sum == f.lastSum {
		return nil
	}
	s, err := parse(f.path, data)
	if err != nil {
		return err
	}
	if err := f.checks.prepare(s); err != nil {
		return fmt.Errorf("users file %s: %w", f.path, err)
	}
	old := f.snap.Swap(s)
	f.lastSum = sum
	if old != nil && f.onRevoke != nil {
		if names := revoked(old, s); len(names) > 0 {
			f.onRevoke(names)
		}
	}
	return nil
}

// OnRevoke sets fn to be called after every reload that revokes users: a
// changed password hash, a user disabled or removed. Lookup already refuses
// them when fn runs; fn ends their sessions for good, so that re-enabling
// or re-adding the name later does not bring an old session back. fn runs
// on the reloading goroutine and must not block.
func (f *File) OnRevoke(fn func(names []string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onRevoke = fn
}

// revoked lists, sorted, the users of old that next removes, disables or
// gives another password hash.
func revoked(old, next *snapshot) []string {
	var names []string
	for name, o := range old.users {
		if o.user.Disabled {
			continue // its sessions ended when it was disabled
		}
		n, ok := next.users[name]
		if !ok || n.user.Disabled || n.user.Stamp != o.user.Stamp {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Len returns the number of users in the snapshot in use, disabled included.
func (f *File) Len() int { return len(f.snap.Load().users) }

// Lookup returns the user called name. It reports false for unknown and for
// disabled users, so that a session of a user disabled or removed from the
// file stops working at its next request. It is a map lookup on the current
// snapshot and takes no lock.
func (f *File) Lookup(name string) (User, bool) {
	e, ok := f.snap.Load().users[name]
	if !ok || e.user.Disabled {
		return User{}, false
	}
	return e.user, true
}

// Entry returns the user named name, disabled or not, for a sign-in
// through a provider linked to the users file: a disabled entry must
// refuse it, not let the provider's identity stand in for it.
func (f *File) Entry(name string) (User, bool) {
	e, ok := f.snap.Load().users[name]
	return e.user, ok
}

// NameTaken reports whether an entry, disabled or not, has name up to
// letter case: a provider's unlinked user "Admin" must not pass as the
// file's "admin" to an application that ignores case.
func (f *File) NameTaken(name string) bool {
	_, ok := f.snap.Load().folded[foldName(name)]
	return ok
}

// foldName is the form NameTaken compares: Unicode simple case folding
// through lower case (the Kelvin sign folds to k).
func foldName(name string) string { return strings.ToLower(name) }

// EntryByEmail returns the user whose email is email (ASCII case aside),
// disabled or not, and how many users have it: a link by email takes an
// entry only when exactly one has it.
func (f *File) EntryByEmail(email string) (User, int) {
	if email == "" {
		return User{}, 0
	}
	var found User
	n := 0
	for _, e := range f.snap.Load().users {
		if strings.EqualFold(e.user.Email, email) {
			found = e.user
			n++
		}
	}
	return found, n
}

// Authenticate checks name and password. Unknown users, wrong passwords and
// disabled users all give ErrInvalidCredentials, and all take the same
// time: an unknown user is verified against a dummy hash of the slowest
// kind in the file, a disabled user's password is still verified, and
// every check, right or wrong, is padded to the slowest kind's time, so
// response times reveal neither which users exist nor which hash they
// have. When every worker is busy and the queue is full, or the wait in
// it runs out, it returns ErrBusy. Other errors (ctx ended while waiting
// for a worker) are returned wrapped.
func (f *File) Authenticate(ctx context.Context, name, password string) (User, error) {
	s := f.snap.Load()
	e, known := s.users[name]
	h := s.dummy
	if known {
		h = e.hash
	}
	ok, err := f.checks.check(ctx, h, password, s.kinds)
	if err != nil {
		return User{}, fmt.Errorf("users: check password of %q: %w", name, err)
	}
	if !known || !ok || e.user.Disabled {
		return User{}, ErrInvalidCredentials
	}
	return e.user, nil
}

// Close stops watching the file. Lookups keep working on the last snapshot.
func (f *File) Close() error {
	var err error
	f.closeOnce.Do(func() {
		if f.watcher == nil {
			return
		}
		close(f.stop)
		<-f.done
		err = f.watcher.Close()
	})
	return err
}

// startWatch watches the directory of the file rather than the file: editors
// replace files by rename, and Kubernetes swaps a ConfigMap by repointing a
// "..data" symlink, and a watch on the file itself would die with the old
// inode. If the path is a symlink into another directory, that directory is
// watched too, so edits of the target are seen.
func (f *File) startWatch() error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.path)
	if err := w.Add(dir); err != nil {
		w.Close()
		return err
	}
	if real, err := filepath.EvalSymlinks(f.path); err == nil {
		if rdir := filepath.Dir(real); rdir != dir {
			if err := w.Add(rdir); err != nil {
				f.log.Warn().Err(err).Str("dir", rdir).Msg("users file: cannot watch the symlink target's directory")
			}
		}
	}
	f.watcher = w
	f.stop = make(chan struct{})
	f.done = make(chan struct{})
	go f.watch()
	return nil
}

// watch reloads debounce after the first event of each burst in the
// watched directories. Events are not filtered by name: the name that
// changes may be a symlink level above the file. Reload skips unchanged
// content, so unrelated events cost one small file read. The delay does
// not restart with every event: a file written continuously beside the
// users file (a log) would otherwise put a revocation off for ever.
func (f *File) watch() {
	defer close(f.done)
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	pending := false
	for {
		select {
		case <-f.stop:
			return
		case ev, ok := <-f.watcher.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod || pending {
				continue
			}
			pending = true
			timer.Reset(debounce)
		case err, ok := <-f.watcher.Errors:
			if !ok {
				return
			}
			f.log.Warn().Err(err).Str("file", f.path).Msg("users file: watch error")
		case <-timer.C:
			pending = false
			f.reloadAndLog()
		}
	}
}

// reloadAndLog reloads and logs the outcome in one line. A broken file is
// logged once per distinct content, not on every unrelated event.
func (f *File) reloadAndLog() {
	before := f.snap.Load()
	err := f.Reload()
	if err == nil {
		if s := f.snap.Load(); s != before {
			f.log.Info().Str("file", f.path).Int("users", len(s.users)).Msg("users file reloaded")
		}
		return
	}
	data, _ := os.ReadFile(f.path)
	sum := sha256.Sum256(data)
	f.mu.Lock()
	repeated := sum == f.badSum
	f.badSum = sum
	f.mu.Unlock()
	if !repeated {
		f.log.Error().Str("file", f.path).Err(err).Msg("users file not reloaded; keeping the last good one")
	}
}
