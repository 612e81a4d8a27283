#!/usr/bin/env bash
# scripts/services.sh - PostgreSQL + MariaDB for running the service tests by hand.
#
#   scripts/services.sh up            start both (state in .services/), print the export lines
#   eval "$(scripts/services.sh env)" export TRACKYARD_TEST_POSTGRES_URI / ..._MYSQL_URI
#   scripts/services.sh status        say whether they run
#   scripts/services.sh down          stop both by PID, delete .services/
#   scripts/services.sh run -- CMD... start fresh services in a temp dir, run CMD with the
#                                     variables exported, stop them again (what tox -e services uses)
#   scripts/services.sh mlflow-peer   create .venv-mlflow (mlflow 3.17.2) if missing, print its python
#
# TRACKYARD_SERVICES_DIR overrides the state directory. The start/stop code is shared with
# .ci/run through scripts/_services.lib.sh.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
# shellcheck source=scripts/_services.lib.sh
source "$REPO/scripts/_services.lib.sh"

STATE=${TRACKYARD_SERVICES_DIR:-$REPO/.services}
MLFLOW_VERSION=${TRACKYARD_MLFLOW_VERSION:-3.17.2}

usage() {
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "services.sh: needs root (runs initdb/postgres as user postgres, mariadbd as mysql)" >&2
        exit 1
    fi
}

cmd_up() {
    need_root
    if svc_running "$STATE"; then
        svc_log "already running (state in $STATE)"
        cat "$STATE/env.sh"
        return 0
    fi
    if [ -e "$STATE" ]; then
        svc_log "stale state in $STATE: cleaning up first"
        svc_stop "$STATE"
    fi
    svc_ensure_os_packages
    # on failure, stop whatever did come up
    trap 'rc=$?; [ "$rc" = 0 ] || svc_stop "$STATE"; exit "$rc"' EXIT
    svc_start "$STATE" 1
    trap - EXIT
    svc_log "services up; use: eval \"\$(scripts/services.sh env)\""
    cat "$STATE/env.sh"
}

cmd_env() {
    if ! svc_running "$STATE"; then
        echo "services.sh: not running; start them with: scripts/services.sh up" >&2
        exit 1
    fi
    cat "$STATE/env.sh"
}

cmd_status() {
    if svc_running "$STATE"; then
        echo "running: postgres pid $(cat "$STATE/pg.pid"), mariadb pid $(cat "$STATE/my.pid")"
        cat "$STATE/env.sh"
    else
        echo "not running"
        return 3
    fi
}

cmd_down() {
    need_root
    svc_stop "$STATE"
    svc_log "services down"
}

cmd_run() {
    need_root
    [ "${1:-}" = "--" ] && shift
    [ "$#" -gt 0 ] || usage
    svc_ensure_os_packages
    local run
    run=$(mktemp -d /tmp/trackyard-services.XXXXXX)
    # shellcheck disable=SC2064  # expand $run now
    trap "svc_stop '$run'" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    svc_start "$run" 0
    local rc=0
    "$@" || rc=$?
    return "$rc"
}

cmd_mlflow_peer() {
    svc_ensure_mlflow_peer "$REPO/.venv-mlflow" "$MLFLOW_VERSION" >&2
    echo "$REPO/.venv-mlflow/bin/python"
}

case "${1:-}" in
    up) cmd_up ;;
    env) cmd_env ;;
    status) cmd_status ;;
    down) cmd_down ;;
    run) shift; cmd_run "$@" ;;
    mlflow-peer) cmd_mlflow_peer ;;
    *) usage ;;
esac
