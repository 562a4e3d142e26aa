#!/usr/bin/env bash
# grpcurl smoke test against the real binary: `steward serve` on an empty data
# dir (embedded PostgreSQL), reflection lists the services, health is SERVING,
# WhoAmI answers for a token made by the CLI and refuses a call without one,
# and SIGTERM shuts everything down cleanly (exit 0, embedded PostgreSQL stopped).
#
#   tests/smoke/grpcurl.sh [PATH_TO_STEWARD]
#
# PATH_TO_STEWARD defaults to $CARGO_TARGET_DIR/debug/steward; grpcurl comes from
# $GRPCURL, else the test venv ($STEWARD_VENV/bin/grpcurl), else PATH.
set -euo pipefail

cache=$HOME/.cache/steward
target=${CARGO_TARGET_DIR:-$cache/target}
steward=${1:-$target/debug/steward}
venv=${STEWARD_VENV:-$cache/venv}
grpcurl=${GRPCURL:-$venv/bin/grpcurl}
[[ -x $grpcurl ]] || grpcurl=$(command -v grpcurl) || {
    echo "smoke: grpcurl not found (tests/run-all installs it into $venv)" >&2
    exit 1
}
[[ -x $steward ]] || {
    echo "smoke: no steward binary at $steward (cargo build first)" >&2
    exit 1
}
steward=$(readlink -f "$steward")

# Under /tmp and world-traversable: as root, the embedded PostgreSQL runs as the
# unprivileged `postgres` user, which must reach the cluster inside it.
tmp=$(mktemp -d /tmp/steward-smoke.XXXXXX)
chmod 755 "$tmp"
log=$tmp/serve.log
server_pid=""

# Processes whose command line mentions the data dir: the embedded postmaster
# (`postgres -D $tmp/postgres`), and initdb or pg_ctl while they run.
leftover_pids() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        if [[ $cmd == *"$tmp/"* ]]; then
            echo "${p#/proc/}"
        fi
    done
}

cleanup() {
    local status=$? pid i
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    # A postmaster (or initdb) left behind by a failed run: SIGQUIT (immediate
    # shutdown) by pid, then wait for it, as it may still be writing into $tmp.
    for pid in $(leftover_pids); do
        kill -QUIT "$pid" 2>/dev/null || true
    done
    for ((i = 0; i < 100; i++)); do
        [[ -z $(leftover_pids) ]] && break
        sleep 0.1
    done
    if [[ $status != 0 && -f $log ]]; then
        echo "---- steward serve log ($log) ----" >&2
        cat "$log" >&2
        echo "---- end of log ----" >&2
    fi
    rm -rf "$tmp" || echo "smoke: could not remove $tmp" >&2
    exit "$status"
}
trap cleanup EXIT

fail() {
    echo "smoke: FAIL: $*" >&2
    exit 1
}
ok() { echo "smoke: ok: $*"; }

# A free port below the ephemeral range (32768+), where outgoing connections
# may hold the one we pick.
port=$(python3 - <<'EOF'
import socket
for port in range(18080, 19080):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("no free port in 18080-19079")
EOF
)
addr=127.0.0.1:$port

# A clean environment (no DATABASE_URL, no stray STEWARD_*), run from the data
# dir so no `.env` from the work tree is picked up.
steward_env=(env -i PATH="$PATH" HOME="$HOME" LANG=C.UTF-8
    STEWARD_DATA_DIR="$tmp" STEWARD_LISTEN="$addr" STEWARD_PUBLIC_URL="http://$addr"
    STEWARD_LOG="${STEWARD_LOG:-info}")
run_steward() {
    (cd "$tmp" && exec "${steward_env[@]}" "$steward" "$@")
}

echo "smoke: steward serve on $addr, data dir $tmp"
# Not through run_steward: `( … exec … ) &` makes $! the server's own pid.
(cd "$tmp" && exec "${steward_env[@]}" "$steward" serve) >"$log" 2>&1 &
server_pid=$!

