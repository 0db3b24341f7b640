#!/bin/sh
# A PostgreSQL server of the tests' own, on a Unix socket only (no TCP):
#   pg_server.sh start DIR PORT   make a cluster in DIR and start it; the
#                                 socket is DIR/.s.PGSQL.PORT, the role weft
#   pg_server.sh stop DIR         stop it (immediate) and remove DIR
# Exits 77 (skip) when Debian's postgresql is not installed.  PostgreSQL
# will not run as root: as root, the server runs as the postgres user.
set -e
cmd=$1 dir=$2 port=${3:-5432}
bin=
for d in /usr/lib/postgresql/*/bin; do
	[ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && bin=$d
done
if [ -z "$bin" ]; then
	echo "pg_server.sh: PostgreSQL is not installed (Debian: postgresql)" >&2
	exit 77
fi
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
case $cmd in
start)
	mkdir -p "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
	as_owner "$bin/initdb" -D "$dir/data" -U weft --auth=trust \
		--no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-k $dir -p $port -c listen_addresses= -c max_connections=120 -c fsync=off" \
		start >/dev/null 2>&1 || { cat "$dir/server.log" >&2; exit 1; }
	;;
stop)
	[ -d "$dir/data" ] &&
		as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop \
			>/dev/null 2>&1 || true
	rm -rf "$dir"
	;;
*)
	echo "usage: $0 start DIR PORT | stop DIR" >&2
	exit 2
	;;
esac
