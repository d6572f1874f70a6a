#!/bin/sh
# The whole test suite: Rust unit tests, then the busted specs over real
# sockets and real peers. Ends with a plain "N passed, N failed" line.
set -u
cd "$(dirname "$0")/.."
sh scripts/deps.sh || exit 1
sh scripts/build.sh || exit 1

echo "== cargo test"
# Module mode cannot link a test binary: tests link a vendored Lua 5.4.
cargo test --quiet --no-default-features --features lua54,vendored > target/cargo-test.log 2>&1
cargo_status=$?
cat target/cargo-test.log
cargo_pass=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed.*/\1/p' target/cargo-test.log | awk '{s+=$1} END {print s+0}')
cargo_fail=$(sed -n 's/^test result: .* \([0-9]*\) failed.*/\1/p' target/cargo-test.log | awk '{s+=$1} END {print s+0}')

echo "== busted"
lua5.4 /usr/bin/busted -o TAP "$@" > target/busted.log 2>&1
busted_status=$?
cat target/busted.log
busted_pass=$(grep -c '^ok ' target/busted.log)
busted_fail=$(grep -c '^not ok ' target/busted.log)
# A spec file that cannot even load makes busted fail without a TAP line.
if [ "$busted_status" -ne 0 ] && [ "$busted_fail" -eq 0 ]; then busted_fail=1; fi

echo "cargo test: $cargo_pass passed, $cargo_fail failed"
echo "busted: $busted_pass passed, $busted_fail failed"
total_fail=$((cargo_fail + busted_fail))
echo "$((cargo_pass + busted_pass)) passed, $total_fail failed"
[ "$cargo_status" -eq 0 ] && [ "$busted_status" -eq 0 ] && [ "$total_fail" -eq 0 ]