# --- health ------------------------------------------------------------------
deadline=$((SECONDS + 60))
health() { "$grpcurl" -plaintext -max-time 2 "$addr" grpc.health.v1.Health/Check 2>&1 || true; }
until [[ $(health) == *'"status": "SERVING"'* ]]; do
    kill -0 "$server_pid" 2>/dev/null || fail "steward serve exited before it was SERVING"
    ((SECONDS < deadline)) || fail "grpc.health.v1.Health/Check was not SERVING within 60 s"
    sleep 0.25
done
ok "grpc.health.v1.Health/Check is SERVING"

# --- reflection --------------------------------------------------------------
services=$("$grpcurl" -plaintext "$addr" list) || fail "grpcurl list failed"
echo "$services" | sed 's/^/smoke:   /'
for service in steward.authorization.v1.AuthorizationService steward.upload.v1.UploadService \
    grpc.health.v1.Health grpc.reflection.v1.ServerReflection; do
    grep -qxF "$service" <<<"$services" || fail "reflection does not list $service"
done
ok "reflection lists the services"
# grpcurl speaks reflection v1alpha; ask the v1 service directly too.
v1=$("$grpcurl" -plaintext -d '{"list_services": ""}' "$addr" \
    grpc.reflection.v1.ServerReflection/ServerReflectionInfo) || fail "reflection v1 call failed"
grep -qF steward.authorization.v1.AuthorizationService <<<"$v1" ||
    fail "reflection v1 does not list steward.authorization.v1.AuthorizationService: $v1"
ok "reflection v1 answers"

# --- a token from the CLI, while the server runs -------------------------------
created=$(run_steward token create --email smoke@example.org --role researcher --description smoke) ||
    fail "steward token create failed"
token=$(tail -n 1 <<<"$created")
[[ $token =~ ^[0-9a-f]{64}$ ]] || fail "no token (64 hex characters) on the last line of: $created"
ok "steward token create printed a token"

whoami() {
    "$grpcurl" -plaintext "$@" "$addr" steward.authorization.v1.AuthorizationService/WhoAmI
}
for scheme in Bearer Token; do
    reply=$(whoami -H "authorization: $scheme $token") || fail "WhoAmI with '$scheme' failed"
    python3 -c '
import json, sys
me = json.loads(sys.argv[1])
assert me.get("email") == "smoke@example.org", me
assert "researcher" in me.get("roles", []), me
' "$reply" || fail "WhoAmI with '$scheme' returned the wrong principal: $reply"
    ok "WhoAmI with 'authorization: $scheme' returns smoke@example.org (researcher)"
done

if reply=$(whoami 2>&1); then
    fail "WhoAmI without a token succeeded: $reply"
fi
grep -q Unauthenticated <<<"$reply" || fail "WhoAmI without a token: expected Unauthenticated, got: $reply"
ok "WhoAmI without a token is Unauthenticated"

unknown=$(printf '0%.0s' {1..64})
if reply=$(whoami -H "authorization: Bearer $unknown" 2>&1); then
    fail "WhoAmI with an unknown token succeeded: $reply"
fi
grep -q Unauthenticated <<<"$reply" || fail "WhoAmI with an unknown token: expected Unauthenticated, got: $reply"
ok "WhoAmI with an unknown token is Unauthenticated"

# --- graceful shutdown -------------------------------------------------------
kill -TERM "$server_pid"
deadline=$((SECONDS + 30))
while kill -0 "$server_pid" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "steward serve did not exit within 30 s of SIGTERM"
    sleep 0.1
done
status=0
wait "$server_pid" || status=$?
server_pid=""
[[ $status == 0 ]] || fail "steward serve exited with status $status after SIGTERM"
ok "SIGTERM: steward serve exited 0"
left=$(leftover_pids)
[[ -z $left ]] || fail "embedded PostgreSQL still running after shutdown (pids: $left)"
ok "embedded PostgreSQL stopped"

echo "smoke: all checks passed"
