#!/bin/sh
# Makes the compose stack's secrets in DIR (default /secrets) unless they
# exist: the session secret for gate, the Redis password for gate and Redis,
# and a redis.conf holding that password. Run by the "secrets" service.
set -eu
dir=${1:-/secrets}
umask 077
mkdir -p "$dir"
cd "$dir"

# 32 random bytes as 64 hex characters.
random() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

if [ ! -s session_secret ]; then random > session_secret.new && mv session_secret.new session_secret; fi
if [ ! -s redis_password ]; then random > redis_password.new && mv redis_password.new redis_password; fi
if [ ! -s redis.conf ]; then
  # noeviction (Redis's default, stated): gate's keys all carry TTLs, and a
  # volatile-* policy could evict a user's session index.
  printf 'requirepass %s\nappendonly yes\nmaxmemory-policy noeviction\n' "$(cat redis_password)" > redis.conf.new
  mv redis.conf.new redis.conf
fi
chmod 0400 session_secret redis_password redis.conf

# Owners: gate runs as 65532 (distroless nonroot), Redis as 999.
if [ "$(id -u)" = 0 ]; then
  chown 65532:65532 session_secret redis_password
  chown 999:999 redis.conf
fi
echo "secrets ready in $dir"
