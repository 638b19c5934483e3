#!/bin/sh
# setup_prefix.sh: scripts/setup.sh run twice with different PREFIX installs
# into each and runs the gateway from each (it used to configure only once,
# so the second run installed into the first prefix and then failed
# "exec: .../bin/fk-gateway: not found"). Runs the real setup.sh in a copy
# of the tree whose deps.sh, configure and build are small stand-ins with
# autotools' interface (configure --prefix writes "prefix = P" into the
# Makefile; make install puts bin/fk-gateway under it), so no build happens.
set -eu
echo "1..4"
top=${FK_TOP_SRCDIR:?run through make check}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/tree/scripts" "$t/tree/conf"
cp "$top/scripts/setup.sh" "$t/tree/scripts/setup.sh"
printf '#!/bin/sh\nexit 0\n' >"$t/tree/scripts/deps.sh"
cat >"$t/tree/configure" <<'CONF'
#!/bin/sh
for a; do case $a in --prefix=*) p=${a#--prefix=} ;; esac; done
printf 'prefix = %s\nall:\n\ttrue\ninstall:\n\tmkdir -p $(prefix)/bin\n\techo "echo ran $(prefix)" >$(prefix)/bin/fk-gateway\n\tchmod +x $(prefix)/bin/fk-gateway\n' "$p" >Makefile
CONF
chmod +x "$t/tree/configure"
run() { PREFIX=$1 sh "$t/tree/scripts/setup.sh" 2>&1; }
n=0
check() {
    n=$((n + 1))
    if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "# got: $1"; echo "# want: $2"; fi
}
out=$(run "$t/a" | tail -n 1)
check "$out" "ran $t/a" "first run: installs into PREFIX and runs it"
out=$(run "$t/b" | tail -n 1)
check "$out" "ran $t/b" "second run with another PREFIX: installs there and runs it"
[ -x "$t/b/bin/fk-gateway" ] && r=yes || r=no
check "$r" yes "the gateway is installed under the second prefix"
out=$(run "$t/b" | tail -n 1)
check "$out" "ran $t/b" "the same PREFIX again: still works"
