// Package revoke ends, in the session store, every session of the users the
// users file revokes (a new password hash, a user disabled or removed), and
// keeps trying while the store is down.
//
// The users file already refuses such a user at the next request; deleting
// the sessions is what makes the revocation final, so that re-enabling the
// user, or re-adding the name for someone else, never brings an old session
// back. With a shared store, one instance's deletion ends the sessions on
// every instance.
package revoke
