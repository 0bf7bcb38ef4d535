#!/usr/bin/env python3
"""Count every test scripts/test ran from meson's testlog.json files.

Each TAP line "ok N" passes and "not ok N" fails; a plan ("1..N") that was
not reached counts its missing tests as failed (a crash mid-run), and a test
binary that failed after all its subtests passed (a sanitizer report at exit)
counts one failure more.  Non-TAP tests count once.
usage: summarize.py TESTLOG.json... ; prints "N passed, N failed" last.
"""
import json
import re
import sys


def count(entry):
    out = entry.get("stdout") or ""
    ok = len(re.findall(r"^ok \d+", out, re.M))
    bad = len(re.findall(r"^not ok \d+", out, re.M))
    plan = re.search(r"^1\.\.(\d+)", out, re.M)
    if not plan and ok + bad == 0:
        return (1, 0) if entry["result"] in ("OK", "EXPECTEDFAIL") else (0, 1)
    if plan and ok + bad < int(plan.group(1)):
        bad += int(plan.group(1)) - ok - bad
    if entry["result"] not in ("OK", "EXPECTEDFAIL") and bad == 0:
        bad = 1
    return ok, bad


def main():
    passed = failed = 0
    for path in sys.argv[1:]:
        try:
            lines = open(path).read().splitlines()
        except OSError:
            print("%s: missing (the run did not happen)" % path)
            failed += 1
            continue
        for line in lines:
            e = json.loads(line)
            ok, bad = count(e)
            passed += ok
            failed += bad
            if bad:
                print("FAILED: %s (%s)" % (e["name"], path))
    print("%d passed, %d failed" % (passed, failed))


if __name__ == "__main__":
    main()
