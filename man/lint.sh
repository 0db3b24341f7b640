#!/bin/sh
# Lint the manual pages: `mandoc -Tlint` must have nothing to say about a
# real page, and every .so alias must point at a page that exists.
# Exit 77 (skipped) when mandoc is not installed.
srcdir=${srcdir:-.}
command -v mandoc >/dev/null 2>&1 || { echo "mandoc not found: skipped"; exit 77; }
status=0
for page in "$srcdir"/man/*.[1-9]; do
	target=$(sed -n 's/^\.so man[0-9]\/\(.*\)$/\1/p' "$page")
	if [ -n "$target" ]; then
		[ -f "$srcdir/man/$target" ] || { echo "FAIL: $page: .so to missing $target"; status=1; }
		continue
	fi
	out=$(mandoc -Tlint -Wwarning "$page" 2>&1)
	if [ -n "$out" ]; then
		echo "FAIL: $page"; echo "$out"; status=1
	else
		echo "PASS: $page"
	fi
done
exit $status
