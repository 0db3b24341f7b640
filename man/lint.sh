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
# A function without its page is not done: every function weft.h exports
# has a page of its own or an alias in man/Makemodule.am, and is named in
# the NAME section (.Nm) of a page.
for fn in $(sed -n 's/^WEFT_API[^(]*[ *]\([a-z_0-9]*\)(.*/\1/p' "$srcdir/include/weft.h"); do
	if [ ! -f "$srcdir/man/$fn.3" ] &&
	    ! grep -q "^[[:space:]]*$fn\.3:" "$srcdir/man/Makemodule.am"; then
		echo "FAIL: $fn has no page (man/$fn.3 or an alias in man/Makemodule.am)"
		status=1
	elif ! grep -q "^\.Nm $fn\( ,\)\{0,1\}$" "$srcdir"/man/*.3; then
		echo "FAIL: $fn is not named (.Nm) in any page"
		status=1
	fi
done
exit $status
