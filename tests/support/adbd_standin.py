#!/usr/bin/python3
"""A small adbd stand-in: the device side of adb's wire protocol on a
loopback TCP port, for testing klo-spec's adb transport with the real `adb`
client and server (`adb connect 127.0.0.1:PORT`). Python 3 standard library
only.

    adbd_standin.py ROOT [--build user|userdebug] [--port N] [--idle S]
                         [--extra NAME=PATH ...] [--drop-after-bytes N]
                         [--drop-after-seconds S] [--offline-s S]
                         [--drop-count N] [--auth none|accept|refuse]
                         [--su none|magisk|aosp] [--selinux MODE]
                         [--settings KEY=VALUE ...]

It prints the port it listens on (one line) once it accepts connections.

What a device has, and this does:
  * the transport: CNXN (version 0x01000001; --auth accept asks the host
    to sign a token and takes any answer, --auth refuse never accepts: the
    host then lists the device as unauthorized; default none: no AUTH),
    OPEN/OKAY/WRTE/CLSE streams with adb's flow
    control (one WRTE in flight per stream and direction, each answered with
    OKAY), checksums and magic;
  * `shell:`, `exec:` (output and errors on the stream, no status) and
    `shell,v2[,raw|pty][,TERM=..]:` (the shell protocol: packets of id
    byte, 32-bit length, data; 0 stdin, 1 stdout, 2 stderr, 3 exit,
    4 close stdin, 5 window size), run by `sh -c` on pipes (a `pty`
    request gets pipes too: no terminal);
  * `sync:` (STAT, STA2, LST2, LIST, SEND, RECV, DATA, DONE, OKAY, FAIL, QUIT)
    for `adb push` and `adb pull`;
  * `root:` on a userdebug build (adbd says it restarts, drops the
    connection and comes back as root; adb's server reconnects), refused on
    a user build.

The Android-like layout: ROOT stands for the device's `/`. The stand-in
makes ROOT/data/local/tmp and ROOT/system/bin, where every toybox applet is
a symbolic link to toybox and `sh` to mksh (Android's shell), plus the
`--extra` links (Debian's toybox lacks `dd`: `--extra dd=/bin/busybox`).
Commands run with PATH=ROOT/system/bin only, start in ROOT (adbd starts
them in `/`), with HOME=ROOT, TMPDIR=ROOT/data/local/tmp and
ADBD_STANDIN_ROOT=ROOT. This is not a chroot: no path is rewritten, in
shell commands or in sync requests, so the device's /data/local/tmp is
ROOT/data/local/tmp for every client (a rewrite could not reach the paths
inside scripts sent on standard input). Run as root, the stand-in runs
commands as uid/gid 2000 (Android's `shell`) until `adb root`, and
ROOT/data/local/tmp belongs to 2000, as on a device.

Android's userland around the shell, as shims in ROOT/system/bin:
  * `su` (--su): `magisk` takes MagiskSU's forms (`su [options] [-]
    [LOGIN] [args...]`, `-c COMMAND` passed to the shell, further args to
    the shell too), `aosp` takes the userdebug su's (`su [WHO [COMMAND
    ...]]`: WHO a uid or name, where `-c` reads as uid 0 the way atoi does,
    and COMMAND run directly, not by a shell: `su -c "id -u"` fails with
    `su: failed to exec id -u: No such file or directory`), `none` has no
    su at all (toybox's own `su`, a desktop su, is never linked). The shim
    is not setuid: like MagiskSU's client it hands its standard input,
    output and error to the stand-in over a unix socket
    (ROOT/dev/socket/standin_su); the stand-in checks the form, runs the
    command as root, passes on the signals the shim gets (HUP, INT, TERM,
    QUIT), hangs it up when the shim goes, and sends back its status;
  * `getprop` (ro.build.type, ro.serialno: ROOT's name, and a few
    ro.product.* properties),
    `settings get|put|delete global KEY` (values in
    ROOT/data/standin/settings/, every put and delete appended to
    ROOT/data/standin/settings.log, `null` for a key never set; --settings
    sets initial values) and `svc power stayon true|false|usb|ac|wireless`
    (writes stay_on_while_plugged_in as Android does: 7, 0, 2, 1, 4);
  * `getenforce` (prints Enforcing or Permissive, --selinux; default
    Enforcing).

It stops by itself when its parent process ends, or when no host was
connected for --idle seconds (default 300). --drop-after-bytes and
--drop-after-seconds cut a connection (a device going offline) after that
much data (payload bytes, both ways) or time: the first --drop-count
connections (default: every one); SIGUSR1 cuts every connection at once.
--offline-s then refuses connections for that long.
"""

