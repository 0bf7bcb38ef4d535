"""Golden replies: every route answers byte for byte what it answered when the corpus was recorded.

The corpus is tests/data/golden/ (its README.md describes the files): one directory per case,
NN_case_name/, replayed in name order against real `shelfcast serve` processes on a real
PostgreSQL.  Each reply is compared with the recorded one: the status, the headers (all but
Date and Content-Length, whose consistency with the body is checked instead; order aside), and
the body byte for byte, after normalize() has replaced the fields that differ from run to run
and nothing else.  Every reply is also checked against openapi.yaml, as in every other test.

The served models do not come from the trainer: they are fixed weights (tests/data/golden/
models/*.weights.json, every weight a multiple of 1/8) and specs, imported with `shelfcast
models import`.  The inputs the corpus sends encode to multiples of 1/16, so every product and
sum in the network is exact in float32: the replies do not depend on summation order, FMA or
the instruction set, only on the code under test.

Regenerating after a deliberate contract change:
    SHELFCAST_GOLDEN_UPDATE=1 python3 tests/integration/run.py build/shelfcast -k test_golden
rewrites every expected file from the current binary, then FAILS naming the files it changed
(so a run with the switch left on can never pass by accident).  Run it again without the
switch, and review `git diff tests/data/golden` before committing: every changed byte there is
a change of the API.
"""
import difflib
import json
import os
import re
import struct
import tempfile
import types

from harness import Failure, check, dbname, run, safetensors_bytes

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(SOURCE_ROOT, "tests", "data", "golden")
MODELS = os.path.join(CORPUS, "models")
UPDATE = os.environ.get("SHELFCAST_GOLDEN_UPDATE") == "1"
ADMIN_TOKEN = "golden-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e"

# The servers a case may name.  "main" and "plain" share one database (alpha and beta active,
# alpha version 2 staged); "empty" has a migrated database with no model.
SERVERS = {
    "main": ("models", ["--model", "alpha", "--admin-token", ADMIN_TOKEN, "--max-items", "5",
                        "--max-body", "2048", "--threads", "2"]),
    "plain": ("models", ["--threads", "2"]),
    "empty": ("empty", ["--threads", "2"]),
}

# Headers never compared: the clock, and the length (checked against the body instead).
SKIPPED_HEADERS = {"date", "content-length"}


# ---- volatile fields ---------------------------------------------------------------------

TIMESTAMP = re.compile(rb'"(created_at|activated_at|loaded_at)":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"')
UPTIME = re.compile(rb'"uptime_seconds":[0-9.eE+-]+')
# Prometheus sample lines: name, optional {labels} (values are quoted and may hold braces:
# route="/v1/models/{name}"), value.
SAMPLE = re.compile(rb'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (\S+)$')
# Families whose every value depends on timing, the process or how often the test polled
# before the corpus started (/healthz and /v1/models while waiting for the models): their
# values become <v>, their series (names and labels) are still compared.  Everything else in
# /metrics (items predicted, unknown categories, model info, loads, db_up) is compared exactly.
VOLATILE_FAMILIES = (
    b"shelfcast_http_requests_total",
    b"shelfcast_http_request_duration_seconds",
    b"process_",
    b"shelfcast_prediction_log_",
)
PREDICTION_ID = re.compile(rb'"prediction_id":"([^"]*)"')
UUID7 = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
BUILD_INFO = re.compile(rb'^shelfcast_build_info\{(.*)\} 1$')


def normalize_metrics(body):
    """Per line: volatile families' values -> <v>; shelfcast_build_info's commit and blas
    (the git commit, and the OpenBLAS build and the core it detected) -> <build>."""
    out = []
    for line in body.split(b"\n"):
        m = SAMPLE.match(line)
        if m and m.group(1).startswith(VOLATILE_FAMILIES):
            line = m.group(1) + (m.group(2) or b"") + b" <v>"
        b = BUILD_INFO.match(line)
        if b:
            line = re.sub(rb'(commit|blas)="[^"]*"', rb'\1="<build>"', line)
        out.append(line)
    return b"\n".join(out)


