# Sourced by tests/run.sh and benches/run.sh: `install_missing WHO PACKAGES`
# installs the Debian packages listed (when any) with apt-get, as root or
# through sudo, or says what is missing where there is no apt-get.
install_missing() {
    who=$1
    shift
    [ $# -gt 0 ] || return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$who: missing: $* (install them with your package manager)" >&2
        exit 1
    fi
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "$who: installing $*" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