import argparse
import json
import os
import queue
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

A_SYNC, A_CNXN, A_OPEN, A_OKAY = 0x434E5953, 0x4E584E43, 0x4E45504F, 0x59414B4F
A_CLSE, A_WRTE, A_AUTH, A_STLS = 0x45534C43, 0x45545257, 0x48545541, 0x534C5453
AUTH_TOKEN, AUTH_SIGNATURE = 1, 2
VERSION = 0x01000001  # from this version on, the checksum is optional
MAX_PAYLOAD = 1024 * 1024
SYNC_DATA_MAX = 64 * 1024
SHELL_UID = 2000
FEATURES = "shell_v2,cmd,stat_v2,fixed_push_mkdir"
NAMES = {A_SYNC: "SYNC", A_CNXN: "CNXN", A_OPEN: "OPEN", A_OKAY: "OKAY",
         A_CLSE: "CLSE", A_WRTE: "WRTE", A_AUTH: "AUTH", A_STLS: "STLS"}


def log(msg):
    if os.environ.get("ADBD_STANDIN_DEBUG"):
        print(f"adbd-standin: {msg}", file=sys.stderr, flush=True)


class Device:
    """What outlives one connection: the layout, the build, root state."""

    def __init__(self, args):
        self.root = os.path.realpath(args.root)
        self.build = args.build
        self.rooted = False
        self.args = args
        self.offline_until = 0.0
        self.drops_left = args.drop_count
        self.procs = set()  # running commands, hung up when this ends
        self.conns = set()
        self.lock = threading.Lock()
        self.active = 0
        self.last_seen = time.monotonic()
        self.layout()
        if args.su != "none":
            start_su_daemon(self)

    def layout(self):
        tmp = os.path.join(self.root, "data/local/tmp")
        bin_ = os.path.join(self.root, "system/bin")
        os.makedirs(tmp, exist_ok=True)
        os.makedirs(bin_, exist_ok=True)
        toybox = shutil.which("toybox") or sys.exit("adbd-standin: no toybox")
        mksh = shutil.which("mksh") or sys.exit("adbd-standin: no mksh")
        applets = subprocess.run([toybox], capture_output=True, text=True,
                                 check=True).stdout.split()
        links = {a: toybox for a in applets if a not in ("sh", "toysh")}
        links["toybox"] = toybox
        links["sh"] = links["mksh"] = mksh
        # toybox's su is a desktop su (passwords, /etc/shadow): never
        # Android's; --su decides which one the device has.
        links.pop("su", None)
        for spec in self.args.extra:
            name, _, path = spec.partition("=")
            links[name] = path
        for name in list(links) + list(SHIMS) + ["su"]:
            link = os.path.join(bin_, name)
            if os.path.lexists(link):
                os.unlink(link)
        for name, target in links.items():
            os.symlink(target, os.path.join(bin_, name))
        self.userland(bin_)
        if os.geteuid() == 0:
            os.chown(tmp, SHELL_UID, SHELL_UID)
            os.chmod(tmp, 0o771)
            # The shell user must reach ROOT through its parents.
            d = self.root
            while d != "/":
                st = os.stat(d)
                if not st.st_mode & stat.S_IXOTH:
                    sys.exit(f"adbd-standin: {d} is not searchable by others:"
                             f" the shell user (uid {SHELL_UID}) cannot"
                             f" reach {self.root}")
                d = os.path.dirname(d)

    def userland(self, bin_):
        """The shims of Android's own commands, and their state."""
        data = os.path.join(self.root, "data/standin")
        settings = os.path.join(data, "settings/global")
        os.makedirs(settings, exist_ok=True)
        for spec in self.args.settings:
            key, _, value = spec.partition("=")
            with open(os.path.join(settings, key), "w") as f:
                f.write(value + "\n")
        with open(os.path.join(data, "props"), "w") as f:
            f.write(f"ro.build.type={self.build}\n"
                    "ro.product.model=adbd_standin\n"
                    "ro.product.device=standin\n"
                    "ro.build.version.sdk=29\n"
                    f"ro.serialno={os.path.basename(self.root)}\n")
        with open(os.path.join(data, "selinux"), "w") as f:
            f.write(self.args.selinux + "\n")
        sh = os.path.join(bin_, "sh")
        for name, body in SHIMS.items():
            write_exec(os.path.join(bin_, name),
                       f"#!{sh}\nD={data}\n{body}")
        if self.args.su != "none":
            os.makedirs(os.path.join(self.root, "dev/socket"), exist_ok=True)
            write_exec(os.path.join(bin_, "su"),
                       f"#!{python_for_all()} -S\nSOCK = {su_socket(self)!r}\n"
                       + SU_CLIENT)
        if os.geteuid() == 0:
            # The shell user changes settings (as on a device).
            for d, _, files in os.walk(data):
                os.chown(d, SHELL_UID, SHELL_UID)
                for f in files:
                    os.chown(os.path.join(d, f), SHELL_UID, SHELL_UID)

    def demoted(self):
        """True when commands run as Android's shell user, not root."""
        return os.geteuid() == 0 and not self.rooted

    def banner(self):
        props = {"ro.product.name": "klo_standin",
                 "ro.product.model": "adbd_standin",
                 "ro.product.device": "standin",
                 "ro.build.type": self.build}
        return ("device::" + "".join(f"{k}={v};" for k, v in props.items())
                + f"features={FEATURES}").encode()

    def env(self):
        user = "root" if self.rooted else "shell"
        return {"PATH": os.path.join(self.root, "system/bin"),
                "HOME": self.root,
                "TMPDIR": os.path.join(self.root, "data/local/tmp"),
                "SHELL": os.path.join(self.root, "system/bin/sh"),
                "ANDROID_ROOT": os.path.join(self.root, "system"),
                "ANDROID_DATA": os.path.join(self.root, "data"),
                "ADBD_STANDIN_ROOT": self.root,
                "USER": user, "LOGNAME": user}


