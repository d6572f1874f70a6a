#!/bin/sh
# The whole test suite: the Rust unit tests, then every busted spec on each
# Lua interpreter (5.4, 5.3, 5.2, 5.1 and LuaJIT), each against a tls.so
# built for it. Spec files named *_54_spec.lua run on 5.4 only (.busted).
# Then scripts/rock-test.sh (the rockspec for Lua 5.1 and 5.4). Prints a
# line per interpreter and ends with a plain "N passed, N failed" line
# that counts every run. Arguments go to each busted run.
# Logs: target/cargo-test.log, target/busted-VERSION.log, target/build-VERSION.log.
set -u
cd "$(dirname "$0")/.."
sh scripts/deps.sh || exit 1
start=$(date +%s)

VERSIONS="lua54 lua53 lua52 lua51 luajit"
interpreter() {
  case "$1" in
    luajit) echo luajit ;;
    *) echo "$1" | sed 's/^lua\([0-9]\)\([0-9]\)$/lua\1.\2/' ;;
  esac
}

sh scripts/build.sh lua54 || exit 1
for v in $VERSIONS; do rm -f "target/build-$v.status"; done
echo 0 > target/build-lua54.status
rm -f target/cargo-test.status

# Cargo builds one thing at a time in a target directory, so the other
# four modules and then the test binary are built one after another in the
# background, while busted runs the specs on the versions already built.
(
  for v in lua53 lua52 lua51 luajit; do
    sh scripts/build.sh "$v" > "target/build-$v.log" 2>&1
    echo $? > "target/build-$v.status"
  done
  # Module mode cannot link a test binary: tests link a vendored Lua 5.4.
  cargo test --quiet --no-default-features --features lua54,vendored > target/cargo-test.log 2>&1
  echo $? > target/cargo-test.status
) &
background=$!

summary=""
busted_pass=0
busted_fail=0
busted_skip=0
status=0
for v in $VERSIONS; do
  while [ ! -s "target/build-$v.status" ]; do sleep 1; done
  lua=$(interpreter "$v")
  log="target/busted-$v.log"
  if [ "$(cat "target/build-$v.status")" -ne 0 ]; then
    echo "== busted on $lua: the module did not build (target/build-$v.log):"
    tail -20 "target/build-$v.log"
    pass=0; fail=1; skip=0; status=1
  else
    echo "== busted on $lua"
    t0=$(date +%s)
    "$lua" /usr/bin/busted -o TAP "$@" > "$log" 2>&1
    rc=$?
    t1=$(date +%s)
    pass=$(grep '^ok ' "$log" | grep -vc ' # SKIP ')
    skip=$(grep -c '^ok .* # SKIP ' "$log")
    fail=$(grep -c '^not ok ' "$log")
    # A spec file that cannot even load makes busted fail without a TAP line.
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; tail -20 "$log"; fi
    [ "$rc" -eq 0 ] || status=1
    # The failures with their messages; the whole log stays in $log.
    awk '/^not ok /{p=1; print; next} /^(ok |1\.\.)/{p=0} p' "$log"
    grep '^ok .* # SKIP ' "$log"
    echo "$lua: $pass passed, $fail failed, $skip skipped ($((t1 - t0)) s)"
  fi
  summary="$summary$lua: $pass passed, $fail failed, $skip skipped
"
  busted_pass=$((busted_pass + pass))
  busted_fail=$((busted_fail + fail))
  busted_skip=$((busted_skip + skip))
done

wait "$background"
echo "== cargo test"
cat target/cargo-test.log
cargo_status=$(cat target/cargo-test.status 2>/dev/null || echo 1)
cargo_pass=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed.*/\1/p' target/cargo-test.log | awk '{s+=$1} END {print s+0}')
cargo_fail=$(sed -n 's/^test result: .* \([0-9]*\) failed.*/\1/p' target/cargo-test.log | awk '{s+=$1} END {print s+0}')
if [ "$cargo_status" -ne 0 ] && [ "$cargo_fail" -eq 0 ]; then cargo_fail=1; fi

# The rockspec for two Lua versions, installed into a temporary tree (it
# builds in target/ too, so only now that the other builds are done).
echo "== rockspec"
sh scripts/rock-test.sh 5.1 5.4 > target/rock-test.log 2>&1
rock_status=$?
cat target/rock-test.log
rock_pass=$(grep -c '^ok ' target/rock-test.log)
rock_fail=$(grep -c '^not ok ' target/rock-test.log)
if [ "$rock_status" -ne 0 ] && [ "$rock_fail" -eq 0 ]; then rock_fail=1; fi

echo "== summary ($(( $(date +%s) - start )) s)"
echo "cargo test: $cargo_pass passed, $cargo_fail failed"
echo "rockspec: $rock_pass passed, $rock_fail failed"
printf '%s' "$summary"
echo "busted, all interpreters: $busted_pass passed, $busted_fail failed, $busted_skip skipped"
total_fail=$((cargo_fail + rock_fail + busted_fail))
echo "$((cargo_pass + rock_pass + busted_pass)) passed, $total_fail failed"
[ "$cargo_status" -eq 0 ] && [ "$rock_status" -eq 0 ] && [ "$status" -eq 0 ] && [ "$total_fail" -eq 0 ]
