#!/bin/sh
# The whole test suite, on a fresh Debian/Ubuntu machine or a developer's:
# installs what the tests need when it is missing (a C compiler for the
# board-side helpers, util-linux's taskset and script, pocl for the OpenCL
# tests, chromium for the report page, OpenSSH's server and client, an
# aarch64 cross gcc and qemu-user, adb, toybox and python3 for the adbd
# stand-in, as root or through sudo), then runs
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
# adb boards are tested through the real adb client and server against a
# stand-in adbd (tests/support/adbd_standin.py, Python) whose device runs
# toybox applets and mksh.
command -v adb >/dev/null 2>&1 || need="$need adb"
command -v toybox >/dev/null 2>&1 || need="$need toybox"
command -v python3 >/dev/null 2>&1 || need="$need python3"
# The report page is opened in a real headless browser.
command -v chromium >/dev/null 2>&1 || need="$need chromium"
# ssh boards are tested against a real sshd on loopback, which the tests
# start themselves (tests/common/sshd.rs); aarch64 helpers are cross-built
# and run under qemu-user.
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v ssh-keygen >/dev/null 2>&1 || need="$need openssh-client"
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need="$need gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
command -v qemu-aarch64 >/dev/null 2>&1 || need="$need qemu-user"
. tests/install-missing.sh
# shellcheck disable=SC2086
install_missing tests/run.sh $need

# pocl is installed: the OpenCL tests must run, not skip.
if [ -e /etc/OpenCL/vendors/pocl.icd ]; then
    export KLO_SPEC_TEST_OPENCL=1
fi
# Root can mount a small tmpfs: the full-disk and read-only cases of the
# fault matrix (tests/faults.rs) must run, not skip.
if [ "$(id -u)" = 0 ]; then
    export KLO_SPEC_TEST_MOUNT=1
fi
# chromium is installed: the browser test must run, not skip.
if command -v chromium >/dev/null 2>&1; then
    export KLO_SPEC_TEST_BROWSER=1
fi
exec cargo test --locked "$@"