class Stream:
    """One side of an adb stream: ours is `local`, the host's `remote`."""

    def __init__(self, conn, local, remote):
        self.conn, self.local, self.remote = conn, local, remote
        self.inbox = queue.Queue()
        self.buf = bytearray()
        self.ready = threading.Semaphore(1)  # the first WRTE needs no OKAY
        self.wlock = threading.Lock()
        self.closed = threading.Event()
        self.on_close = None

    # Host to device: WRTE payloads, each acknowledged once taken.
    def take(self):
        data = self.inbox.get()
        if data is None:
            self.inbox.put(None)
            return None
        self.conn.send(A_OKAY, self.local, self.remote)
        return data

    def read_exact(self, n):
        while len(self.buf) < n:
            data = self.take()
            if data is None:
                raise EOFError
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_some(self):
        if self.buf:
            out = bytes(self.buf)
            self.buf.clear()
            return out
        return self.take()

    # Device to host: WRTE, then wait for the host's OKAY.
    def write(self, data):
        with self.wlock:
            for i in range(0, len(data), self.conn.max_payload):
                while not self.ready.acquire(timeout=0.5):
                    if self.closed.is_set():
                        raise EOFError
                if self.closed.is_set():
                    raise EOFError
                self.conn.send(A_WRTE, self.local, self.remote,
                               data[i:i + self.conn.max_payload])

    def close(self, by_host=False):
        if self.closed.is_set():
            return
        self.closed.set()
        self.inbox.put(None)
        self.ready.release()
        self.conn.streams.pop(self.local, None)
        if not by_host:
            self.conn.send(A_CLSE, self.local, self.remote)
        if self.on_close:
            self.on_close(by_host)


