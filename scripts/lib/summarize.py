#!/usr/bin/env python3
"""Count every test scripts/test ran from meson's testlog.json files.

Each TAP line "ok N" passes, "ok N ... # SKIP reason" is skipped (counted on a
line of its own, never as passed) and "not ok N" fails; a plan ("1..N") that was
not reached counts its missing tests as failed (a crash mid-run), and a test
binary that failed after all its subtests passed (a sanitizer report at exit)
counts one failure more.  Non-TAP tests count once.
Each failed TAP test is named again here, with the last lines of its report,
so that the end of a long CI log says what failed and why.
usage: summarize.py TESTLOG.json... ; prints "N passed, N failed" last.
"""
import json
import re
import sys


def count(entry):
    """(passed, failed, skipped) of one test's TAP output."""
    out = entry.get("stdout") or ""
    skip = len(re.findall(r"^ok \d+[^\n]*# SKIP\b", out, re.M | re.I))
    ok = len(re.findall(r"^ok \d+", out, re.M)) - skip
    bad = len(re.findall(r"^not ok \d+", out, re.M))
    plan = re.search(r"^1\.\.(\d+)", out, re.M)
    if not plan and ok + bad + skip == 0:
        if entry["result"] == "SKIP":
            return 0, 0, 1
        return (1, 0, 0) if entry["result"] in ("OK", "EXPECTEDFAIL") else (0, 1, 0)
    if plan and ok + bad + skip < int(plan.group(1)):
        bad += int(plan.group(1)) - ok - bad - skip
    if entry["result"] not in ("OK", "EXPECTEDFAIL", "SKIP") and bad == 0:
        bad = 1
    return ok, bad, skip


def failures(entry, keep=8):
    """Each "not ok" line of a TAP output with the comment lines after it: the first (the
    error) and the last `keep` (where it was raised)."""
    out = []
    lines = (entry.get("stdout") or "").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("not ok "):
            notes = []
            for after in lines[i + 1:]:
                if not after.startswith("#"):
                    break
                notes.append(after)
            out.append([line] + (notes if len(notes) <= keep + 1 else notes[:1] + ["# ..."] + notes[-keep:]))
    return out


def main():
    passed = failed = skipped = 0
    for path in sys.argv[1:]:
        try:
            lines = open(path).read().splitlines()
        except OSError:
            print("%s: missing (the run did not happen)" % path)
            failed += 1
            continue
        for line in lines:
            e = json.loads(line)
            ok, bad, skip = count(e)
            passed += ok
            failed += bad
            skipped += skip
            if bad:
                print("FAILED: %s (%s)" % (e["name"], path))
                for report in failures(e):
                    print("\n".join("  " + line for line in report))
    if skipped:
        print("%d skipped (could not run here: see the # SKIP lines)" % skipped)
    print("%d passed, %d failed" % (passed, failed))


if __name__ == "__main__":
    main()
