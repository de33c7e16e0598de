#!/bin/sh
# Smoke test of tests/support/adbd_standin.py against the real adb client and
# server (Debian's `adb`): connect, shell protocol v2 (stdout and stderr apart,
# the exit status, standard input and its end, the hang-up when the client
# goes), the Android-like layout (toybox applets, mksh as sh), push and pull
# byte for byte, `adb root` on a userdebug and a user build, `shell -x` and
# `exec-out` (no protocol), a connection cut by the device and its return,
# the host's key accepted or refused, disconnect. Uses its own adb server on
# a free port, with its own HOME, and stops it (and the stand-ins) at the
# end; never talks to another adb server.
# Needs: adb, toybox, mksh, busybox (for `dd`, which Debian's toybox lacks),
# python3. Exits 0 when every check passed, 1 on the first mismatch, 2 when a
# tool is missing.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
STANDIN="$HERE/adbd_standin.py"

for t in adb toybox mksh busybox python3; do
    command -v "$t" >/dev/null 2>&1 || { echo "adbd_smoke: missing $t" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/adbd-smoke.XXXXXX")
chmod 755 "$WORK" # the shell user (uid 2000, when run as root) walks through it
PIDS=""
ADB_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ANDROID_ADB_SERVER_PORT="$ADB_PORT"
unset ADB_SERVER_SOCKET ANDROID_SERIAL ANDROID_SDK_HOME ANDROID_USER_HOME ADB_VENDOR_KEYS
# adb's server keeps its key and files in ~/.android: a home of its own.
export HOME="$WORK/home"
mkdir "$HOME"

cleanup() {
    adb -P "$ADB_PORT" kill-server >/dev/null 2>&1
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
adb -P "$ADB_PORT" start-server >/dev/null 2>&1 || { echo "adbd_smoke: adb start-server failed" >&2; exit 1; }

N=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
die() {
    echo "FAIL - $1" >&2
    for l in "$WORK"/*.log; do
        [ -s "$l" ] && { echo "--- $l" >&2; tail -n 20 "$l" >&2; }
    done
    exit 1
}
# `same WHAT EXPECTED ACTUAL`
same() {
    if [ "$2" = "$3" ]; then ok "$1"; else die "$1: expected [$2], got [$3]"; fi
}
# `adbs ARGS`: adb for the current device, with a time limit.
adbs() { timeout 60 adb -P "$ADB_PORT" -s "$SERIAL" "$@"; }

# `launch NAME ARGS`: starts a stand-in; sets SERIAL to its address.
launch() {
    name=$1
    shift
    python3 "$STANDIN" "$WORK/$name" --extra "dd=$(command -v busybox)" \
        --idle 120 "$@" > "$WORK/$name.port" 2> "$WORK/$name.log" &
    PIDS="$PIDS $!"
    i=0
    until [ -s "$WORK/$name.port" ]; do
        i=$((i + 1))
        [ $i -lt 100 ] || die "$name: the stand-in did not print its port"
        sleep 0.1
    done
    SERIAL="127.0.0.1:$(cat "$WORK/$name.port")"
}

# `start NAME ARGS`: launches a stand-in and connects it.
start() {
    launch "$@"
    out=$(timeout 30 adb -P "$ADB_PORT" connect "$SERIAL" 2>&1)
    same "$name: adb connect" "connected to $SERIAL" "$out"
    state=$(adbs get-state 2>&1)
    same "$name: adb get-state" device "$state"
}

# -- a userdebug build ------------------------------------------------------
start ud --build userdebug
D="$WORK/ud"

features=$(adbs features | tr '\n' ' ')
case " $features" in
*" shell_v2 "*) ok "features has shell_v2 ($features)" ;;
*) die "features: no shell_v2 in [$features]" ;;
esac

out=$(adbs shell 'echo hi; exit 3' 2>"$WORK/err")
rc=$?
same "shell: stdout" hi "$out"
same "shell: exit status 3 comes back" 3 "$rc"

out=$(adbs shell 'echo out; echo err >&2; exit 0' 2>"$WORK/err")
same "shell v2: stdout alone on stdout" out "$out"
same "shell v2: stderr alone on stderr" err "$(cat "$WORK/err")"

# Without the shell protocol (`shell -x`, `exec-out`): one stream, no status.
out=$(adbs shell -x 'echo out; echo err >&2; exit 4' 2>/dev/null)
rc=$?
same "shell -x (no protocol): both streams on stdout, exit 0" "out err 0" "$(echo $out) $rc"
out=$(adbs exec-out 'echo out; echo err >&2; exit 4' 2>/dev/null)
rc=$?
same "exec-out: both streams on stdout, exit 0" "out err 0" "$(echo $out) $rc"

out=$(adbs shell 'kill -9 $$')
same "shell: killed by SIGKILL exits 137" 137 "$?"

# The layout: mksh as sh, toybox applets, nothing else on PATH, cwd is ROOT.
out=$(adbs shell 'echo "$KSH_VERSION"')
case "$out" in *MIRBSD*) ok "sh is mksh ($out)" ;; *) die "sh is not mksh: [$out]" ;; esac
same "PATH is ROOT/system/bin" "$D/system/bin" "$(adbs shell 'echo $PATH')"
same "tar is toybox" /usr/bin/toybox "$(adbs shell 'readlink $(command -v tar)')"
same "commands start in ROOT" "$D" "$(adbs shell pwd)"
same "TMPDIR is ROOT/data/local/tmp" "$D/data/local/tmp" "$(adbs shell 'echo $TMPDIR')"
if [ "$(id -u)" = 0 ]; then
    same "the shell user is uid 2000" 2000 "$(adbs shell 'echo $USER_ID')"
fi

# Standard input, binary, through cat; its end reaches the command.
head -c 1500000 /dev/urandom > "$WORK/in.bin"
adbs shell cat < "$WORK/in.bin" > "$WORK/out.bin" || die "shell cat failed"
cmp -s "$WORK/in.bin" "$WORK/out.bin" && ok "stdin through cat, 1.5 MB byte for byte" \
    || die "stdin through cat: output differs ($(wc -c < "$WORK/out.bin") bytes)"
out=$(printf 'abc' | adbs shell 'wc -c; read -r x || echo input-ended')
same "the input's end reaches the command" "3 input-ended" "$(echo $out)"

# klo-spec's round trip: a script copied off the input with dd, then a tar
# archive on the same input, a tar archive back and a status line.
mkdir -p "$WORK/cell" && head -c 300000 /dev/urandom > "$WORK/cell/blob"
tar cf "$WORK/cell.tar" -C "$WORK/cell" .
K=$(wc -c < "$WORK/cell.tar")
W="$D/data/local/tmp/w"
cat > "$WORK/runner.sh" <<EOF
mkdir -p $W && cd $W && head -c $K | tar xf - || exit 96
tar cf - .
printf '\nklo-exit=%s\n' 5
exit 5
EOF
R=$(wc -c < "$WORK/runner.sh")
cat "$WORK/runner.sh" "$WORK/cell.tar" | adbs shell \
    "sh -c 'F=$D/data/local/tmp/run.\$\$ && dd bs=1 count=$R of=\$F 2>/dev/null && exec sh \$F'" > "$WORK/back"
same "round trip: exit status" 5 "$?"
same "round trip: status line" "klo-exit=5" "$(tail -n 1 "$WORK/back")"
mkdir -p "$WORK/back.d" && tar xf "$WORK/back" -C "$WORK/back.d" 2>/dev/null
cmp -s "$WORK/cell/blob" "$WORK/back.d/blob" && ok "round trip: archive back byte for byte" \
    || die "round trip: the archive came back different"

# The hang-up: when the client goes, the command gets SIGHUP.
adb -P "$ADB_PORT" -s "$SERIAL" shell "echo \$\$ > $D/data/local/tmp/pid; sleep 60" &
client=$!
i=0
until [ -s "$D/data/local/tmp/pid" ] || [ $i -ge 100 ]; do i=$((i + 1)); sleep 0.1; done
kill "$client"
wait "$client" 2>/dev/null
pid=$(cat "$D/data/local/tmp/pid")
i=0
# The hang-up travels client -> adb server -> stand-in -> shell: allow a
# loaded machine 30 s.
while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do i=$((i + 1)); sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then die "hang-up: the shell $pid still runs after its client went"; fi
ok "hang-up: the shell ends when its client goes"

# push and pull, byte for byte (3 MB: many sync DATA chunks).
head -c 3000000 /dev/urandom > "$WORK/push.bin"
adbs push "$WORK/push.bin" "$D/data/local/tmp/sub/push.bin" > /dev/null || die "adb push failed"
cmp -s "$WORK/push.bin" "$D/data/local/tmp/sub/push.bin" && ok "adb push, byte for byte" \
    || die "adb push: the file differs"
same "adb push keeps the mode" 644 "$(stat -c %a "$D/data/local/tmp/sub/push.bin")"
same "adb push keeps the mtime" "$(stat -c %Y "$WORK/push.bin")" "$(stat -c %Y "$D/data/local/tmp/sub/push.bin")"
if adbs push "$WORK/push.bin" /proc/no/such/place > /dev/null 2>&1; then
    die "adb push to an unwritable place succeeded"
fi
ok "adb push to an unwritable place fails"
adbs pull "$D/data/local/tmp/sub/push.bin" "$WORK/pulled.bin" > /dev/null || die "adb pull failed"
cmp -s "$WORK/push.bin" "$WORK/pulled.bin" && ok "adb pull, byte for byte" \
    || die "adb pull: the file differs"
if adbs pull "$D/no/such/file" "$WORK/nothing" > /dev/null 2>&1; then
    die "adb pull of a missing file succeeded"
fi
ok "adb pull of a missing file fails"

# adb root on a userdebug build: adbd restarts, adb's server reconnects.
out=$(adbs root 2>&1)
same "userdebug: adb root" "restarting adbd as root" "$out"
adbs wait-for-device || die "wait-for-device after adb root"
same "userdebug: root after adb root" 0 "$(adbs shell 'echo $USER_ID')"
same "userdebug: adb root again" "adbd is already running as root" "$(adbs root 2>&1)"

out=$(adb -P "$ADB_PORT" disconnect "$SERIAL" 2>&1)
same "adb disconnect" "disconnected $SERIAL" "$out"
case "$(adb -P "$ADB_PORT" devices)" in
*"$SERIAL"*) die "adb devices still lists $SERIAL" ;;
*) ok "adb devices no longer lists it" ;;
esac

# -- a user build ------------------------------------------------------------
start user --build user
out=$(adbs root 2>&1)
same "user build: adb root refused" "adbd cannot run as root in production builds" "$out"
same "user build: still there after adb root" device "$(adbs get-state 2>&1)"
if [ "$(id -u)" = 0 ]; then
    same "user build: still the shell user" 2000 "$(adbs shell 'echo $USER_ID')"
fi

# -- a device that goes offline mid-transfer ----------------------------------
start drop --drop-after-bytes 400000 --offline-s 3
head -c 1000000 /dev/urandom > "$WORK/drop.bin"
adbs shell cat < "$WORK/drop.bin" > "$WORK/drop.out" 2>/dev/null
rc=$?
got=$(wc -c < "$WORK/drop.out")
# adb 29 exits 0 here (no exit packet came, and it says nothing): only the
# missing data tells, hence klo-spec's status line in the data.
[ "$got" -lt 1000000 ] || die "a cut connection: all $got bytes came back"
ok "a cut connection: the output is cut short (adb exit $rc, $got of 1000000 bytes back)"
state=$(adbs get-state 2>&1)
case "$state" in *device) die "a cut connection: the device is still listed as online" ;; esac
ok "a cut connection: the device is not online ($state)"
adbs wait-for-device || die "the device did not come back"
same "it comes back when adbd listens again" back "$(adbs shell 'echo back')"

# -- the host's key: signed and accepted, or never accepted -------------------
start auth --auth accept
same "auth accepted: a command runs" yes "$(adbs shell 'echo yes')"
launch refused --auth refuse
out=$(timeout 30 adb -P "$ADB_PORT" connect "$SERIAL" 2>&1)
same "auth refused: adb connect" "failed to authenticate to $SERIAL" "$out"
state=$(adbs get-state 2>&1)
case "$state" in
*unauthorized*) ok "auth refused: the device is unauthorized" ;;
*) die "auth refused: get-state said [$state]" ;;
esac
if adbs shell true 2>/dev/null; then die "auth refused: a command ran"; fi
ok "auth refused: no command runs"

echo "all $N checks passed"
