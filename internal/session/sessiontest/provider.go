package sessiontest

import (
	"context"
	"testing"

	"gate/internal/session"
)

// providerSession is a session signed in through provider as subject, in
// the provider's session sid (may be empty).
func (e *env) providerSession(t testing.TB, user, provider, subject, sid string) *session.Session {
	t.Helper()
	s := e.newSession(t, user)
	s.Stamp = ""
	s.Provider, s.Subject, s.SID = provider, subject, sid
	id, err := e.store.NewID(s.Owner())
	if err != nil {
		t.Fatal(err)
	}
	s.ID = id
	return s
}

// A provider session keeps its provider, subject and sid.
func testProviderRoundTrip(t *testing.T, e *env) {
	for _, sid := range []string{"", uniqueUser("sid")} {
		want := e.providerSession(t, uniqueUser("alice"), "corp", uniqueUser("sub"), sid)
		e.create(t, want)
		got := e.mustGet(t, want.ID)
		if got.Provider != want.Provider || got.Subject != want.Subject || got.SID != want.SID || got.Stamp != "" {
			t.Errorf("provider, subject, sid, stamp = %q %q %q %q; want %q %q %q \"\"",
				got.Provider, got.Subject, got.SID, got.Stamp, want.Provider, want.Subject, want.SID)
		}
		if !got.External() {
			t.Error("External() = false for a provider session without a stamp")
		}
	}
	plain := e.newSession(t, uniqueUser("bob"))
	e.create(t, plain)
	if got := e.mustGet(t, plain.ID); got.Provider != "" || got.External() {
		t.Errorf("password session: provider %q, External %v; want none", got.Provider, got.External())
	}
}

// DeleteProvider by subject ends every session of that subject at that
// provider, and only those: not the same subject at another provider, not
// a password session of the same user name.
func testDeleteProviderSubject(t *testing.T, e *env) {
	ctx := context.Background()
	user, sub := uniqueUser("alice"), uniqueUser("sub")
	mine := []*session.Session{
		e.providerSession(t, user, "corp", sub, uniqueUser("sid")),
		e.providerSession(t, user, "corp", sub, ""),
	}
	others := []*session.Session{
		e.providerSession(t, user, "other", sub, ""),
		e.providerSession(t, uniqueUser("carol"), "corp", uniqueUser("sub"), ""),
		e.newSession(t, user),
	}
	for _, s := range append(append([]*session.Session{}, mine...), others...) {
		e.create(t, s)
	}
	n, err := e.store.DeleteProvider(ctx, "corp", sub, "")
	if err != nil {
		t.Fatalf("DeleteProvider: %v", err)
	}
	if got, want := n, len(mine); got != want {
		t.Errorf("DeleteProvider = %d; want %d", got, want)
	}
	for _, s := range mine {
		e.mustBeGone(t, s.ID)
	}
	for _, s := range others {
		e.mustGet(t, s.ID)
	}
	if n, err := e.store.DeleteProvider(ctx, "corp", sub, ""); err != nil || n != 0 {
		t.Errorf("DeleteProvider again = %d, %v; want 0, nil", n, err)
	}
}

// DeleteProvider by sid ends that provider session's gate sessions only,
// and the per-user index still ends the rest.
func testDeleteProviderSID(t *testing.T, e *env) {
	ctx := context.Background()
	user, sub, sid := uniqueUser("alice"), uniqueUser("sub"), uniqueUser("sid")
	a := e.providerSession(t, user, "corp", sub, sid)
	b := e.providerSession(t, user, "corp", sub, uniqueUser("sid"))
	e.create(t, a)
	e.create(t, b)
	n, err := e.store.DeleteProvider(ctx, "corp", sub, sid)
	if err != nil || n != 1 {
		t.Fatalf("DeleteProvider(sid) = %d, %v; want 1, nil", n, err)
	}
	e.mustBeGone(t, a.ID)
	e.mustGet(t, b.ID)
	if n, err := e.store.DeleteUser(ctx, session.ProviderOwner("corp", sub)); err != nil || n != 1 {
		t.Errorf("DeleteUser(ProviderOwner) = %d, %v; want 1, nil", n, err)
	}
}

// A provider's user is not the users-file user of the same name: each
// one's DeleteUser ends only its own sessions.
func testProviderOwner(t *testing.T, e *env) {
	ctx := context.Background()
	user, sub := uniqueUser("alice"), uniqueUser("sub")
	external := e.providerSession(t, user, "corp", sub, "")
	linked := e.providerSession(t, user, "corp", uniqueUser("sub"), "")
	linked.Stamp = "stamp"
	id, err := e.store.NewID(linked.Owner())
	if err != nil {
		t.Fatal(err)
	}
	linked.ID = id
	plain := e.newSession(t, user)
	for _, s := range []*session.Session{external, linked, plain} {
		e.create(t, s)
	}
	if got, want := external.Owner(), session.ProviderOwner("corp", sub); got != want || linked.Owner() != user {
		t.Fatalf("owners: external %q, linked %q; want %q, %q", got, linked.Owner(), want, user)
	}
	if n, err := e.store.DeleteUser(ctx, user); err != nil || n != 2 {
		t.Fatalf("DeleteUser(file user) = %d, %v; want 2 (password and linked), nil", n, err)
	}
	e.mustGet(t, external.ID)
	e.mustBeGone(t, linked.ID)
	e.mustBeGone(t, plain.ID)
	if n, err := e.store.DeleteUser(ctx, external.Owner()); err != nil || n != 1 {
		t.Fatalf("DeleteUser(provider owner) = %d, %v; want 1, nil", n, err)
	}
	e.mustBeGone(t, external.ID)
}

// A session deleted on its own is not counted by DeleteProvider.
func testDeleteProviderAfterDelete(t *testing.T, e *env) {
	ctx := context.Background()
	user, sub := uniqueUser("alice"), uniqueUser("sub")
	a := e.providerSession(t, user, "corp", sub, "")
	b := e.providerSession(t, user, "corp", sub, "")
	e.create(t, a)
	e.create(t, b)
	if err := e.store.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	n, err := e.store.DeleteProvider(ctx, "corp", sub, "")
	if err != nil || n != 1 {
		t.Fatalf("DeleteProvider = %d, %v; want 1, nil", n, err)
	}
	e.mustBeGone(t, b.ID)
}
