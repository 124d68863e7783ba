#!/usr/bin/env bash
# The suite on dom0's Python 3.6 and on python3 side by side (`make test-py`): most of its time is
# spent waiting on real storage nodes (glusterd, heals, timeouts), so two runs share the two cores well.
# Their labs never meet: every lab name and subnet carries the Python (tests/labutil.py).
# Each run's output goes to build/test-logs/<python>.log and is printed whole when both are done.
set -u
cd "$(dirname "$0")/.."
V36=$1; V3=$2; shift 2
extra=("$@")  # PYTEST_ARGS, to both runs
logs=build/test-logs
mkdir -p "$logs"
run() {  # name venv
    "$2/bin/python" -m pytest -ra -m "not slow" --basetemp="/tmp/xosan-pytest-$1" ${extra[@]+"${extra[@]}"} tests >"$logs/$1.log" 2>&1
}
start=$(date +%s)
run py36 "$V36" & p36=$!
run py3 "$V3" & p3=$!
wait $p36; rc36=$?
wait $p3; rc3=$?
for name in py36 py3; do
    echo "================ $name: $("$([ $name = py36 ] && echo "$V36" || echo "$V3")/bin/python" --version) ================"
    cat "$logs/$name.log"
done
echo "both Pythons in $(( $(date +%s) - start )) s: py36 $([ $rc36 = 0 ] && echo passed || echo "FAILED ($rc36)"), py3 $([ $rc3 = 0 ] && echo passed || echo "FAILED ($rc3)")"
[ $rc36 = 0 ] && [ $rc3 = 0 ]
