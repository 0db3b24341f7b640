#!/bin/sh
# Compile the example program of weft manual pages.
#
# usage: check-examples.sh [page ...]
#
# For each page (default: every man/*.3 and man/weft.7 under $srcdir), take
# each .Bd -literal ... .Ed block of the EXAMPLES section, undo the mdoc
# escapes, and check it with
#	${CC:-cc} -Wall -Wextra -Werror -fsyntax-only -I"$srcdir/include".
# Alias pages (a single .so line) are skipped.  A page with no example fails.
# Diagnostics point at lines of the page, through #line.
# Exit status: 0 if every example compiles, 1 otherwise, 99 on setup errors.

srcdir=${srcdir:-$(dirname "$0")/..}
CC=${CC:-cc}

if [ $# -eq 0 ]; then
	set -- "$srcdir"/man/*.3 "$srcdir"/man/weft.7
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-examples.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' 0
trap 'exit 99' HUP INT TERM

# Write the examples of page $1 to $tmp/$2.N.c and print N, the number of
# examples.  Escapes other than \e \& \- \(aq \(dq are errors.
extract() {
	awk -v page="$1" -v out="$tmp/$2" '
	function fail(msg) {
		printf "%s:%d: %s\n", page, NR, msg > "/dev/stderr"
		bad = 1
	}
	function unescape(s,	r, c, i, name) {
		r = ""
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c != "\\") {
				r = r c
				continue
			}
			c = substr(s, ++i, 1)
			if (c == "e")
				r = r "\\"
			else if (c == "-")
				r = r "-"
			else if (c == "&")
				;
			else if (c == "(") {
				name = substr(s, i + 1, 2)
				i += 2
				if (name == "aq")
					r = r "\047"
				else if (name == "dq")
					r = r "\""
				else
					fail("unsupported escape \\(" name)
			} else
				fail("unsupported escape \\" c)
		}
		return r
	}
	/^\.Sh[ \t]/ {
		inex = ($0 ~ /^\.Sh[ \t]+EXAMPLES[ \t]*$/)
		next
	}
	inex && !inlit && /^\.Bd[ \t]+-literal/ {
		inlit = 1
		file = out "." ++n ".c"
		printf "#line %d \"%s\"\n", NR + 1, page > file
		next
	}
	inlit && /^\.Ed([ \t]|$)/ {
		inlit = 0
		close(file)
		next
	}
	inlit && /^[.\047]/ {
		fail("macro line inside an example")
		next
	}
	inlit {
		print unescape($0) > file
	}
	END {
		if (inlit)
			fail("example not closed with .Ed")
		print n + 0
		exit bad
	}' "$1"
}

status=0
for page in "$@"; do
	if [ ! -r "$page" ]; then
		echo "FAIL: $page: cannot read" >&2
		status=1
		continue
	fi
	if head -n 1 "$page" | grep -q '^\.so[ \t]'; then
		continue
	fi
	name=$(basename "$page")
	if ! n=$(extract "$page" "$name"); then
		echo "FAIL: $page: bad example" >&2
		status=1
		continue
	fi
	if [ "$n" -eq 0 ]; then
		echo "FAIL: $page: no .Bd -literal block in EXAMPLES" >&2
		status=1
		continue
	fi
	i=1
	while [ "$i" -le "$n" ]; do
		if $CC -Wall -Wextra -Werror -fsyntax-only \
		    -I"$srcdir/include" "$tmp/$name.$i.c"; then
			echo "PASS: $page"
		else
			echo "FAIL: $page (example $i)" >&2
			status=1
		fi
		i=$((i + 1))
	done
done
exit $status
