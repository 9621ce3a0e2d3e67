#!/usr/bin/env bash
# Validates the sysusers.d and tmpfiles.d snippets offline (in a scratch --root) and lints the
# man pages with groff warnings on.
#
#   lint_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# sysusers: creates group and user failoverd, home /var/lib/failoverd, no login shell.
mkdir -p "$tmp/root/etc"
systemd-sysusers --root="$tmp/root" "$src/packaging/sysusers.d/failoverd.conf"
grep -E '^failoverd:x:[0-9]+:[0-9]+:[^:]*:/var/lib/failoverd:/usr/sbin/nologin$' "$tmp/root/etc/passwd" \
  || { echo "lint: sysusers did not create the failoverd user as expected"; fail=1; }
grep -E '^failoverd:x:[0-9]+:' "$tmp/root/etc/group" || { echo "lint: no failoverd group"; fail=1; }

# tmpfiles: /etc/failoverd 0750 root:failoverd (resolved against the scratch root's group file).
systemd-tmpfiles --create --root="$tmp/root" "$src/packaging/tmpfiles.d/failoverd.conf"
gid=$(awk -F: '$1=="failoverd"{print $3}' "$tmp/root/etc/group")
uid=$(awk -F: '$1=="failoverd"{print $3}' "$tmp/root/etc/passwd")
got=$(stat -c '%a %u %g' "$tmp/root/etc/failoverd")
[ "$got" = "750 0 $gid" ] || { echo "lint: /etc/failoverd is '$got', want '750 0 $gid'"; fail=1; }
got=$(stat -c '%a %u %g' "$tmp/root/var/lib/failoverd")
[ "$got" = "750 $uid $gid" ] || { echo "lint: /var/lib/failoverd is '$got', want '750 $uid $gid'"; fail=1; }

# man pages: no groff warnings, and every required section present.
for page in "$src/packaging/man/failoverd.8" "$src/packaging/man/failoverctl.1"; do
  warn=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1 || true)
  if [ -n "$warn" ]; then printf '%s\n' "$warn"; echo "lint: groff warnings in $page"; fail=1; fi
  if command -v man >/dev/null; then
    warn=$(man -l --warnings -E UTF-8 -Tutf8 "$page" 2>&1 >/dev/null || true)
    if [ -n "$warn" ]; then printf '%s\n' "$warn"; echo "lint: man warnings in $page"; fail=1; fi
  fi
  for s in NAME SYNOPSIS DESCRIPTION OPTIONS FILES "EXIT STATUS" "SEE ALSO"; do
    grep -q "^\.SH \"\?$s\"\?\$" "$page" || { echo "lint: $page lacks section $s"; fail=1; }
  done
done
grep -q '^\.SH SIGNALS' "$src/packaging/man/failoverd.8" || { echo "lint: failoverd.8 lacks SIGNALS"; fail=1; }
grep -q '^\.SH COMMANDS' "$src/packaging/man/failoverctl.1" || { echo "lint: failoverctl.1 lacks COMMANDS"; fail=1; }

# maintainer scripts parse as POSIX sh.
for s in postinst prerm postrm; do sh -n "$src/packaging/debian/$s" || fail=1; done

[ "$fail" = 0 ] && echo "lint: ok"
exit "$fail"
