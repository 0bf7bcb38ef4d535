#!/usr/bin/env python3
"""The container image, built from the real Dockerfile and run against a real PostgreSQL.

usage: image.py BUILD_DIR      (scripts/test runs it with build-test; prints TAP)

No container registry is reachable where this runs, so the base image is made
here: `debootstrap --variant=minbase bookworm` from the Debian mirror the
machine's apt uses, slimmed as the official bookworm-slim is (no docs, man
pages or locales; empty apt lists) and imported as debian:bookworm-slim.  Its
tarball is cached as BUILD_DIR/container-cache/bookworm-minbase.tar (rebuilt
after 30 days or when removed).  Then Debian's buildah builds the Dockerfile
(--format docker, so HEALTHCHECK is kept; --isolation chroot; --network host;
--pull=never) and Debian's podman runs it (rootful, runc, the default ulimits
lowered to this process's hard limits) on the host's network, against a
PostgreSQL on 127.0.0.1.  Everything is stored in a private containers-storage
under BUILD_DIR/container-run, removed at the end: what stays is the cached
tarball.

Each step is one TAP test; the first failure ends the run (the steps not
reached count as failed).  A machine that cannot run containers at all (not
root, no namespaces, no chroot, no buildah/podman) gets one
"ok 1 - ... # SKIP reason", counted as skipped, never as passed.
"""
import collections
import glob
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import contract  # noqa: E402
import harness  # noqa: E402
from harness import SOURCE_ROOT, Failure, check  # noqa: E402

BASE = "docker.io/library/debian:bookworm-slim"
IMAGE = "localhost/shelfcast:test"
BASE_MAX_AGE = 30 * 86400
SLIM_EXCLUDES = """\
# as in the official debian:*-slim images (debuerreotype's slimify)
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
"""
STEPS = ["base image debian:bookworm-slim from debootstrap",
         "the Dockerfile builds (buildah, docker format)",
         "version in the container",
         "migrate in the container, over TCP to PostgreSQL",
         "serve in the container as uid 10001, /healthz 200",
         "the image's HEALTHCHECK command reports healthy",
         "train of the demo data in the container",
         "/readyz 200 and a /v1/predict",
         "SIGTERM: drained, exit 0",
         "what the run stored is removed (the cached base stays)"]