class Connection:
    def __init__(self, device, sock):
        self.device, self.sock = device, sock
        self.send_lock = threading.Lock()
        self.streams = {}
        self.next_id = 1
        self.max_payload = 4096
        self.checksum = True
        self.moved = 0
        self.alive = True
        # Whether --drop-after-* apply to this connection (--drop-count).
        with device.lock:
            self.cut = device.drops_left != 0
            if self.cut:
                device.drops_left -= 1

    def send(self, cmd, arg0, arg1, data=b""):
        check = sum(data) & 0xFFFFFFFF if self.checksum else 0
        head = struct.pack("<6I", cmd, arg0, arg1, len(data), check,
                           cmd ^ 0xFFFFFFFF)
        log(f"-> {NAMES.get(cmd, hex(cmd))} {arg0} {arg1} {len(data)}")
        with self.send_lock:
            if not self.alive:
                raise EOFError
            try:
                self.sock.sendall(head + data)
            except OSError:
                self.drop()
                raise EOFError
        self.count(len(data))

    def count(self, n):
        self.moved += n
        limit = self.device.args.drop_after_bytes
        if limit and self.moved >= limit and self.cut:
            log("dropping the connection (bytes)")
            self.drop(offline=True)

    def drop(self, offline=False):
        if offline and self.device.args.offline_s:
            self.device.offline_until = (time.monotonic()
                                         + self.device.args.offline_s)
        if not self.alive:
            return
        self.alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def recv_exact(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return bytes(out)

    def serve(self):
        secs = self.device.args.drop_after_seconds
        if secs and self.cut:
            timer = threading.Timer(secs, self.drop, kwargs={"offline": True})
            timer.daemon = True
            timer.start()
        try:
            while True:
                cmd, arg0, arg1, length, check, magic = struct.unpack(
                    "<6I", self.recv_exact(24))
                if magic != cmd ^ 0xFFFFFFFF:
                    raise EOFError(f"bad magic {magic:#x}")
                data = self.recv_exact(length) if length else b""
                if (self.checksum and check
                        and sum(data) & 0xFFFFFFFF != check):
                    raise EOFError("bad checksum")
                log(f"<- {NAMES.get(cmd, hex(cmd))} {arg0} {arg1} {length}")
                self.count(length)
                self.handle(cmd, arg0, arg1, data)
        except (EOFError, OSError) as e:
            log(f"connection ends: {e!r}")
        finally:
            self.alive = False
            for s in list(self.streams.values()):
                s.close(by_host=True)
            self.sock.close()

    def handle(self, cmd, arg0, arg1, data):
        auth = self.device.args.auth
        if cmd == A_CNXN:
            self.checksum = arg0 < VERSION
            self.max_payload = min(arg1, MAX_PAYLOAD)
            if auth == "none":
                self.send(A_CNXN, VERSION, MAX_PAYLOAD, self.device.banner())
            else:
                self.send(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))
        elif cmd == A_AUTH:
            # The host signed the token (2) or, having no key the device
            # knows, sent its public key (3) for the user to accept.
            if auth in ("none", "accept"):
                self.send(A_CNXN, VERSION, MAX_PAYLOAD, self.device.banner())
            elif arg0 == AUTH_SIGNATURE:
                self.send(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))
            # refuse: the key is never accepted; the host says
            # "unauthorized".
        elif cmd == A_OPEN:
            service = data.rstrip(b"\0").decode(errors="replace")
            handler = SERVICES.get(service.partition(":")[0].split(",")[0])
            if handler is None:
                self.send(A_CLSE, 0, arg0)
                return
            local, self.next_id = self.next_id, self.next_id + 1
            stream = Stream(self, local, arg0)
            self.streams[local] = stream
            self.send(A_OKAY, local, arg0)
            threading.Thread(target=run_service, daemon=True,
                             args=(handler, stream, service)).start()
        elif cmd == A_OKAY:
            s = self.streams.get(arg1)
            if s:
                s.remote = arg0
                s.ready.release()
        elif cmd == A_WRTE:
            s = self.streams.get(arg1)
            if s:
                s.inbox.put(data)
            else:
                self.send(A_CLSE, arg1, arg0)
        elif cmd == A_CLSE:
            s = self.streams.get(arg1)
            if s:
                s.close(by_host=True)


def run_service(handler, stream, service):
    try:
        handler(stream, service)
    except EOFError:
        pass
    except Exception as e:  # a bug here must not pass for a device answer
        print(f"adbd-standin: {service!r}: {e!r}", file=sys.stderr)
    finally:
        try:
            stream.close()
        except EOFError:
            pass


# -- shell -----------------------------------------------------------------