def normalize(case, headers, body):
    """The reply with what differs from run to run replaced; (headers dict, body bytes).

    - X-Request-Id: when the request sent none, the generated 32 hex digits become <generated>
      (checked to be 32 hex digits first); a sent one must come back as it was.
    - JSON bodies: created_at, activated_at, loaded_at timestamps -> <timestamp>;
      uptime_seconds -> <uptime>; each prediction_id (checked to be a UUIDv7 first, and
      distinct) -> <prediction_id>.
    - /metrics: see normalize_metrics.
    """
    h = {}
    for k, v in headers:
        if k.lower() in SKIPPED_HEADERS:
            continue
        if k.lower() == "x-request-id" and not any(x.lower() == "x-request-id" for x in case.headers):
            check(re.fullmatch(r"[0-9a-f]{32}", v), "%s: generated request id %r" % (case.name, v))
            v = "<generated>"
        check(k not in h, "%s: header %s twice" % (case.name, k))
        h[k] = v
    body = TIMESTAMP.sub(rb'"\1":"<timestamp>"', body)
    body = UPTIME.sub(b'"uptime_seconds":<uptime>', body)
    ids = PREDICTION_ID.findall(body)
    check(all(UUID7.fullmatch(i) for i in ids) and len(set(ids)) == len(ids),
          "%s: prediction ids %r" % (case.name, ids[:3]))
    body = PREDICTION_ID.sub(b'"prediction_id":"<prediction_id>"', body)
    if case.path.split("?")[0] == "/metrics" and case.method in ("GET", "HEAD"):
        body = normalize_metrics(body)
    return h, body


# ---- the corpus --------------------------------------------------------------------------

class Case:
    def __init__(self, name):
        self.name = name
        self.dir = os.path.join(CORPUS, name)
        with open(os.path.join(self.dir, "request.json")) as f:
            req = json.load(f)
        known = {"server", "method", "path", "headers", "body", "json", "body_file", "raw"}
        check(set(req) <= known, "%s/request.json: unknown keys %s" % (name, sorted(set(req) - known)))
        check(req.get("server", "main") in SERVERS, "%s: unknown server %r" % (name, req.get("server")))
        check(sum(k in req for k in ("body", "json", "body_file")) <= 1, "%s: more than one body" % name)
        self.server = req.get("server", "main")
        self.raw = req["raw"].encode("latin-1") if "raw" in req else None
        self.method = req.get("method", "GET")
        self.path = req.get("path", "/")
        if self.raw:
            self.method, self.path = self.raw.split(b"\r\n", 1)[0].decode().split(" ")[:2]
        self.headers = req.get("headers", {})
        self.body = None
        if "body" in req:
            self.body = req["body"].encode()
        elif "json" in req:
            self.body = json.dumps(req["json"]).encode()
        elif "body_file" in req:
            with open(os.path.join(self.dir, req["body_file"]), "rb") as f:
                self.body = f.read()

    def expected(self):
        """(expected.json as a dict, the expected body bytes) or (None, None) before recording."""
        path = os.path.join(self.dir, "expected.json")
        if not os.path.exists(path):
            return None, None
        with open(path) as f:
            exp = json.load(f)
        if "body_equals_file" in exp:
            # A route that serves a file of the source tree verbatim (openapi.yaml): the file is
            # the expectation, so changing it does not need a second copy here.
            with open(os.path.join(SOURCE_ROOT, exp["body_equals_file"]), "rb") as f:
                return exp, f.read()
        with open(os.path.join(self.dir, "expected.body"), "rb") as f:
            return exp, f.read()


def cases():
    names = sorted(n for n in os.listdir(CORPUS) if re.match(r"^\d\d_[a-z0-9_]+$", n))
    check(len(names) >= 40, "the golden corpus has only %d cases" % len(names))
    check(len({n[:2] for n in names}) == len(names), "two golden cases share a number")
    return [Case(n) for n in names]


# ---- fixed models ------------------------------------------------------------------------

def exact_tensors(weights):
    """{name: nested lists} as {name: (shape, flat)}, every value checked exact in float32."""
    tensors = {}
    for name, rows in weights.items():
        flat = [x for r in rows for x in r] if isinstance(rows[0], list) else list(rows)
        shape = [len(rows), len(rows[0])] if isinstance(rows[0], list) else [len(rows)]
        check(list(struct.unpack("<%df" % len(flat), struct.pack("<%df" % len(flat), *flat))) == flat,
              "%s: a weight is not exact in float32 (the corpus relies on exact arithmetic)" % name)
        tensors[name] = (shape, flat)
    return tensors


