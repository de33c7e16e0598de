#!/bin/sh
# The whole test suite, on a fresh Debian/Ubuntu machine or a developer's:
# installs what the tests need when it is missing (a C compiler for the
# board-side helpers, util-linux's taskset and script, pocl for the OpenCL
# tests, chromium for the report page, as root or through sudo), then runs
# `cargo test`. Extra arguments go to
# cargo test (e.g. `tests/run.sh --test cli`).
set -eu
cd "$(dirname "$0")/.."

need=""
command -v cc >/dev/null 2>&1 || need="$need gcc libc6-dev"
command -v taskset >/dev/null 2>&1 || need="$need util-linux"
[ -e /etc/OpenCL/vendors/pocl.icd ] || need="$need pocl-opencl-icd ocl-icd-libopencl1"
# The cell script is also tested under the shells boards have.
command -v busybox >/dev/null 2>&1 || need="$need busybox"
command -v mksh >/dev/null 2>&1 || need="$need mksh"
# The report page is opened in a real headless browser.
command -v chromium >/dev/null 2>&1 || need="$need chromium"
if [ -n "$need" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "tests/run.sh: missing:$need (install them with your package manager)" >&2
        exit 1
    fi
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "tests/run.sh: installing$need" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

# pocl is installed: the OpenCL tests must run, not skip.
if [ -e /etc/OpenCL/vendors/pocl.icd ]; then
    export KLO_SPEC_TEST_OPENCL=1
fi
# chromium is installed: the browser test must run, not skip.
if command -v chromium >/dev/null 2>&1; then
    export KLO_SPEC_TEST_BROWSER=1
fi
exec cargo test --locked "$@"