def shell_service(stream, service):
    head, _, command = service.partition(":")
    opts = head.split(",")[1:]
    v2 = "v2" in opts
    dev = stream.conn.device
    sh = os.path.join(dev.root, "system/bin/sh")
    argv = [sh, "-c", command] if command else [sh]
    kw = {}
    if dev.demoted():
        kw = {"user": SHELL_UID, "group": SHELL_UID, "extra_groups": []}
    try:
        proc = subprocess.Popen(
            argv, cwd=dev.root, env=dev.env(), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if v2 else subprocess.STDOUT,
            start_new_session=True, **kw)
    except OSError as e:
        msg = f"adbd-standin: cannot start {sh}: {e}\n".encode()
        if not v2:
            return stream.write(msg)
        return stream.write(struct.pack("<BI", 2, len(msg)) + msg
                            + struct.pack("<BIB", 3, 1, 126))

    def hang_up(by_host):
        # adbd sends SIGHUP to the shell (not its group) when the host side
        # of the stream goes away.
        if by_host and proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGHUP)
            except ProcessLookupError:
                pass
    stream.on_close = hang_up
    dev.procs.add(proc)

    def packet(kind, data):
        return struct.pack("<BI", kind, len(data)) + data if v2 else data

    def pump(pipe, kind):
        try:
            while True:
                data = os.read(pipe.fileno(), 64 * 1024)
                if not data:
                    break
                stream.write(packet(kind, data))
        except (EOFError, OSError):
            # The stream is gone: close the pipe, as adbd does, so that a
            # command that goes on writing is not blocked on a full pipe.
            pipe.close()
    pumps = [threading.Thread(target=pump, args=(proc.stdout, 1), daemon=True)]
    if v2:
        pumps.append(threading.Thread(target=pump, args=(proc.stderr, 2),
                                      daemon=True))
    for t in pumps:
        t.start()
    threading.Thread(target=feed, args=(stream, proc, v2),
                     daemon=True).start()
    for t in pumps:
        t.join()
    rc = proc.wait()
    dev.procs.discard(proc)
    if rc < 0:
        rc = 128 - rc  # killed by a signal: 128 + its number, as adbd says
    if v2 and not stream.closed.is_set():
        stream.write(packet(3, bytes([rc & 0xFF])))


def feed(stream, proc, v2):
    """Host to the command's standard input."""
    def put(data):
        try:
            proc.stdin.write(data)
            proc.stdin.flush()
        except (OSError, ValueError):
            pass  # the command closed its input or ended: dropped, as adbd
    try:
        while True:
            if not v2:
                data = stream.read_some()
                if data is None:
                    break
                put(data)
                continue
            kind, length = struct.unpack("<BI", stream.read_exact(5))
            data = stream.read_exact(length)
            if kind == 0:
                put(data)
            elif kind == 4:
                break
            # 5 (window size) means nothing without a terminal.
    except EOFError:
        pass
    try:
        proc.stdin.close()
    except OSError:
        pass


# -- sync ------------------------------------------------------------------

def sync_service(stream, service):
    dev = stream.conn.device
    while True:
        try:
            ident, length = struct.unpack("<4sI", stream.read_exact(8))
        except EOFError:
            return
        if ident == b"QUIT":
            return
        if length > 1024:
            return fail(stream, "path too long")
        path = stream.read_exact(length).decode(errors="surrogateescape")
        if ident == b"STAT":
            try:
                st = os.stat(path)
                stream.write(struct.pack("<4s3I", b"STAT", st.st_mode,
                                         st.st_size & 0xFFFFFFFF,
                                         int(st.st_mtime)))
            except OSError:
                stream.write(struct.pack("<4s3I", b"STAT", 0, 0, 0))
        elif ident in (b"STA2", b"LST2"):
            stream.write(stat_v2(ident, path))
        elif ident == b"LIST":
            list_dir(stream, path)
        elif ident == b"SEND":
            if not receive_file(stream, dev, path):
                return
        elif ident == b"RECV":
            if not send_file(stream, path):
                return
        else:
            return fail(stream, f"unknown sync request {ident!r}")


def fail(stream, msg):
    data = msg.encode()
    stream.write(struct.pack("<4sI", b"FAIL", len(data)) + data)
    return False


def stat_v2(ident, path):
    try:
        st = os.stat(path) if ident == b"STA2" else os.lstat(path)
    except OSError as e:
        return struct.pack("<4sI", ident, e.errno) + bytes(64)
    return struct.pack("<4sIQQIIIIQqqq", ident, 0, st.st_dev, st.st_ino,
                       st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
                       st.st_size, int(st.st_atime), int(st.st_mtime),
                       int(st.st_ctime))