def import_model(url, name, activate, description=None):
    with open(os.path.join(MODELS, name + ".weights.json")) as f:
        weights = json.load(f)
    d = tempfile.mkdtemp(prefix="sc-golden-", dir=os.environ.get("SHELFCAST_TEST_TMP", "/tmp"))
    path = os.path.join(d, name + ".safetensors")
    with open(path, "wb") as f:
        f.write(safetensors_bytes(exact_tensors(weights)))
    args = ["models", "import", name, "--weights", path, "--spec", os.path.join(MODELS, name + ".spec.json"),
            "--db", url]
    if description:
        args += ["--description", description]
    if activate:
        args.append("--activate")
    r = run(args)
    os.remove(path)
    os.rmdir(d)
    check(r.returncode == 0, "models import %s: %s" % (name, r.stderr))


def models_database(ctx):
    """alpha v1 (active, with held-out metrics as a trainer would store them), alpha v2 (staged), beta v1 (active)."""
    url = ctx.db()
    import_model(url, "alpha", True, "golden alpha: revenue, log1p target")
    import_model(url, "alpha", False)
    import_model(url, "beta", True, "golden beta: profit, raw target")
    with open(os.path.join(MODELS, "alpha.metrics.json")) as f:
        metrics = json.dumps(json.load(f))
    db = dbname(url)
    ctx.pg.psql(db, "UPDATE shelfcast.model_versions SET metrics = '%s'::jsonb WHERE model = 'alpha' AND version = 1"
                % metrics.replace("'", "''"))
    return url


def settled(server, n_models):
    """The server has connected to its database, loaded n_models and read the catalog."""
    h = server.get("/healthz", validate=False).json()
    if h["database"] != "ok" or h["models_loaded"] != n_models:
        return False
    models = server.get("/v1/models", validate=False).json()["models"]
    return len(models) == n_models and all(m["status"] == "serving" and m["active_version"] for m in models)


def start_servers(ctx):
    dbs = {"models": models_database(ctx), "empty": ctx.db()}
    servers = {}
    for name, (db, args) in SERVERS.items():
        s = ctx.serve(db_url=dbs[db], args=args)
        n = 0 if db == "empty" else 2
        s.wait_for(lambda s=s, n=n: settled(s, n), 30, "server %s to load its models" % name)
        servers[name] = s
    return servers


# ---- replay ------------------------------------------------------------------------------

def send(server, case):
    if case.raw is not None:
        resp = server.raw(case.raw, method=case.method, path=case.path)
        check(resp is not None, "%s: no HTTP reply to the raw request" % case.name)
        return resp
    if case.path == "/metrics":
        # The request counters of a reply just sent are added when libmicrohttpd reports the
        # request complete, which can be after the client has the reply: wait for them.
        server.wait_logged()
    # contract.py reads every JSON reply's body, and a HEAD reply has none: not validated.
    return server.request(case.method, case.path, body=case.body, headers=case.headers,
                          validate=case.method != "HEAD")


def describe(exp_headers, got_headers, exp_body, got_body, exp_status, got_status):
    lines = []
    if exp_status != got_status:
        lines.append("status %s, recorded %s" % (got_status, exp_status))
    if exp_headers != got_headers:
        lines.append("headers %r, recorded %r" % (got_headers, exp_headers))
    if exp_body != got_body:
        diff = difflib.unified_diff(exp_body.decode("utf-8", "replace").splitlines(),
                                    got_body.decode("utf-8", "replace").splitlines(),
                                    "recorded", "now", lineterm="", n=1)
        lines.append("body differs:\n" + "\n".join(list(diff)[:30]))
    return "\n".join(lines)


def record(case, status, headers, body):
    """Write the case's expected files; True when they changed."""
    exp, old_body = case.expected()
    new = {"status": status, "headers": dict(sorted(headers.items()))}
    if exp and "body_equals_file" in exp:
        check(body == old_body, "%s: the reply is not %s" % (case.name, exp["body_equals_file"]))
        new["body_equals_file"] = exp["body_equals_file"]
    changed = exp != new or (old_body != body and "body_equals_file" not in new)
    with open(os.path.join(case.dir, "expected.json"), "w") as f:
        f.write(json.dumps(new, indent=2) + "\n")
    if "body_equals_file" not in new:
        with open(os.path.join(case.dir, "expected.body"), "wb") as f:
            f.write(body)
    return changed


