# mariadb for scripts/services (see services-common.sh for the contract).
#
# One private mariadbd (Debian's) listening on 127.0.0.1 only, on the port
# remembered in DIR/mariadb/port; data in DIR/mariadb/data, socket, pidfile and
# error log in DIR/mariadb. Every program is run with --no-defaults first, so
# /etc/mysql/*.cnf (the system server's socket, datadir and port 3306) is never
# read and the system MariaDB is never touched.
#
# The server keeps InnoDB's default durability (innodb_flush_log_at_trx_commit
# = 1: a commit is fsynced before it is answered) because it is the system of
# record; it is only made small (64M buffer pool, 16M redo log) to fit beside
# other test services: FIRSTCOME_MARIADB_BUFFER_POOL and
# FIRSTCOME_MARIADB_LOG_FILE_SIZE (mariadbd sizes, e.g. 256M) change that, as
# bench/run does (a 16M redo log forces page flushes every few tens of
# thousands of inserted rows). No binary log: nothing replicates from it.
#
# Database `firstcome` and user firstcome/firstcome@127.0.0.1 are (re)created
# idempotently on every start, through the socket as the OS user (unix_socket
# authentication for root, set up by mariadb-install-db).

_mariadb_user() { id -un; }

_mariadb_ping() {  # DIR
  mariadb-admin --no-defaults --socket="$1/mariadb/mariadb.sock" --user="$(_mariadb_user)" \
    --connect-timeout=2 ping
}

_mariadb_sql() {  # DIR SQL
  mariadb --no-defaults --socket="$1/mariadb/mariadb.sock" --user="$(_mariadb_user)" \
    --connect-timeout=5 -e "$2"
}

svc_mariadb_start() {  # DIR
  local dir="$1" m="$1/mariadb" port user
  port="$(service_port "$dir" mariadb)"
  user="$(_mariadb_user)"
  if svc_mariadb_running "$dir"; then return 0; fi
  mkdir -p "$m/tmp"
  if [ ! -d "$m/data/mysql" ]; then
    # Why socket auth for the OS user: no root password to keep anywhere, and
    # only this user on this machine can administer the private server.
    mariadb-install-db --no-defaults --datadir="$m/data" --user="$user" \
      --auth-root-authentication-method=socket --auth-root-socket-user="$user" \
      --skip-test-db > "$m/install.log" 2>&1 \
      || { echo "mariadb: mariadb-install-db failed; see $m/install.log" >&2; return 1; }
  fi
  rm -f "$m/mariadb.pid"
  # setsid + nohup: the server outlives this shell and the test that ran it.
  # innodb-use-native-aio=0: Linux AIO contexts are a machine-wide limit that
  # several parallel servers can exhaust; plain threads are enough here.
  nohup setsid mariadbd --no-defaults --user="$user" \
    --datadir="$m/data" --tmpdir="$m/tmp" \
    --port="$port" --bind-address=127.0.0.1 --skip-networking=0 --skip-name-resolve \
    --socket="$m/mariadb.sock" --pid-file="$m/mariadb.pid" --log-error="$m/mariadb.err" \
    --skip-log-bin --performance-schema=OFF --max-connections=200 \
    --innodb-buffer-pool-size="${FIRSTCOME_MARIADB_BUFFER_POOL:-64M}" \
    --innodb-log-file-size="${FIRSTCOME_MARIADB_LOG_FILE_SIZE:-16M}" --innodb-use-native-aio=0 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
    > "$m/mariadbd.out" 2>&1 < /dev/null &
  if ! wait_until 60 _mariadb_ping "$dir"; then
    echo "mariadb: no answer on $m/mariadb.sock after 60 s; see $m/mariadb.err" >&2
    return 1
  fi
  wait_until 5 test -s "$m/mariadb.pid" || { echo "mariadb: no pidfile in $m" >&2; return 1; }
  _mariadb_sql "$dir" "
    CREATE DATABASE IF NOT EXISTS firstcome CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    CREATE USER IF NOT EXISTS 'firstcome'@'127.0.0.1' IDENTIFIED BY 'firstcome';
    GRANT ALL PRIVILEGES ON firstcome.* TO 'firstcome'@'127.0.0.1';" \
    || { echo "mariadb: could not create database/user; see $m/mariadb.err" >&2; return 1; }
}

svc_mariadb_stop() {  # DIR
  # SIGTERM is mariadbd's clean shutdown (InnoDB flushes, data is kept);
  # stop_pidfile falls back to KILL only after 60 s.
  stop_pidfile "$1/mariadb/mariadb.pid" 60
}

svc_mariadb_running() {  # DIR
  pid_running "$1/mariadb/mariadb.pid"
}

svc_mariadb_env() {  # DIR
  echo "export FIRSTCOME_MYSQL_URL=mysql://firstcome:firstcome@127.0.0.1:$(cat "$1/mariadb/port")/firstcome"
}