def list_dir(stream, path):
    try:
        names = sorted(os.listdir(path)) + [".", ".."]
    except OSError:
        names = []
    for name in names:
        try:
            st = os.lstat(os.path.join(path, name))
        except OSError:
            continue
        raw = name.encode(errors="surrogateescape")
        stream.write(struct.pack("<4s4I", b"DENT", st.st_mode,
                                 st.st_size & 0xFFFFFFFF, int(st.st_mtime),
                                 len(raw)) + raw)
    stream.write(struct.pack("<4s4I", b"DONE", 0, 0, 0, 0))


def receive_file(stream, dev, spec):
    """SEND `path,mode`, then DATA chunks and DONE with the mtime. The file
    appears whole or not at all (a temporary file, renamed at DONE)."""
    path, _, mode = spec.rpartition(",")
    if not path:
        path, mode = spec, "0644"
    mode = int(mode) & 0o7777
    tmp = f"{path}.adbd-standin.{os.getpid()}"
    out, error = None, None
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        out = open(tmp, "wb")
    except OSError as e:
        error = str(e)
    try:
        while True:
            ident, length = struct.unpack("<4sI", stream.read_exact(8))
            if ident == b"DONE":
                break
            if ident != b"DATA" or length > SYNC_DATA_MAX:
                return fail(stream, f"bad sync data: {ident!r} {length}")
            data = stream.read_exact(length)
            if out:
                out.write(data)
        if not out:
            return fail(stream, f"cannot write {path}: {error}")
        out.close()
        os.chmod(tmp, mode)
        if dev.demoted():
            os.chown(tmp, SHELL_UID, SHELL_UID)
        os.utime(tmp, (length, length))  # DONE's length is the mtime
        os.replace(tmp, path)
    finally:
        if out:
            out.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    stream.write(struct.pack("<4sI", b"OKAY", 0))
    return True


def send_file(stream, path):
    try:
        f = open(path, "rb")
    except OSError as e:
        return fail(stream, f"open failed: {e.strerror}")
    with f:
        while True:
            data = f.read(SYNC_DATA_MAX)
            if not data:
                break
            stream.write(struct.pack("<4sI", b"DATA", len(data)) + data)
    stream.write(struct.pack("<4sI", b"DONE", 0))
    return True


# -- Android's userland ----------------------------------------------------

def write_exec(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


# mksh scripts (D is ROOT/data/standin). Like Android's, `settings` prints
# `null` for a key that was never set.
SHIMS = {
    "getprop": """\
if [ $# -eq 0 ]; then
    while IFS== read -r k v; do echo "[$k]: [$v]"; done < "$D/props"
    exit 0
fi
while IFS== read -r k v; do
    if [ "$k" = "$1" ]; then echo "$v"; exit 0; fi
done < "$D/props"
echo "${2:-}"
""",
    "settings": """\
usage() { echo "usage: settings get|put|delete global KEY [VALUE]" >&2; exit 1; }
[ $# -ge 3 ] && [ "$2" = global ] || usage
F="$D/settings/global/$3"
case "$1" in
get) if [ -f "$F" ]; then cat "$F"; else echo null; fi ;;
put) [ $# -eq 4 ] || usage
     echo "$4" > "$F" && echo "put $3 $4" >> "$D/settings.log" ;;
delete) rm -f "$F"; echo "delete $3" >> "$D/settings.log"; echo "Deleted 1 rows" ;;
*) usage ;;
esac
""",
    "svc": """\
if [ "${1:-}" != power ] || [ "${2:-}" != stayon ]; then
    echo "svc: only \\`svc power stayon\\` here" >&2; exit 1
fi
case "${3:-}" in
true) v=7 ;; false) v=0 ;; usb) v=2 ;; ac) v=1 ;; wireless) v=4 ;;
*) echo "usage: svc power stayon [true|false|usb|ac|wireless]" >&2; exit 1 ;;
esac
settings put global stay_on_while_plugged_in "$v"
""",
    "getenforce": """\
cat "$D/selinux"
""",
}

# The su shim's code: hands its standard input, output and error to the
# stand-in (as MagiskSU's client does to its daemon), passes on signals and
# exits with the command's status.
SU_CLIENT = """\
import json, os, signal, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(SOCK)
except OSError as e:
    sys.stderr.write("su: cannot reach the su daemon: %s\\n" % e)
    sys.exit(1)
req = json.dumps({"argv": sys.argv, "cwd": os.getcwd(),
                  "env": dict(os.environ)}).encode() + b"\\n"
socket.send_fds(s, [req], [0, 1, 2])
def forward(n, _):
    try:
        s.sendall(b"sig %d\\n" % n)
    except OSError:
        pass
for n in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
    signal.signal(n, forward)
for line in s.makefile("rb"):
    if line.startswith(b"exit "):
        os._exit(int(line.split()[1]))
os._exit(1)
"""


def python_for_all():
    """A python3 the shell user can run (this one may live in root's home)."""
    for p in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        if os.access(p, os.X_OK):
            return p
    return sys.executable


def su_socket(dev):
    return os.path.join(dev.root, "dev/socket/standin_su")


def start_su_daemon(dev):
    path = su_socket(dev)
    if os.path.lexists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o666)
    srv.listen(16)

    def loop():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=su_session, args=(dev, conn),
                             daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