def sh(argv, timeout=600, check_ok=True, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check_ok and r.returncode != 0:
        raise Failure("%s exited %d: %s" % (" ".join(argv[:6]), r.returncode, (r.stderr or r.stdout)[-3000:]))
    return r


def cannot_run():
    """Why this machine cannot build or run containers at all, or None."""
    if os.geteuid() != 0:
        return "rootful podman and debootstrap need root"
    missing = [t for t in ("debootstrap", "buildah", "podman", "runc") if not shutil.which(t)]
    if missing:
        return "no %s here (scripts/deps test installs them)" % ", ".join(missing)
    r = sh(["unshare", "--mount", "--uts", "--ipc", "--pid", "--net", "--fork", "true"], check_ok=False)
    if r.returncode != 0:
        return "cannot create namespaces: %s" % r.stderr.strip()
    r = sh(["chroot", "/", "true"], check_ok=False)
    if r.returncode != 0:
        return "cannot chroot: %s" % r.stderr.strip()
    return None


def apt_sources():
    """[(uri, suite)] of the machine's deb entries (one-line and deb822 formats), in apt's order."""
    out = []
    files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")) + \
        sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
    for path in files:
        try:
            text = open(path).read()
        except OSError:
            continue
        if path.endswith(".sources"):
            for para in re.split(r"\n\s*\n", text):
                f = {}
                for line in para.splitlines():
                    m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
                    if m:
                        f[m.group(1).lower()] = m.group(2).split()
                if "deb" in f.get("types", []) and f.get("enabled", ["yes"]) != ["no"]:
                    out += [(u, s) for u in f.get("uris", []) for s in f.get("suites", [])]
        else:
            for line in text.splitlines():
                line = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(line) >= 3 and line[0] == "deb":
                    out.append((line[1], line[2]))
    return out


def debian_mirror():
    """(mirror, security mirror or None) for bookworm: SHELFCAST_DEBIAN_MIRROR, else the machine's apt sources."""
    sources = apt_sources()
    mirror = os.environ.get("SHELFCAST_DEBIAN_MIRROR") or next((u for u, s in sources if s == "bookworm"), None)
    security = next((u for u, s in sources if s == "bookworm-security"), None)
    check(mirror, "no Debian bookworm mirror in /etc/apt/sources.list{,.d}: set SHELFCAST_DEBIAN_MIRROR")
    return mirror.rstrip("/"), security and security.rstrip("/")


def unmount_under(path):
    """Lazily unmount whatever is mounted at or under path (a run or a debootstrap that died)."""
    path = os.path.realpath(path)
    points = [l.split()[1] for l in open("/proc/self/mounts")]
    for p in sorted((p for p in points if p == path or p.startswith(path + "/")), key=len, reverse=True):
        sh(["umount", "-l", p], check_ok=False)


def make_base(tarball, log):
    """debootstrap a minbase bookworm, slim it, and write its tarball (atomically)."""
    mirror, security = debian_mirror()
    root = tarball + ".rootfs"
    unmount_under(root)
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.time()
    with open(log, "w") as f:
        r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", root, mirror], stdout=f,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=1800)
    check(r.returncode == 0, "debootstrap from %s exited %d: %s" % (mirror, r.returncode, open(log).read()[-3000:]))
    os.makedirs(os.path.join(root, "etc/dpkg/dpkg.cfg.d"), exist_ok=True)
    open(os.path.join(root, "etc/dpkg/dpkg.cfg.d/docker"), "w").write(SLIM_EXCLUDES)
    lists = ["deb %s bookworm main" % mirror, "deb %s bookworm-updates main" % mirror]
    if security:
        lists.append("deb %s bookworm-security main" % security)
    open(os.path.join(root, "etc/apt/sources.list"), "w").write("\n".join(lists) + "\n")
    for pattern in ("usr/share/doc/*/*", "usr/share/man/*", "usr/share/groff/*", "usr/share/info/*",
                    "usr/share/lintian/*", "usr/share/linda/*", "usr/share/locale/*", "var/lib/apt/lists/*",
                    "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/log/*.log", "var/log/apt/*"):
        for p in glob.glob(os.path.join(root, pattern)):
            if pattern.startswith("usr/share/doc/") and os.path.basename(p) == "copyright":
                continue
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            elif os.path.lexists(p):  # not when reached through a symlinked directory already emptied
                os.unlink(p)
    sh(["tar", "-C", root, "--numeric-owner", "-cf", tarball + ".tmp", "."], timeout=600)
    os.rename(tarball + ".tmp", tarball)
    shutil.rmtree(root)
    return mirror, time.time() - t0


class Containers:
    """buildah and podman on a private storage (root, runroot) that reset() removes."""

    def __init__(self, top):
        self.top = top
        self.flags = ["--root", os.path.join(top, "root"), "--runroot", os.path.join(top, "run")]
        # containers/storage picks overlay where the file system allows it, else vfs (a full copy per layer)
        if os.environ.get("SHELFCAST_STORAGE_DRIVER"):
            self.flags += ["--storage-driver", os.environ["SHELFCAST_STORAGE_DRIVER"]]
        self.ulimits = {"nofile": min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1 << 20),
                        "nproc": min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 1 << 22)}

    @property
    def run_flags(self):
        return ["--runtime", "runc", "--network", "host"] + \
            [a for k, v in self.ulimits.items() for a in ("--ulimit", "%s=%d:%d" % (k, v, v))]

    def fit_ulimits(self, image):
        """Lower the ulimits until runc can set them: podman's defaults (nofile 1048576, nproc 4194304) and
        even this process's hard limits can be above what the runtime may set (without CAP_SYS_RESOURCE
        runc gets "error setting rlimit type 6: operation not permitted")."""
        names = {"6": "nproc", "7": "nofile"}
        for _ in range(24):
            r = self.podman("run", "--rm", "--no-healthcheck", *self.run_flags, image, "true", check_ok=False)
            if r.returncode == 0:
                return
            m = re.search(r"error setting rlimit type (\d+)", r.stderr)
            check(m and m.group(1) in names and self.ulimits[names[m.group(1)]] > 1024,
                  "podman run of the base image exited %d: %s" % (r.returncode, r.stderr[-2000:]))
            name = names[m.group(1)]
            self.ulimits[name] = 32768 if self.ulimits[name] > 32768 else self.ulimits[name] // 2
        raise Failure("no ulimits podman can set")

    def podman(self, *args, **kw):
        return sh(["podman"] + self.flags + list(args), **kw)

    def buildah(self, *args, **kw):
        return sh(["buildah"] + self.flags + list(args), **kw)

    def run(self, *args, **kw):
        """podman run --rm with the run flags: (args before the image..., image, command...)."""
        return self.podman("run", "--rm", "--no-healthcheck", *(self.run_flags + list(args)), **kw)

    def reset(self):
        if os.path.isdir(self.top):
            sh(["podman"] + self.flags + ["system", "reset", "--force"], check_ok=False, timeout=600)
            unmount_under(self.top)
            shutil.rmtree(self.top, ignore_errors=True)

    def stored_bytes(self):
        return int(sh(["du", "-sb", self.top]).stdout.split()[0]) if os.path.isdir(self.top) else 0


