#!/bin/sh
# Every benchmark of BENCHMARKS.md, on a fresh Debian/Ubuntu machine or a
# developer's: installs what the benches need when it is missing (a C
# compiler for the board-side helpers, OpenSSH's server and client for the
# ssh side of the overhead bench, Python's venv for Workload Automation
# and pandas, which the benches pip-install into a virtualenv under the
# target folder once), then runs them one after another. Each prints its
# figures with both sides and the ratio. Arguments name benches to run
# (default: all): `benches/run.sh ingest planning`.
set -eu
cd "$(dirname "$0")/.."

need=""
command -v cc >/dev/null 2>&1 || need="$need gcc libc6-dev"
command -v taskset >/dev/null 2>&1 || need="$need util-linux"
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v ssh-keygen >/dev/null 2>&1 || need="$need openssh-client"
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need="$need python3-venv"
. tests/install-missing.sh
# shellcheck disable=SC2086
install_missing benches/run.sh $need

benches="${*:-planning ingest overhead k_search k_search_local}"
# One build first, so that no bench's time includes compiling.
cargo bench --locked --no-run
for b in $benches; do
    echo "== cargo bench --bench $b"
    cargo bench --locked --bench "$b"
done
