#!/usr/bin/python3
"""A small adbd stand-in: the device side of adb's wire protocol on a
loopback TCP port, for testing klo-spec's adb transport with the real `adb`
client and server (`adb connect 127.0.0.1:PORT`). Python 3 standard library
only.

    adbd_standin.py ROOT [--build user|userdebug] [--port N] [--idle S]
                         [--extra NAME=PATH ...] [--drop-after-bytes N]
                         [--drop-after-seconds S] [--offline-s S]
                         [--drop-count N] [--auth none|accept|refuse]

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

It stops by itself when its parent process ends, or when no host was
connected for --idle seconds (default 300). --drop-after-bytes and
--drop-after-seconds cut a connection (a device going offline) after that
much data (payload bytes, both ways) or time: the first --drop-count
connections (default: every one); SIGUSR1 cuts every connection at once.
--offline-s then refuses connections for that long.
"""

import argparse
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
        for spec in self.args.extra:
            name, _, path = spec.partition("=")
            links[name] = path
        for name, target in links.items():
            link = os.path.join(bin_, name)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(target, link)
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
