"""Integration harness: a throwaway PostgreSQL, the real shelfcast binary, real HTTP.

Everything here talks to real processes: PostgreSQL started from its own
binaries in a temporary directory (Unix socket only), `shelfcast serve`
started as a subprocess, requests over TCP.  Every reply can be checked
against openapi.yaml (see contract.py).
"""
import collections
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid

BINARY = os.environ.get("SHELFCAST_BIN", "")
# The binary runs under a sanitizer's allocator: resident-memory figures are not the program's own.
SANITIZED = os.environ.get("SHELFCAST_SANITIZED") == "1"
SOURCE_ROOT = os.environ.get("SHELFCAST_SOURCE_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class Failure(AssertionError):
    pass


class Skip(Exception):
    """Raised by a test that cannot run here, with the reason: a TAP SKIP, never counted as passed."""


def check(cond, message):
    if not cond:
        raise Failure(message)


def pg_bindir():
    env = os.environ.get("SHELFCAST_PG_BINDIR")
    if env:
        return env
    base = "/usr/lib/postgresql"
    versions = sorted((int(v) for v in os.listdir(base) if v.isdigit()), reverse=True) if os.path.isdir(base) else []
    for v in versions:
        d = os.path.join(base, str(v), "bin")
        if os.path.exists(os.path.join(d, "postgres")):
            return d
    raise Failure("no PostgreSQL server binaries found")


def unprivileged():
    """(uid, gid) to run PostgreSQL as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    raise Failure("running as root and no unprivileged user for PostgreSQL")


def dbname(url):
    """The database name in a postgresql:///NAME?... URL."""
    return url.split("///")[1].split("?")[0]


def safetensors_bytes(tensors, metadata=None):
    """{name: (shape, flat floats)} as a safetensors file (F32, little endian), names in order."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        shape, flat = tensors[name]
        blob = struct.pack("<%df" % len(flat), *flat)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = metadata
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def safetensors_metadata(path):
    """The __metadata__ of the safetensors file at path (strings: the spec, metrics... as JSON text)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))["__metadata__"]


def temp_dir(prefix):
    d = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("SHELFCAST_TEST_TMP", "/tmp"))
    os.chmod(d, 0o755)
    return d