def uid_of(word, atoi):
    """A LOGIN or WHO: a name, or a number (`atoi`: leading digits, else 0,
    as AOSP's su reads it)."""
    names = {"root": 0, "shell": SHELL_UID}
    if word in names:
        return names[word]
    digits = ""
    for ch in word:
        if not ch.isdigit():
            break
        digits += ch
    if digits and (atoi or digits == word):
        return int(digits)
    return 0 if atoi else None


def su_magisk(args, sh):
    """MagiskSU: `su [options] [-] [LOGIN] [args...]`. Returns (argv, uid)
    or (None, (status, message))."""
    usage = ("usage: su [options] [-] [LOGIN] [--] [args...]\n"
             "  -c, --command COMMAND   pass COMMAND to the invoked shell\n")
    command, i = None, 0
    while i < len(args):
        a = args[i]
        if a in ("-c", "--command"):
            if i + 1 == len(args):
                return None, (2, usage)
            command, i = args[i + 1], i + 2
        elif a in ("-", "-l", "--login", "-p", "-m", "-mm", "-M",
                   "--preserve-environment", "--mount-master"):
            i += 1
        elif a in ("-h", "--help"):
            return None, (0, usage)
        elif a == "--":
            i += 1
            break
        elif a.startswith("-") and len(a) > 1:
            return None, (2, f"su: invalid option -- '{a.lstrip('-')}'\n"
                          + usage)
        else:
            break
    uid = 0
    if i < len(args):
        uid = uid_of(args[i], atoi=False)
        if uid is None:
            return None, (1, f"su: unknown user {args[i]}\n")
        i += 1
    argv = [sh] + (["-c", command] if command is not None else [])
    return argv + args[i:], uid


def su_aosp(args, path, caller):
    """AOSP's userdebug su: `su [WHO [COMMAND...]]`, COMMAND run as is."""
    if caller not in (0, SHELL_UID):
        return None, (1, "su: not allowed\n")
    if args and args[0] in ("-h", "--help"):
        return None, (0, "usage: su [WHO [COMMAND...]]\n")
    uid = uid_of(args[0], atoi=True) if args else 0
    rest = args[1:]
    if not rest:
        return [os.path.join(path.split(":")[0], "sh"), "-"], uid
    prog = shutil.which(rest[0], path=path) if "/" not in rest[0] else (
        rest[0] if os.access(rest[0], os.X_OK) else None)
    if prog is None:
        return None, (1, f"su: failed to exec {rest[0]}: "
                      "No such file or directory\n")
    return [prog] + rest[1:], uid


def su_session(dev, conn):
    fds = []
    try:
        msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        while not msg.endswith(b"\n"):
            more = conn.recv(1 << 20)
            if not more:
                return
            msg += more
        req = json.loads(msg)
        caller = struct.unpack("3i", conn.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
        env = req["env"]
        sh = os.path.join(dev.root, "system/bin/sh")
        if dev.args.su == "magisk":
            argv, uid = su_magisk(req["argv"][1:], sh)
        else:
            argv, uid = su_aosp(req["argv"][1:], env.get("PATH", ""), caller)
        if argv is None:
            status, text = uid
            os.write(fds[2], text.encode())
            conn.sendall(b"exit %d\n" % status)
            return
        kw = {}
        if os.geteuid() == 0 and uid != 0:
            kw = {"user": uid, "group": uid, "extra_groups": []}
        env = dict(env, USER="root" if uid == 0 else "shell")
        env["LOGNAME"] = env["USER"]
        proc = subprocess.Popen(argv, stdin=fds[0], stdout=fds[1],
                                stderr=fds[2], cwd=req["cwd"], env=env,
                                start_new_session=True, **kw)
        for fd in fds:
            os.close(fd)
        fds = []
        dev.procs.add(proc)

        def signals():
            # The shim's signals reach the command; the shim gone (killed,
            # or its shell hung up) hangs the command up.
            for line in conn.makefile("rb"):
                if line.startswith(b"sig ") and proc.poll() is None:
                    try:
                        os.kill(proc.pid, int(line.split()[1]))
                    except ProcessLookupError:
                        pass
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGHUP)
                except ProcessLookupError:
                    pass
        threading.Thread(target=signals, daemon=True).start()
        rc = proc.wait()
        dev.procs.discard(proc)
        conn.sendall(b"exit %d\n" % (128 - rc if rc < 0 else rc))
    except (OSError, ValueError, KeyError) as e:
        print(f"adbd-standin: su: {e!r}", file=sys.stderr)
    finally:
        for fd in fds:
            os.close(fd)
        conn.close()