def test_every_route_answers_its_recorded_reply(ctx):
    corpus = cases()
    servers = start_servers(ctx)
    failures, rewritten = [], []
    for case in corpus:
        resp = send(servers[case.server], case)
        length = resp.header("Content-Length")
        if length is not None and case.method != "HEAD":  # HEAD: the length of the GET's body
            check(int(length) == len(resp.body), "%s: Content-Length %s, body %d bytes" % (case.name, length, len(resp.body)))
        headers, body = normalize(case, resp.headers, resp.body)
        if UPDATE:
            if record(case, resp.status, headers, body):
                rewritten.append(case.name)
            continue
        exp, exp_body = case.expected()
        if exp is None:
            failures.append("%s: no expected.json (record it with SHELFCAST_GOLDEN_UPDATE=1)" % case.name)
            continue
        if (exp["status"], exp["headers"], exp_body) != (resp.status, headers, body):
            failures.append("%s (%s %s on %s):\n%s" % (case.name, case.method, case.path, case.server,
                                                     describe(exp["headers"], headers, exp_body, body,
                                                              exp["status"], resp.status)))
    for s in servers.values():
        s.stop()
    if rewritten:
        raise Failure("SHELFCAST_GOLDEN_UPDATE=1 rewrote %d case(s): %s%s; review git diff tests/data/golden "
                      "and run again without it" % (len(rewritten), ", ".join(rewritten[:10]),
                                                    ", ..." if len(rewritten) > 10 else ""))
    if failures:
        raise Failure("%d of %d golden replies differ:\n%s" % (len(failures), len(corpus), "\n\n".join(failures)))


def test_normalize_replaces_only_the_volatile_fields(ctx):
    """The normaliser is part of what the golden test claims: it must not hide a real difference."""
    case = types.SimpleNamespace(name="self-test", headers={}, method="GET", path="/v1/models")
    body = (b'{"loaded_at":"2026-11-30T06:00:00.123Z","created_at":"2026-11-30T06:00:00.000Z",'
            b'"activated_at":null,"uptime_seconds":12.345,"name":"created_at","version":1}')
    h, out = normalize(case, [("X-Request-Id", "0123456789abcdef0123456789abcdef"), ("Date", "x"),
                              ("Content-Type", "application/json")], body)
    check(h == {"X-Request-Id": "<generated>", "Content-Type": "application/json"}, "headers: %r" % h)
    check(out == b'{"loaded_at":"<timestamp>","created_at":"<timestamp>","activated_at":null,'
                 b'"uptime_seconds":<uptime>,"name":"created_at","version":1}', out)
    # A client's own request id is compared as it is.
    case.headers = {"X-Request-Id": "mine"}
    h, _ = normalize(case, [("X-Request-Id", "mine")], b"")
    check(h == {"X-Request-Id": "mine"}, "sent id: %r" % h)
    # /metrics: only the volatile families' values and the build's identity.
    case.path = "/metrics"
    text = (b'# HELP shelfcast_predicted_items_total x\n'
            b'shelfcast_predicted_items_total{model="alpha",version="1"} 7\n'
            b'shelfcast_http_requests_total{route="/healthz",status="200"} 31\n'
            b'shelfcast_http_requests_total{route="/v1/models/{name}",status="200"} 2\n'
            b'process_open_fds 12\n'
            b'shelfcast_build_info{version="0.1.0",commit="abc",blas="OpenBLAS 0.3.21 Haswell"} 1\n')
    _, out = normalize(case, [], text)
    check(out == (b'# HELP shelfcast_predicted_items_total x\n'
                  b'shelfcast_predicted_items_total{model="alpha",version="1"} 7\n'
                  b'shelfcast_http_requests_total{route="/healthz",status="200"} <v>\n'
                  b'shelfcast_http_requests_total{route="/v1/models/{name}",status="200"} <v>\n'
                  b'process_open_fds <v>\n'
                  b'shelfcast_build_info{version="0.1.0",commit="<build>",blas="<build>"} 1\n'), out)
