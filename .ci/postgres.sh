# shellcheck shell=bash
# Throwaway PostgreSQL cluster for the tests. Source this file, then:
#
#   start_postgres          # starts a cluster, exports NIOMON_TEST_POSTGRES_DSN
#   trap stop_postgres EXIT # stops exactly that cluster and removes its files
#
# The cluster listens on 127.0.0.1 only, on a free port, with trust auth
# (it holds nothing but test data and lives for one run), and its Unix
# socket lives in its own temp dir. It never touches a system cluster.
# As root it runs the server as the existing `postgres` user (PostgreSQL
# refuses to run as root); as anyone else it runs as that user.
#
# The functions do not change the caller's shell options (set -e etc.);
# start_postgres returns non-zero on failure.

_niomon_pg_bin=""
_niomon_pg_tmp=""
_niomon_pg_data=""

_niomon_pg_log() { printf 'postgres: %s\n' "$*" >&2; }

# Run a command as the cluster's owner.
_niomon_pg_as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# The bin dir of the newest /usr/lib/postgresql/<major> that has the tools.
_niomon_pg_find_bin() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ]; then
			echo "$d"
		fi
	done | sort -t/ -k5,5V | tail -n1
}

# A TCP port on 127.0.0.1 that nothing listens on right now. pg_ctl start
# is retried with another port if someone takes it in between.
_niomon_pg_free_port() {
	local port i
	for i in $(seq 1 100); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			printf '%s' "$port"
			return 0
		fi
	done
	return 1
}

start_postgres() {
	if [ -n "$_niomon_pg_data" ]; then
		_niomon_pg_log "already started (data dir $_niomon_pg_data)"
		return 0
	fi

	_niomon_pg_bin=$(_niomon_pg_find_bin)
	if [ -z "$_niomon_pg_bin" ]; then
		_niomon_pg_log "server binaries not found under /usr/lib/postgresql/*/bin; installing"
		if [ "$(id -u)" != 0 ]; then
			_niomon_pg_log "not root: cannot apt-get install postgresql"
			return 1
		fi
		apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null ||
			{ _niomon_pg_log "apt-get install postgresql failed"; return 1; }
		_niomon_pg_bin=$(_niomon_pg_find_bin)
		if [ -z "$_niomon_pg_bin" ]; then
			_niomon_pg_log "still no server binaries after installing postgresql"
			return 1
		fi
	fi
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		_niomon_pg_log "no postgres user; creating one"
		useradd --system --no-create-home --shell /usr/sbin/nologin postgres ||
			{ _niomon_pg_log "useradd postgres failed"; return 1; }
	fi
	_niomon_pg_log "using $("$_niomon_pg_bin/postgres" --version)"

	local tmp
	# Under /tmp, not $TMPDIR: the postgres user must be able to reach it,
	# and the socket path must stay short.
	tmp=$(mktemp -d /tmp/niomon-pg.XXXXXX) || return 1
	chmod 0700 "$tmp"
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$tmp" || { rm -rf "$tmp"; return 1; }
	fi
	_niomon_pg_tmp="$tmp"

	_niomon_pg_log "initdb in $tmp/data"
	if ! _niomon_pg_as_owner "$_niomon_pg_bin/initdb" -D "$tmp/data" -U postgres \
		--auth-local=trust --auth-host=trust -E UTF8 --locale=C >"$tmp/initdb.log" 2>&1; then
		_niomon_pg_log "initdb failed:"
		cat "$tmp/initdb.log" >&2
		_niomon_pg_cleanup_files
		return 1
	fi
	_niomon_pg_data="$tmp/data"

	# Loopback only, socket in our temp dir. Durability is pointless for a
	# cluster that is deleted after the run, so skip the fsyncs.
	cat >>"$tmp/data/postgresql.conf" <<-EOF
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$tmp'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		max_connections = 200
	EOF

	# One role must give its password (the tests of PGPASSWORD and
	# passfile); every other connection is trusted. First match wins.
	{ printf 'host all niomon_password_test 127.0.0.1/32 scram-sha-256\n'; cat "$tmp/data/pg_hba.conf"; } >"$tmp/pg_hba.conf" &&
		_niomon_pg_as_owner cp "$tmp/pg_hba.conf" "$tmp/data/pg_hba.conf" ||
		{ _niomon_pg_log "writing pg_hba.conf failed"; stop_postgres; return 1; }

	local port try started=""
	for try in 1 2 3 4 5; do
		port=$(_niomon_pg_free_port) || { _niomon_pg_log "no free port found"; break; }
		_niomon_pg_log "starting on 127.0.0.1:$port"
		if _niomon_pg_as_owner "$_niomon_pg_bin/pg_ctl" -D "$_niomon_pg_data" -w -t 60 \
			-l "$tmp/server.log" -o "-p $port" start >/dev/null; then
			started=1
			break
		fi
		_niomon_pg_log "start failed (try $try):"
		tail -n 5 "$tmp/server.log" >&2
	done
	if [ -z "$started" ]; then
		stop_postgres
		return 1
	fi

	# The test database gets a linguistic default collation (ICU en-US)
	# where the server supports it, so tests prove that byte-order listing
	# does not depend on the database's collation; plain UTF8 otherwise.
	local psql=("$_niomon_pg_bin/psql" -X -q -h "$tmp" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1)
	if ! _niomon_pg_as_owner "${psql[@]}" -c \
		"CREATE DATABASE niomon_test TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'" 2>/dev/null; then
		_niomon_pg_log "ICU collation unavailable; creating niomon_test with the default collation"
		if ! _niomon_pg_as_owner "${psql[@]}" -c "CREATE DATABASE niomon_test TEMPLATE template0 ENCODING 'UTF8'"; then
			_niomon_pg_log "CREATE DATABASE niomon_test failed"
			stop_postgres
			return 1
		fi
	fi

	export NIOMON_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$port/niomon_test?sslmode=disable"
	_niomon_pg_log "ready: NIOMON_TEST_POSTGRES_DSN=$NIOMON_TEST_POSTGRES_DSN"
}

# Stops the cluster start_postgres started (and only that one) and removes
# its files. Safe to call more than once, or when nothing was started.
stop_postgres() {
	if [ -n "$_niomon_pg_data" ] && [ -f "$_niomon_pg_data/postmaster.pid" ]; then
		_niomon_pg_log "stopping (data dir $_niomon_pg_data)"
		_niomon_pg_as_owner "$_niomon_pg_bin/pg_ctl" -D "$_niomon_pg_data" -m fast -w -t 60 stop >/dev/null ||
			_niomon_pg_log "pg_ctl stop failed"
	fi
	_niomon_pg_cleanup_files
	unset NIOMON_TEST_POSTGRES_DSN
}

_niomon_pg_cleanup_files() {
	if [ -n "$_niomon_pg_tmp" ]; then
		rm -rf "$_niomon_pg_tmp"
	fi
	_niomon_pg_tmp=""
	_niomon_pg_data=""
}
