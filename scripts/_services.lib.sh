# shellcheck shell=bash
# scripts/_services.lib.sh - shared start/stop logic for the test services.
#
# Sourced by .ci/run and scripts/services.sh; not meant to be run directly.
# It starts a throwaway PostgreSQL 15 cluster and a throwaway MariaDB server on free
# loopback ports, inside a state directory that holds everything (data, sockets, logs,
# PID files, an env.sh with the export lines), and stops them again by PID.
#
# State directory layout:
#   pg/data, pg/log, pg.pid         PostgreSQL (postmaster runs as user postgres)
#   my/data, my/err.log, my.pid     MariaDB (mariadbd drops to user mysql itself)
#   env.sh                          export TRACKYARD_TEST_POSTGRES_URI=... / ..._MYSQL_URI=...
#
# Functions (all return non-zero on failure instead of relying on `set -e`, so they
# behave the same inside `if` conditions):
#   svc_log MSG...                  timestamped log line on stderr
#   svc_phase NAME / svc_phase_end  time a phase; svc_summary prints all phases
#   svc_ensure_os_packages          apt-get install mariadb-server when mariadbd is missing
#   svc_ensure_mlflow_peer DIR VER  uv venv DIR with mlflow==VER unless already there
#   svc_start STATE [detach]        start both services, write STATE/env.sh, export the vars
#   svc_stop STATE                  stop both by PID, remove STATE
#   svc_running STATE               true if both recorded PIDs are alive

SVC_PGBIN=${SVC_PGBIN:-/usr/lib/postgresql/15/bin}
SVC_DBNAME=${SVC_DBNAME:-trackyard_test}
SVC_T0=${SVC_T0:-${EPOCHREALTIME}}
SVC_PHASES=()
SVC_PHASE_NAME=""
SVC_PHASE_T0=""
SVC_PIDS=()