# -- root ------------------------------------------------------------------

def root_service(stream, service):
    dev = stream.conn.device
    if dev.build != "userdebug":
        stream.write(b"adbd cannot run as root in production builds\n")
        return
    if dev.rooted:
        stream.write(b"adbd is already running as root\n")
        return
    stream.write(b"restarting adbd as root\n")
    dev.rooted = True
    stream.close()
    # adbd exits and comes back as root: the connection drops, adb's server
    # connects again (a device from `adb connect` is reconnected).
    time.sleep(0.2)
    stream.conn.drop()


# `exec:` (adb exec-out) is adbd's raw shell without the protocol.
SERVICES = {"shell": shell_service, "exec": shell_service,
            "sync": sync_service, "root": root_service}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root")
    p.add_argument("--build", choices=("user", "userdebug"),
                   default="userdebug")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--idle", type=float, default=300)
    p.add_argument("--extra", action="append", default=[],
                   metavar="NAME=PATH")
    p.add_argument("--drop-after-bytes", type=int, default=0)
    p.add_argument("--drop-after-seconds", type=float, default=0)
    p.add_argument("--offline-s", type=float, default=0)
    p.add_argument("--drop-count", type=int, default=-1)
    p.add_argument("--auth", choices=("none", "accept", "refuse"),
                   default="none")
    p.add_argument("--su", choices=("none", "magisk", "aosp"),
                   default="none")
    p.add_argument("--selinux", choices=("Enforcing", "Permissive"),
                   default="Enforcing")
    p.add_argument("--settings", action="append", default=[],
                   metavar="KEY=VALUE")
    args = p.parse_args()
    dev = Device(args)
    parent = os.getppid()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(8)
    srv.settimeout(1.0)
    print(srv.getsockname()[1], flush=True)

    def serve(sock):
        with dev.lock:
            dev.active += 1
        conn = Connection(dev, sock)
        dev.conns.add(conn)
        try:
            conn.serve()
        finally:
            dev.conns.discard(conn)
            with dev.lock:
                dev.active -= 1
                dev.last_seen = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # A stand-in started with SIGHUP ignored (under `nohup`, or by a CI
    # runner that ignores it) would pass that on to every shell it starts,
    # and a hung-up shell would live on, unlike on a phone, where adbd's
    # shells take SIGHUP's default. A handler, unlike an ignored signal, is
    # reset to the default in the programs it starts.
    signal.signal(signal.SIGHUP, lambda *_: None)
    # SIGUSR1: every connection drops now, as when a cable is pulled.
    signal.signal(signal.SIGUSR1, lambda *_: [
        c.drop(offline=True) for c in list(dev.conns)])
    try:
        accept(srv, dev, parent, serve)
    finally:
        # Nothing the "device" ran outlives the stand-in: its shells' groups
        # are hung up.
        for proc in list(dev.procs):
            try:
                os.killpg(proc.pid, signal.SIGHUP)
            except ProcessLookupError:
                pass


def accept(srv, dev, parent, serve):
    while True:
        if os.getppid() != parent:
            return  # the parent died
        with dev.lock:
            if (not dev.active
                    and time.monotonic() - dev.last_seen > dev.args.idle):
                return
        try:
            sock, _ = srv.accept()
        except socket.timeout:
            continue
        if time.monotonic() < dev.offline_until:
            sock.close()
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main()