class Remote(harness.Server):
    """A server started elsewhere (here: in a container on the host's network), reached as harness.Server reaches
    its own: every reply checked against openapi.yaml."""

    def __init__(self, port, contract_):  # pylint: disable=super-init-not-called
        self.port, self.contract = port, contract_
        self.replied = collections.Counter()  # what Server.request notes (its log is the container's)


def wait_http(server, path, status, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = server.get(path)
            if last.status == status:
                return last
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise Failure("%s did not answer %d within %d s: %r" % (path, status, timeout,
                                                          getattr(last, "body", last)))


class Run:
    def __init__(self, build_dir):
        self.build = os.path.abspath(build_dir)
        self.cache = os.path.join(self.build, "container-cache")
        self.tarball = os.path.join(self.cache, "bookworm-minbase.tar")
        self.c = Containers(os.path.join(self.build, "container-run"))
        self.contract = contract.Contract(os.path.join(SOURCE_ROOT, "openapi.yaml"))
        self.pg = None
        self.port = harness.free_port()
        self.server = Remote(self.port, self.contract)
        self.env = []
        # what the image is built to report (--build-arg SHELFCAST_COMMIT; the context holds no .git)
        self.commit = harness.source_commit() or "unknown"

    def base(self):
        os.makedirs(self.cache, exist_ok=True)
        self.c.reset()  # a run that died left its storage behind
        fresh = os.path.exists(self.tarball) and time.time() - os.path.getmtime(self.tarball) < BASE_MAX_AGE
        if fresh:
            print("# base: cached %s (%.0f MB)" % (self.tarball, os.path.getsize(self.tarball) / 1e6))
        else:
            mirror, took = make_base(self.tarball, os.path.join(self.cache, "debootstrap.log"))
            print("# base: debootstrap --variant=minbase bookworm from %s in %.0f s (%.0f MB)"
                  % (mirror, took, os.path.getsize(self.tarball) / 1e6))
        self.c.podman("import", self.tarball, BASE)
        driver = self.c.podman("info", "--format", "{{.Store.GraphDriverName}}").stdout.strip()
        self.c.fit_ulimits(BASE)
        print("# storage driver: %s; ulimits: %s" % (driver, ", ".join("%s=%d" % kv for kv in self.c.ulimits.items())))

    def build_image(self):
        t0 = time.time()
        log = os.path.join(self.build, "container-build.log")
        with open(log, "w") as f:
            r = subprocess.run(["buildah"] + self.c.flags + ["bud", "--format", "docker", "--isolation", "chroot",
                                                             "--network", "host", "--pull=never", "--layers=false",
                                                             "--build-arg", "SHELFCAST_COMMIT=" + self.commit,
                                                             "-t", IMAGE, "-f", os.path.join(SOURCE_ROOT, "Dockerfile"),
                                                             SOURCE_ROOT],
                               stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=3600)
        took = time.time() - t0
        check(r.returncode == 0, "buildah bud exited %d (%s): %s" % (r.returncode, os.path.normpath(log),
                                                                      open(log).read()[-3000:]))
        info = json.loads(self.c.podman("image", "inspect", IMAGE).stdout)[0]
        base = json.loads(self.c.podman("image", "inspect", BASE).stdout)[0]
        print("# image %s: %.1f MB (%.1f MB over the base's %.1f MB), built in %.0f s"
              % (IMAGE, info["Size"] / 1e6, (info["Size"] - base["Size"]) / 1e6, base["Size"] / 1e6, took))
        cfg = info["Config"]
        check(cfg.get("User") == "10001:10001", "image user %r" % cfg.get("User"))
        hc = info.get("Healthcheck") or cfg.get("Healthcheck") or {}
        check(hc.get("Test") == ["CMD", "/usr/local/bin/shelfcast", "healthcheck"],
              "the image's HEALTHCHECK was not kept: %r" % hc)
        self.health_cmd = hc["Test"][1:]

    def version(self):
        r = self.c.run(IMAGE, "version")
        first = r.stdout.splitlines()[0] if r.stdout else ""
        check(re.match(r"^shelfcast \S+ \(commit %s, release build, schema \d+\)$" % re.escape(self.commit), first),
              "version printed %r (built with SHELFCAST_COMMIT=%s)" % (r.stdout, self.commit))
        print("# " + first)

    def migrate(self):
        self.pg = harness.Postgres(port=harness.free_port())
        db = self.pg.new_database()
        self.db = db
        self.env = ["-e", "DATABASE_URL=" + self.pg.tcp_url(db)]
        self.c.run(*self.env, IMAGE, "migrate")  # a non-zero exit fails here (check_ok)
        tables = self.pg.query(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'shelfcast'")
        check(int(tables) > 0, "migrate created no table")
        print("# migrate over %s: %d tables in schema shelfcast" % (self.pg.tcp_url(db), int(tables)))

    def serve(self):
        # the test runs the image's HEALTHCHECK itself (podman healthcheck run): no systemd timer for it,
        # which a machine without systemd as init cannot start
        self.c.podman("run", "-d", "--name", "sc-serve", "--health-interval", "disable", *(self.c.run_flags + self.env),
                      "-e", "SHELFCAST_LISTEN=127.0.0.1:%d" % self.port, IMAGE, "serve", "--drain", "10")
        try:
            wait_http(self.server, "/healthz", 200, 60)
        except Failure as e:
            raise Failure("%s; log: %s" % (e, self.logs()[-3000:]))
        pid = self.c.podman("inspect", "--format", "{{.State.Pid}}", "sc-serve").stdout.strip()
        uids = [l for l in open("/proc/%s/status" % pid) if l.startswith("Uid:")][0].split()[1:]
        check(uids == ["10001"] * 4, "serve runs as uids %r" % uids)
        r = self.server.get("/readyz")
        check(r.status == 503, "/readyz before any model: %d" % r.status)
        print("# serve: host pid %s, uid %s, on 127.0.0.1:%d; /readyz 503 before any model" % (pid, uids[0], self.port))

    def logs(self):
        r = self.c.podman("logs", "sc-serve", check_ok=False)
        return r.stdout + r.stderr

    def healthcheck(self):
        r = self.c.podman("healthcheck", "run", "sc-serve", check_ok=False)
        check(r.returncode == 0, "podman healthcheck run exited %d: %s" % (r.returncode, r.stdout + r.stderr))
        r = self.c.podman("exec", "sc-serve", *self.health_cmd)
        check(r.stdout.strip() == "ok", "%s printed %r" % (" ".join(self.health_cmd), r.stdout))

    def train(self):
        t0 = time.time()
        r = self.c.run(*self.env, "--entrypoint", "/bin/sh", IMAGE, "-c",
                       "cd /tmp && shelfcast demo-data --rows 3000 --seed 7 --out demo.csv && "
                       "shelfcast train --data demo.csv --config /usr/share/shelfcast/examples/demo/dataset.json "
                       "--activate", timeout=1200)
        last = (r.stdout + r.stderr).strip().splitlines()[-1:]
        check(last and "registered demo version 1 (active)" in last[0], "train printed %r" % (r.stdout + r.stderr)[-2000:])
        print("# %s (%.1f s for demo-data and train)" % (last[0], time.time() - t0))

    def predict(self):
        wait_http(self.server, "/readyz", 200, 30)
        r = self.server.predict({"items": [{"features": {"brand": "Acme", "category": "snacks", "price": 2.5}}]})
        check(r.status == 200, "/v1/predict: %d %r" % (r.status, r.body))
        body = r.json()
        print("# /v1/predict: model %s version %s, %d predictions"
              % (body["model"]["name"], body["model"]["version"], len(body["predictions"])))

    def sigterm(self):
        self.c.podman("kill", "--signal", "TERM", "sc-serve")
        t0 = time.time()
        code = self.c.podman("wait", "sc-serve", timeout=60).stdout.strip()
        log = self.logs()
        check(code == "0", "serve exited %s after SIGTERM: %s" % (code, log[-3000:]))
        check("draining" in log and "stopped" in log, "no drain in the log: %s" % log[-3000:])
        print("# SIGTERM: drained and exited 0 in %.1f s" % (time.time() - t0))

    def cleanup(self):
        if self.pg:
            self.pg.close()
            self.pg = None
        stored = self.c.stored_bytes()
        self.c.reset()
        check(not os.path.exists(self.c.top), "%s is still there" % self.c.top)
        check(os.path.exists(self.tarball), "the cached base %s is gone" % self.tarball)
        print("# removed %.0f MB of container storage; kept the base (%.0f MB)"
              % (stored / 1e6, os.path.getsize(self.tarball) / 1e6))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: image.py BUILD_DIR")
    why = cannot_run()
    if why:
        print("1..1\nok 1 - container image # SKIP %s" % why, flush=True)
        return 0
    run = Run(sys.argv[1])
    steps = [run.base, run.build_image, run.version, run.migrate, run.serve, run.healthcheck, run.train,
             run.predict, run.sigterm, run.cleanup]
    print("1..%d" % len(steps), flush=True)
    t0 = time.time()
    for i, (name, step) in enumerate(zip(STEPS, steps), 1):
        t = time.time()
        try:
            step()
            print("ok %d - %s # %.1fs" % (i, name, time.time() - t), flush=True)
        except Exception as e:  # noqa: BLE001 — reported, then the steps not reached count as failed
            print("not ok %d - %s" % (i, name), flush=True)
            for line in ("%s: %s" % (type(e).__name__, e)).splitlines()[-40:]:
                print("# " + line, flush=True)
            if step != run.cleanup:
                try:
                    run.cleanup()
                except Exception as e2:  # noqa: BLE001
                    print("# cleanup: %s" % e2, flush=True)
            return 1
    print("# container image check: %.0f s in all" % (time.time() - t0), flush=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