svc_elapsed() {  # seconds since $1 (an EPOCHREALTIME value), one decimal
    local now=${EPOCHREALTIME}
    awk -v a="$1" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

svc_log() {
    printf '[trackyard %6ss] %s\n' "$(svc_elapsed "$SVC_T0")" "$*" >&2
}

svc_phase() {
    [ -n "$SVC_PHASE_NAME" ] && svc_phase_end
    SVC_PHASE_NAME=$1
    SVC_PHASE_T0=${EPOCHREALTIME}
    svc_log "phase '$1' started"
}

svc_phase_end() {
    [ -n "$SVC_PHASE_NAME" ] || return 0
    local took
    took=$(svc_elapsed "$SVC_PHASE_T0")
    SVC_PHASES+=("$(printf '%-16s %7ss' "$SVC_PHASE_NAME" "$took")")
    svc_log "phase '$SVC_PHASE_NAME' took ${took}s"
    SVC_PHASE_NAME=""
}

svc_summary() {
    svc_phase_end
    local line
    svc_log "timings:"
    for line in "${SVC_PHASES[@]}"; do
        printf '    %s\n' "$line" >&2
    done
    printf '    %-16s %7ss\n' "total" "$(svc_elapsed "$SVC_T0")" >&2
}

svc_free_port() {  # print a free TCP port on 127.0.0.1
    "${SVC_PYTHON:-python3}" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

svc_alive() {  # true if PID exists and is not a zombie
    local pid=$1 state
    [ -n "$pid" ] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$state" != "Z" ] && [ -n "$state" ]
}

svc_owns_pid() {  # true if PID is alive and its command line mentions DIR (guards against PID reuse)
    local pid=$1 dir=$2
    svc_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir"
}

svc_wait_dead() {  # wait up to $2 seconds for PID $1 to be gone
    local pid=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do
        svc_alive "$pid" || return 0
        sleep 0.1
    done
    ! svc_alive "$pid"
}

svc_wait_for() {  # svc_wait_for WHAT SECONDS PID CMD... : poll CMD until it succeeds
    local what=$1 secs=$2 pid=$3 i
    shift 3
    for ((i = 0; i < secs * 10; i++)); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        if ! svc_alive "$pid"; then
            svc_log "$what exited during startup"
            return 1
        fi
        sleep 0.1
    done
    svc_log "$what did not answer within ${secs}s"
    return 1
}

svc_ensure_os_packages() {
    [ -x "$SVC_PGBIN/postgres" ] || {
        svc_log "PostgreSQL 15 not found in $SVC_PGBIN (it ships with this machine image)"
        return 1
    }
    if command -v mariadbd >/dev/null 2>&1; then
        return 0
    fi
    svc_log "mariadbd missing: apt-get install mariadb-server"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        mariadb-server >/dev/null || return 1
    command -v mariadbd >/dev/null 2>&1
}

svc_find_uv() {
    if [ -n "${UV:-}" ]; then
        printf '%s\n' "$UV"
    elif [ -x .venv/bin/uv ]; then
        printf '%s\n' "$PWD/.venv/bin/uv"
    else
        command -v uv
    fi
}

# The peer env also gets the PostgreSQL and MySQL drivers, so that compat tests can let
# MLflow create its schema on the service databases (postgresql+psycopg://, mysql+pymysql://).
SVC_MLFLOW_PEER_EXTRAS=("psycopg[binary]" "pymysql")

svc_ensure_mlflow_peer() {  # svc_ensure_mlflow_peer DIR VERSION
    local dir=$1 version=$2 have="" uv base_python
    if [ -x "$dir/bin/python" ]; then
        have=$("$dir/bin/python" -c 'import importlib.metadata as m
import psycopg, pymysql
print(m.version("mlflow"))' 2>/dev/null || true)
    fi
    if [ "$have" = "$version" ]; then
        svc_log "mlflow $version peer env already present in $dir"
        return 0
    fi
    uv=$(svc_find_uv) || {
        svc_log "uv not found (pip install uv)"
        return 1
    }
    # the interpreter behind python3 (a pyenv shim here), resolved once
    base_python=$("${SVC_PYTHON:-python3}" -c 'import sys; print(sys.executable)') || return 1
    svc_log "creating mlflow $version peer env in $dir (had: '${have:-none}')"
    if [ ! -x "$dir/bin/python" ]; then
        "$uv" venv -q --python "$base_python" "$dir" || return 1
    fi
    "$uv" pip install -q --python "$dir/bin/python" "mlflow==$version" \
        "${SVC_MLFLOW_PEER_EXTRAS[@]}" || return 1
}

svc_start_postgres() {  # svc_start_postgres STATE DETACH
    local state=$1 detach=$2 port pid
    port=$(svc_free_port) || return 1
    install -d -o postgres -g postgres -m 700 "$state/pg" || return 1
    runuser -u postgres -- "$SVC_PGBIN/initdb" -D "$state/pg/data" -U postgres --auth=trust \
        -E UTF8 --locale=C.UTF-8 >"$state/pg/initdb.log" 2>&1 || {
        svc_log "initdb failed:"
        cat "$state/pg/initdb.log" >&2
        return 1
    }
    # setpriv execs (no intermediate process), so $! is the postmaster itself
    local -a cmd=(setpriv --reuid=postgres --regid=postgres --init-groups --
        "$SVC_PGBIN/postgres" -D "$state/pg/data" -p "$port" -k "$state/pg"
        -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off
        -c full_page_writes=off -c max_connections=200)
    if [ "$detach" = 1 ]; then
        setsid "${cmd[@]}" </dev/null >"$state/pg/log" 2>&1 &
    else
        "${cmd[@]}" </dev/null >"$state/pg/log" 2>&1 &
    fi
    pid=$!
    SVC_PIDS+=("$pid")
    echo "$pid" >"$state/pg.pid"
    svc_wait_for postgres 60 "$pid" "$SVC_PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" || {
        tail -n 20 "$state/pg/log" >&2
        return 1
    }
    "$SVC_PGBIN/psql" -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c "CREATE DATABASE $SVC_DBNAME ENCODING 'UTF8'" >/dev/null || return 1
    echo "$port" >"$state/pg.port"
    svc_log "postgres up: pid $pid, port $port"
}

svc_start_mariadb() {  # svc_start_mariadb STATE DETACH
    local state=$1 detach=$2 port pid
    port=$(svc_free_port) || return 1
    install -d -o mysql -g mysql -m 700 "$state/my" || return 1
    mariadb-install-db --no-defaults --user=mysql --datadir="$state/my/data" \
        --auth-root-authentication-method=normal --skip-test-db \
        >"$state/my/install.log" 2>&1 || {
        svc_log "mariadb-install-db failed:"
        cat "$state/my/install.log" >&2
        return 1
    }
    local -a cmd=(mariadbd --no-defaults --user=mysql --datadir="$state/my/data"
        --socket="$state/my/sock" --port="$port" --bind-address=127.0.0.1
        --pid-file="$state/my/mariadbd.pid" --log-error="$state/my/err.log"
        --skip-name-resolve --max-connections=300
        --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci)
    if [ "$detach" = 1 ]; then
        setsid "${cmd[@]}" </dev/null >"$state/my/stdout.log" 2>&1 &
    else
        "${cmd[@]}" </dev/null >"$state/my/stdout.log" 2>&1 &
    fi
    pid=$!
    SVC_PIDS+=("$pid")
    echo "$pid" >"$state/my.pid"
    svc_wait_for mariadb 60 "$pid" mariadb-admin --no-defaults --socket="$state/my/sock" \
        -uroot ping || {
        tail -n 20 "$state/my/err.log" >&2
        return 1
    }
    mariadb --no-defaults --socket="$state/my/sock" -uroot \
        -e "CREATE DATABASE $SVC_DBNAME CHARACTER SET utf8mb4" || return 1
    echo "$port" >"$state/my.port"
    svc_log "mariadb up: pid $pid, port $port"
}

svc_start() {  # svc_start STATE [DETACH(0|1)]
    local state=$1 detach=${2:-0}
    mkdir -p "$state" || return 1
    chmod 755 "$state" || return 1
    svc_start_postgres "$state" "$detach" || return 1
    svc_start_mariadb "$state" "$detach" || return 1
    TRACKYARD_TEST_POSTGRES_URI="postgresql+psycopg://postgres@127.0.0.1:$(cat "$state/pg.port")/$SVC_DBNAME"
    TRACKYARD_TEST_MYSQL_URI="mysql+pymysql://root@127.0.0.1:$(cat "$state/my.port")/$SVC_DBNAME"
    export TRACKYARD_TEST_POSTGRES_URI TRACKYARD_TEST_MYSQL_URI
    {
        printf 'export TRACKYARD_TEST_POSTGRES_URI=%q\n' "$TRACKYARD_TEST_POSTGRES_URI"
        printf 'export TRACKYARD_TEST_MYSQL_URI=%q\n' "$TRACKYARD_TEST_MYSQL_URI"
    } >"$state/env.sh"
}

svc_running() {  # svc_running STATE: both services recorded and alive
    local state=$1
    [ -f "$state/pg.pid" ] && [ -f "$state/my.pid" ] && [ -f "$state/env.sh" ] || return 1
    svc_owns_pid "$(cat "$state/pg.pid")" "$state" &&
        svc_owns_pid "$(cat "$state/my.pid")" "$state"
}

svc_stop_one() {  # svc_stop_one NAME PIDFILE SIGNAL STATE
    local name=$1 pidfile=$2 sig=$3 state=$4 pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if svc_owns_pid "$pid" "$state"; then
        kill "-$sig" "$pid" 2>/dev/null
        if ! svc_wait_dead "$pid" 60; then
            svc_log "$name (pid $pid) ignored SIG$sig for 60s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            svc_wait_dead "$pid" 10
        fi
        svc_log "$name stopped (pid $pid)"
    elif svc_alive "$pid"; then
        svc_log "pid $pid from $pidfile is not our $name any more: left alone"
    else
        svc_log "$name (pid $pid) had already exited"
    fi
    # reap it if it is our child (no-op otherwise)
    wait "$pid" 2>/dev/null
    rm -f "$pidfile"
    return 0
}

svc_stop() {  # svc_stop STATE: stop both services by PID and remove STATE
    local -      # keep the caller's shell options: no errexit while cleaning up
    set +e
    local state=$1
    [ -n "$state" ] && [ -d "$state" ] || return 0
    # postgres: SIGINT = "fast" shutdown (what pg_ctl -m fast sends to the postmaster);
    # mariadb: SIGTERM = clean shutdown. Stop both in parallel, then wait.
    svc_stop_one postgres "$state/pg.pid" INT "$state" &
    local p1=$!
    svc_stop_one mariadb "$state/my.pid" TERM "$state" &
    local p2=$!
    wait "$p1" "$p2" 2>/dev/null
    # reap the services in this shell if they were our children (the subshells above
    # could not `wait` for them)
    local pid
    for pid in "${SVC_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    SVC_PIDS=()
    rm -rf "$state"
    return 0
}
