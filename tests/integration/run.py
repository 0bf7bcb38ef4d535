#!/usr/bin/env python3
"""TAP runner for the integration suite.

usage: run.py SHELFCAST_BINARY [-k SUBSTRING]

Starts one PostgreSQL for the whole run (tests that stop or kill PostgreSQL
start their own), discovers test_* functions in test_*.py, runs each with a
fresh database and prints TAP: "ok N - name" / "not ok N - name", and
"ok N - name # SKIP reason" for a test that raised harness.Skip (it cannot run
here: counted as skipped, not passed). Ends with "# N passed, N failed, N skipped".
"""
import importlib
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: run.py SHELFCAST_BINARY [-k SUBSTRING]")
    os.environ["SHELFCAST_BIN"] = os.path.abspath(args[0])
    only = args[args.index("-k") + 1] if "-k" in args else os.environ.get("SHELFCAST_TEST_FILTER")
    import harness
    import contract
    harness.BINARY = os.environ["SHELFCAST_BIN"]

    tests = []
    for name in sorted(os.listdir(HERE)):
        if name.startswith("test_") and name.endswith(".py"):
            mod = importlib.import_module(name[:-3])
            for attr in sorted(dir(mod), key=lambda a: getattr(getattr(mod, a), "__code__", None) and getattr(mod, a).__code__.co_firstlineno or 0):
                fn = getattr(mod, attr)
                if attr.startswith("test_") and callable(fn):
                    full = "%s.%s" % (name[:-3], attr)
                    if not only or only in full:
                        tests.append((full, fn))
    print("1..%d" % len(tests), flush=True)
    ctx = Context(harness, contract)
    passed = failed = skipped = 0
    try:
        for i, (name, fn) in enumerate(tests, 1):
            t0 = time.time()
            try:
                fn(ctx)
                passed += 1
                print("ok %d - %s # %.1fs" % (i, name, time.time() - t0), flush=True)
            except harness.Skip as e:
                skipped += 1
                print("ok %d - %s # SKIP %s" % (i, name, e), flush=True)
            except Exception as e:  # noqa: BLE001 — every failure is reported, the run goes on
                failed += 1
                print("not ok %d - %s" % (i, name), flush=True)
                for line in ("%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())).splitlines()[-40:]:
                    print("# " + line, flush=True)
            finally:
                ctx.cleanup()
    finally:
        ctx.close()
    print("# %d replies checked against openapi.yaml" % ctx.contract.checked, flush=True)
    print("# %d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    sys.exit(1 if failed else 0)


class Context:
    """What a test gets: the shared PostgreSQL, the contract, and cleanup of what it starts."""

    def __init__(self, harness, contract):
        self.h = harness
        self.pg = harness.Postgres()
        self.contract = contract.Contract(os.path.join(harness.SOURCE_ROOT, "openapi.yaml"))
        self._servers = []
        self._clusters = []

    def db(self):
        """A fresh, migrated database URL."""
        url = self.pg.url(self.pg.new_database())
        r = self.h.run(["migrate", "--db", url])
        self.h.check(r.returncode == 0, "migrate failed: " + r.stderr)
        return url

    def serve(self, *args, **kw):
        kw.setdefault("contract", self.contract)
        s = self.h.Server(*args, **kw)
        self._servers.append(s)
        return s

    def postgres(self):
        p = self.h.Postgres()
        self._clusters.append(p)
        return p

    def cleanup(self):
        # SIGTERM first: a server that started an embedded cluster stops it on the way out
        # (a failed test must not leave postgres running); SIGKILL after 10 s.
        for s in self._servers:
            if s.proc.poll() is None:
                s.proc.terminate()
        for s in self._servers:
            try:
                s.proc.wait(10)
            except subprocess.TimeoutExpired:
                s.proc.kill()
                s.proc.wait()
        self._servers = []
        for p in self._clusters:
            p.close()
        self._clusters = []

    def close(self):
        self.cleanup()
        self.pg.close()


if __name__ == "__main__":
    main()
