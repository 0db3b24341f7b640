#!/bin/sh
# weft's own suites again, with libweft-hook preloaded: the hook must not
# change what weft's calls do, including libcurl's calls in the fetch
# driver, which the hook then interposes.  (test_io is left out: it checks
# the O_NONBLOCK weft sets through fcntl, which the hook hides on purpose.)
hook=$PWD/.libs/libweft-hook.so
[ -f "$hook" ] || { echo "no $hook: skipped"; exit 77; }
status=0
for t in test_net test_deadline test_fetch; do
	out=$(LD_PRELOAD=$hook ASAN_OPTIONS=verify_asan_link_order=0 \
	    tests/$t 2>&1) || status=1
	printf '%s (libweft-hook preloaded): %s\n' "$t" \
	    "$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks:')"
	[ $status -eq 0 ] || { printf '%s\n' "$out"; break; }
done
exit $status