def wait_until(predicate, timeout=60.0, what="condition", every=0.02):
    """Return once predicate() is true; Failure naming `what` after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise Failure("timed out waiting for " + what)


def running_in(directory):
    """True while a process (zombies aside) has `directory` as its working directory: a postmaster
    and its children run in their data directory."""
    directory = os.path.realpath(directory)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/cwd" % entry) != directory:
                continue
            with open("/proc/%s/stat" % entry) as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    return True
        except OSError:
            continue
    return False


class Postgres:
    """A private cluster on a Unix socket in a temporary directory; with `port`, on 127.0.0.1:port too
    (for a client that cannot reach the socket, such as a container on the host's network)."""

    def __init__(self, port=None):
        self.port = port
        self.dir = temp_dir("sc-pg-")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        os.mkdir(self.data, 0o700)
        os.mkdir(self.sock, 0o755)
        self.user = unprivileged()
        if self.user:
            for p in (self.data, self.sock):
                os.chown(p, *self.user)
        self.bindir = pg_bindir()
        self.log = os.path.join(self.dir, "postgres.log")
        open(self.log, "w").close()
        if self.user:
            os.chown(self.log, *self.user)
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres",
                   "-A", "trust", "-N", "--locale=C", "-E", "UTF8"])
        self.proc = None
        self.start()

    def _kw(self):
        kw = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT, "cwd": "/"}
        if self.user:
            kw["user"], kw["group"] = self.user
            kw["extra_groups"] = []
        return kw

    def _run(self, argv):
        with open(self.log, "a") as log:
            kw = self._kw()
            kw["stdout"] = log
            subprocess.run(argv, check=True, **kw)

    def start(self):
        log = open(self.log, "a")
        kw = self._kw()
        kw["stdout"] = log
        listen = ["-c", "listen_addresses=127.0.0.1", "-p", str(self.port)] if self.port else ["-c", "listen_addresses="]
        self.proc = subprocess.Popen([os.path.join(self.bindir, "postgres"), "-D", self.data, "-k", self.sock] + listen +
                                     ["-c", "fsync=off", "-c", "max_connections=200"],
                                     start_new_session=True, **kw)
        log.close()
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.psql("postgres", "SELECT 1", check=False).returncode == 0:
                return
            if self.proc.poll() is not None:
                raise Failure("postgres exited: " + open(self.log).read()[-2000:])
            time.sleep(0.05)
        raise Failure("postgres did not start")

    def stop(self, mode="fast"):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal({"fast": signal.SIGINT, "immediate": signal.SIGQUIT, "smart": signal.SIGTERM}[mode])
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        """SIGKILL the postmaster; returns once its children (each in a session of its own) have noticed
        and exited: a backend still attached to the old shared memory would stop the next start."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            wait_until(lambda: not running_in(self.data), what="the killed postmaster's children to exit")
        self.proc = None

    def url(self, db):
        return "postgresql:///%s?host=%s&user=postgres%s" % (db, self.sock, "&port=%d" % self.port if self.port else "")

    def tcp_url(self, db):
        """The URL over TCP (only with `port`)."""
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, db)

    def _psql_argv(self, db, *options):
        port = ["-p", str(self.port)] if self.port else []
        return [os.path.join(self.bindir, "psql"), "-X", "-q"] + list(options) + ["-h", self.sock] + port + \
            ["-U", "postgres", "-d", db]

    def psql(self, db, sql, check=True):
        r = subprocess.run(self._psql_argv(db, "-A", "-t", "-v", "ON_ERROR_STOP=1") + ["-c", sql],
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            raise Failure("psql failed: %s\n%s" % (sql, r.stderr))
        return r

    def query(self, db, sql):
        return self.psql(db, sql).stdout.strip()

    def hold_lock(self, db, table):
        """A session that holds `table` ACCESS EXCLUSIVE (every reader of it waits) until it ends: its psql
        is returned, for the caller to end (COMMIT and close its input, or kill it; the database's death
        does not end the psql, which waits on its input)."""
        p = subprocess.Popen(self._psql_argv(db), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, text=True)
        try:
            p.stdin.write("BEGIN;\nLOCK TABLE %s IN ACCESS EXCLUSIVE MODE;\n" % table)
            p.stdin.flush()
            wait_until(lambda: p.poll() is not None or self.query(
                db, "SELECT count(*) FROM pg_locks WHERE relation = '%s'::regclass AND mode = 'AccessExclusiveLock' "
                "AND granted" % table) != "0", what="a lock on " + table)
            check(p.poll() is None, "the session meant to lock %s ended" % table)
        except BaseException:
            p.kill()
            p.wait()
            raise
        return p

    def new_database(self):
        name = "t_" + uuid.uuid4().hex[:12]
        self.psql("postgres", "CREATE DATABASE %s" % name)
        return name

    def close(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class Replica(Postgres):
    """A streaming replica of `primary` (pg_basebackup -R), on its own Unix socket."""

    def __init__(self, primary):
        self.port = None
        self.dir = temp_dir("sc-pgr-")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        os.mkdir(self.sock, 0o755)
        self.user = primary.user
        if self.user:
            os.chown(self.dir, *self.user)
            os.chown(self.sock, *self.user)
        self.bindir = primary.bindir
        self.log = os.path.join(self.dir, "postgres.log")
        open(self.log, "w").close()
        if self.user:
            os.chown(self.log, *self.user)
        self._run([os.path.join(self.bindir, "pg_basebackup"), "-D", self.data, "-R", "-X", "stream", "-c", "fast",
                   "-h", primary.sock, "-U", "postgres"])
        self.proc = None
        self.start()

    def promote(self):
        self._run([os.path.join(self.bindir, "pg_ctl"), "promote", "-w", "-D", self.data])


class PgBouncer:
    """Debian's pgbouncer in pool_mode = transaction in front of a Postgres, on a Unix socket."""

    def __init__(self, pg, pool_size=4):
        self.pg = pg
        self.dir = temp_dir("sc-pgb-")
        self.port = free_port()
        self.log = os.path.join(self.dir, "pgbouncer.log")
        conf = os.path.join(self.dir, "pgbouncer.ini")
        open(conf, "w").write(
            "[databases]\n* = host=%s user=postgres\n"
            "[pgbouncer]\nlisten_addr =\nlisten_port = %d\nunix_socket_dir = %s\n"
            "auth_type = trust\nauth_file = %s/users.txt\npool_mode = transaction\n"
            "default_pool_size = %d\nmax_client_conn = 500\nlogfile = %s\npidfile = %s/pgbouncer.pid\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            % (pg.sock, self.port, self.dir, self.dir, pool_size, self.log, self.dir))
        open(os.path.join(self.dir, "users.txt"), "w").write('"postgres" ""\n')
        if pg.user:
            for f in os.listdir(self.dir):
                os.chown(os.path.join(self.dir, f), *pg.user)
            os.chown(self.dir, *pg.user)
        kw = pg._kw()
        self.proc = subprocess.Popen(["pgbouncer", conf], start_new_session=True, **kw)
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(os.path.join(self.dir, ".s.PGSQL.%d" % self.port)):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise Failure("pgbouncer did not start: " + (open(self.log).read()[-2000:] if os.path.exists(self.log) else ""))

    def url(self, db):
        return "postgresql:///%s?host=%s&port=%d&user=postgres" % (db, self.dir, self.port)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def source_commit():
    """The checkout's HEAD as the build names it (12 hex digits), or None outside a git checkout."""
    r = subprocess.run(["git", "-C", SOURCE_ROOT, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tcp_sockets(port):
    """Loopback TCP sockets with `port` at one end, from /proc/net/tcp{,6}: (side, state, tx_queue, rx_queue),
    side "server" where `port` is the local end, "client" where it is the remote one; state 1 is
    ESTABLISHED, 10 LISTEN (whose rx_queue is the connections waiting to be accepted)."""
    out = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, remote = int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16)
            tx, rx = (int(x, 16) for x in f[4].split(":"))
            if local == port:
                out.append(("server", int(f[3], 16), tx, rx))
            elif remote == port:
                out.append(("client", int(f[3], 16), tx, rx))
    return out


def bytes_read(port, connections):
    """True once the server on `port` has accepted at least `connections` connections, none waits to be
    accepted, and every byte its clients sent has been read by it (nothing queued either way in the
    kernel): what a test means by "the server has read the requests"."""
    socks = tcp_sockets(port)
    listening = [rx for side, st, _, rx in socks if side == "server" and st == 10]
    served = [rx for side, st, _, rx in socks if side == "server" and st == 1]
    sending = [tx for side, st, tx, _ in socks if side == "client" and st == 1]
    return (not any(listening) and len(served) >= connections and not any(served) and not any(sending))


def run(args, timeout=600, env=None, input=None):
    """Run the shelfcast binary; returns CompletedProcess (text)."""
    e = dict(os.environ)
    e.pop("DATABASE_URL", None)
    if env:
        e.update(env)
    return subprocess.run([BINARY] + list(args), capture_output=True, text=True, timeout=timeout, env=e, input=input)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def parse_raw(data):
    """A raw HTTP/1.1 reply (bytes) as a Response, or None when it is not one."""
    if not data.startswith(b"HTTP/"):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:] if ":" in l]
    return Response(status, headers, body)


