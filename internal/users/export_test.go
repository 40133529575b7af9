package users

// HashArgon2id exposes hashArgon2id so that tests can build cheap fixtures.
var HashArgon2id = hashArgon2id
