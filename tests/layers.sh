#!/bin/sh
# The layering rules of HACKING, checked on every file under src/:
#   1. a file includes weft headers of its own layer and the layers below
#      only: base < core < io < sync < api (hook, beside them, may use all);
#   2. above core, only core/core.h, core/poller.h and core/debug.h are
#      included: the runtime and task structures are core's own;
#   3. nothing but the poller backend includes <sys/epoll.h>;
#   (hook/interpose.c, which is libweft-hook and not libweft, defines
#   libc's names: rules 3, 4 and the allocation rule do not hold it.)
#   4. nothing but base/sys.c calls the system calls that sys wraps.
srcdir=${srcdir:-.}
src=$srcdir/src
status=0

rank() {
	case $1 in
	base) echo 0 ;; core) echo 1 ;; io) echo 2 ;; sync) echo 3 ;;
	api) echo 4 ;; hook) echo 5 ;; *) echo 99 ;;
	esac
}

fail() { echo "FAIL: $*"; status=1; }

for f in "$src"/*/*.[ch]; do
	rel=${f#"$src"/}
	layer=${rel%%/*}
	mine=$(rank "$layer")
	[ "$mine" -eq 99 ] && fail "$rel: not in a layer folder"
	for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
		case $inc in
		config.h|weft.h) continue ;;
		*/*) ;;
		*) fail "$rel: includes \"$inc\" without its layer folder"; continue ;;
		esac
		theirs=$(rank "${inc%%/*}")
		[ "$theirs" -le "$mine" ] ||
			fail "$rel: includes $inc, a layer above its own"
		if [ "$mine" -gt 1 ] && [ "${inc%%/*}" = core ]; then
			case $inc in
			core/core.h|core/poller.h|core/debug.h) ;;
			*) fail "$rel: includes $inc, which is core's own" ;;
			esac
		fi
	done
	if [ "$rel" != core/poll_epoll.c ] && [ "$rel" != hook/interpose.c ] &&
	    grep -q '<sys/epoll.h>' "$f"; then
		fail "$rel: includes <sys/epoll.h> (only the poller backend may)"
	fi
	# libweft-hook's one file defines libc's names and calls libc's own.
	if [ "$rel" != base/sys.c ] && [ "$rel" != hook/interpose.c ]; then
		# Calls by name, not weft__sys_ wrappers nor "poll(2)" references.
		calls=$(grep -n -E '(^|[^_[:alnum:].>])(read|write|readv|writev|recv|send|recvfrom|sendto|recvmsg|sendmsg|accept|accept4|connect|close|poll|ppoll|fcntl|fstat|getsockopt|setsockopt|ioctl|socket|bind|listen|epoll_[a-z0-9_]+|eventfd|mmap|munmap|mprotect|madvise|sigaltstack|sigaction|clock_nanosleep|nanosleep|getaddrinfo|getnameinfo|sched_yield|waitpid|wait4|signalfd|pidfd_open)[[:space:]]*\([^0-9)]' "$f" |
			grep -v -E '^[0-9]+:[[:space:]]*(/?\*|//)')
		[ -z "$calls" ] || fail "$rel: calls libc directly instead of base/sys.h:
$calls"
	fi
	if [ "$rel" != base/alloc.h ] && [ "$rel" != hook/interpose.c ]; then
		# Memory through the failure-injection point (base/alloc.h).
		calls=$(grep -n -E '(^|[^_[:alnum:].>])(malloc|calloc|realloc|strdup|strndup)[[:space:]]*\(' "$f" |
			grep -v -E '^[0-9]+:[[:space:]]*(/?\*|//)')
		[ -z "$calls" ] || fail "$rel: allocates with libc directly instead of base/alloc.h:
$calls"
	fi
done
[ $status -eq 0 ] && echo "PASS: every file under src/ keeps to its layer"
exit $status