class Server:
    """`shelfcast serve` on a free port; stop() checks it exits 0 (sanitizer reports fail it)."""

    def __init__(self, db_url=None, data_dir=None, args=(), env=None, wait_ready=False, contract=None, wrap=()):
        """wrap: a command that execs the rest (e.g. ["prlimit", "--nofile=64:64"])."""
        self.port = free_port()
        self.contract = contract
        self.log_path = os.path.join(temp_dir("sc-log-"), "serve.log")
        argv = list(wrap) + [BINARY, "serve", "--listen", "127.0.0.1:%d" % self.port, "--drain", "10"]
        if db_url:
            argv += ["--db", db_url]
        if data_dir:
            argv += ["--data-dir", data_dir]
        argv += list(args)
        e = dict(os.environ)
        e.pop("DATABASE_URL", None)
        e.pop("SHELFCAST_LOG_LEVEL", None)  # the access log's lines are what wait_logged and warm read
        if env:
            e.update(env)
        self.args = list(args)
        self.replied = collections.Counter()  # the X-Request-Id of every reply had here (wait_logged)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        try:
            self._wait_up(wait_ready, list(args))
        except BaseException:  # not up: the caller never gets the server to stop, so it goes here
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            raise

    def _wait_up(self, wait_ready, args):
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Failure("serve exited %s: %s" % (self.proc.returncode, self.output()[-3000:]))
            try:
                r = self.get("/readyz" if wait_ready else "/healthz", validate=False)
                if r.status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise Failure("serve did not come up: " + self.output()[-3000:])
        if "--poll-interval" in args and args[args.index("--poll-interval") + 1] == "3600":
            # a test that polls once an hour waits for NOTIFY: say so now if the server is not listening,
            # not after a minute's wait for an activation
            self.wait_for(lambda: self.get("/healthz", validate=False).json()["notify"] == "listen", 60,
                          "the server to LISTEN (/healthz notify \"listen\")")

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def request(self, method, path, body=None, headers=None, validate=True, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        resp = Response(r.status, r.getheaders(), r.read())
        c.close()
        self._replied(resp)
        if validate and self.contract:
            self.contract.validate(method, path, resp)
        return resp

    def _replied(self, resp):
        rid = resp.header("X-Request-Id") if resp is not None else None
        if rid:
            self.replied[rid] += 1

    def wait_logged(self, timeout=60.0):
        """Wait until the access log holds a line for every reply had through this object.  The server
        counts a request in /metrics, then logs it, once libmicrohttpd reports it complete, which can be
        after the client has the reply: a scrape after this wait counts them all."""
        missing = []

        def logged():
            check(self.proc.poll() is None, "serve exited %s" % self.proc.returncode)
            seen = collections.Counter(re.findall(r'"id":"([A-Za-z0-9._:-]+)"', self.output()))
            missing[:] = [rid for rid, n in list(self.replied.items()) if seen[rid] < n]
            return not missing
        try:
            self.wait_for(logged, timeout, "the access log's line of every reply")
        except Failure as e:
            raise Failure("%s; none for %s" % (e, ", ".join(missing[:5])))

    def warm(self, body):
        """Answer a POST /v1/predict of `body` on each of the server's workers (its --threads), so that what each worker makes
        on its first request (parser scratch, its prediction log queue) is not counted as a later request's.
        Connections open at once get consecutive sockets and so reach every worker (one after another, each
        reuses the last one's socket number and worker); the access log says which worker answered."""
        check("--threads" in self.args, "warm: start the server with --threads (the default is one per core)")
        threads = int(self.args[self.args.index("--threads") + 1])
        conns = [http.client.HTTPConnection("127.0.0.1", self.port, timeout=30) for _ in range(4 * threads)]
        ids = ["warm-%s-%d" % (uuid.uuid4().hex[:8], i) for i in range(len(conns))]
        for c in conns:
            c.connect()
        for c, rid in zip(conns, ids):
            c.request("POST", "/v1/predict", body=json.dumps(body),
                      headers={"Content-Type": "application/json", "X-Request-Id": rid})
            r = c.getresponse()
            r.read()
            check(r.status == 200, "warm-up request %s: %d" % (rid, r.status))
        for c in conns:
            c.close()
        pattern = r'"id":"(?:%s)".*?"worker":(\d+)' % "|".join(ids)
        self.wait_for(lambda: len(re.findall(pattern, self.output())) == len(ids), what="the warm-up's log lines")
        workers = set(re.findall(pattern, self.output()))
        check(workers == {str(i) for i in range(threads)}, "the warm-up reached workers %r of %d" % (sorted(workers), threads))

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def predict(self, body, **kw):
        return self.post("/v1/predict", body, **kw)

    def raw(self, data, timeout=10, path="/v1/predict", method="POST"):
        """Send raw bytes on a fresh connection; the reply (validated against the contract) or None."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        out = b""
        try:
            s.sendall(data)
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                out += chunk
                head, sep, body = out.partition(b"\r\n\r\n")
                if sep:
                    m = re.search(rb"content-length: *(\d+)", head, re.I)
                    if m and len(body) >= int(m.group(1)):
                        break
        except OSError:
            pass
        finally:
            s.close()
        resp = parse_raw(out)
        self._replied(resp)
        if resp is not None and self.contract:
            self.contract.validate(method, path, resp)
        return resp

    def rss(self):
        """Resident memory of the server process, in bytes."""
        with open("/proc/%d/statm" % self.proc.pid) as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def wait_for(self, predicate, timeout=60.0, what="condition", every=0.02):
        wait_until(predicate, timeout, what, every)

    def stop(self, sig=signal.SIGTERM, expect_code=0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failure("serve did not stop within 60 s of %s" % sig)
        self.log.close()
        if expect_code is not None and self.proc.returncode != expect_code:
            raise Failure("serve exited %s (expected %s): %s" % (self.proc.returncode, expect_code, self.output()[-4000:]))
        return self.proc.returncode


def without_prediction_ids(x):
    """A reply body (bytes) or predictions (objects) with every prediction_id taken out: the
    ids are unique per prediction, so two replies with the same numbers differ only by them."""
    if isinstance(x, (bytes, bytearray)):
        return re.sub(rb'"prediction_id":"[0-9a-f-]{36}",', b"", bytes(x))
    if isinstance(x, list):
        return [without_prediction_ids(v) for v in x]
    if isinstance(x, dict):
        return {k: without_prediction_ids(v) for k, v in x.items() if k != "prediction_id"}
    return x


def demo_csv(rows=3000, seed=7):
    d = temp_dir("sc-data-")
    path = os.path.join(d, "demo.csv")
    r = run(["demo-data", "--rows", str(rows), "--seed", str(seed), "--out", path])
    check(r.returncode == 0, "demo-data failed: " + r.stderr)
    return path


def example(*parts):
    return os.path.join(SOURCE_ROOT, "examples", *parts)


def example_config(epochs=None, **changes):
    """examples/demo/dataset.json as a dict: model.epochs set (a shorter training), top-level keys changed."""
    with open(example("demo", "dataset.json")) as f:
        cfg = json.load(f)
    if epochs is not None:
        cfg["model"]["epochs"] = epochs
    cfg.update(changes)
    return cfg


def write_json(obj, path=None):
    """obj as JSON at path (default: dataset.json in a directory of its own); the path."""
    path = path or os.path.join(temp_dir("sc-json-"), "dataset.json")
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def train(db_url, data, config=None, extra=(), check_ok=True):
    r = run(["train", "--db", db_url, "--data", data, "--config", config or example("demo", "dataset.json")] + list(extra))
    if check_ok:
        check(r.returncode == 0, "train failed (%d): %s" % (r.returncode, r.stderr[-3000:]))
    return r
