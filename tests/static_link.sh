#!/bin/sh
# A static link with the line `pkg-config --static --libs weft` gives:
# the program links against libweft.a, runs a task and writes a dump,
# whose backtraces follow frame pointers (a static program has no
# dynamic loader to open libunwind with).  Skipped without libweft.a
# (--disable-static) and in sanitizer builds, which cannot link -static.
lib=$PWD/.libs/libweft.a
[ -f "$lib" ] || { echo "no $lib: skipped"; exit 77; }
case "${CFLAGS:-}" in *-fsanitize=*)
	echo "sanitizer build: skipped"; exit 77 ;;
esac
command -v pkg-config >/dev/null 2>&1 || { echo "no pkg-config: skipped"; exit 77; }
libs=$(PKG_CONFIG_PATH=$PWD pkg-config --static --libs-only-l weft) || exit 1
libs=$(printf '%s\n' "$libs" | sed 's/-lweft\( \|$\)//')
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/s.c" <<'C'
#include <stdio.h>
#include "weft.h"

static void *twice(void *arg)
{
	weft_sleep(1);
	return (void *)((long)arg * 2);
}

int main(void)
{
	void *r = NULL;

	if (weft_join(weft_spawn(twice, (void *)21), &r) != 0)
		return 1;
	printf("%ld\n", (long)r);
	fflush(stdout);
	if (weft_dump(1) != 0)
		return 1;
	return (long)r == 42 ? 0 : 1;
}
C
echo "static link: ${CC:-cc} -static ... $lib $libs"
# glibc warns that getaddrinfo and dlopen want its shared objects at run
# time: true, and not what this checks.
# shellcheck disable=SC2086
${CC:-cc} -static -I"${srcdir:-.}/include" -o "$tmp/s" "$tmp/s.c" "$lib" \
    $libs 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
out=$("$tmp/s") || { echo "the static program failed: $out"; exit 1; }
printf '%s\n' "$out" | head -n 2
printf '%s\n' "$out" | head -n 1 | grep -qx 42 || exit 1
printf '%s\n' "$out" | grep -q "backtraces by frame pointers" || {
	echo "the dump does not say it walked by frame pointers"; exit 1; }
