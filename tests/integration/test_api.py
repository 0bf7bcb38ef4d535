"""Issue 6: POST /v1/predict — the contract, every bad input, limits, metrics, request ids."""
import json
import os
import re
import shutil
import socket
import subprocess
import time

from harness import bytes_read, check, demo_csv, train

ITEM = {"id": "sku-1", "features": {"brand": "Acme", "category": "snacks", "price": 2.49, "weight_kg": 0.3}}


def served(ctx, *args, **kw):
    """A migrated database with the demo model active, and a server on it."""
    url = ctx.db()
    train(url, demo_csv(2000), extra=["--activate"])
    s = ctx.serve(db_url=url, wait_ready=True, args=args, **kw)
    return url, s


def test_predict_answers_the_contract(ctx):
    _, s = served(ctx)
    r = s.predict({"items": [ITEM, {"id": 2, "features": {"brand": "Zed", "category": "toys", "price": 20}, "promotion_level": 1}],
                   "include_levels": True})
    check(r.status == 200, "%d %r" % (r.status, r.body))
    body = r.json()
    check(body["model"]["name"] == "demo" and body["model"]["version"] == 1, body["model"])
    p = body["predictions"]
    check([x["id"] for x in p] == ["sku-1", 2], "order or ids: %r" % p)
    check(p[1]["promotion_level"] == 1 and p[1]["unknown"] == ["brand"], p[1])
    check(p[0]["promotion_level"] == p[0]["recommended_promotion_level"], p[0])
    check(len(p[0]["levels"]) == 4 and all("expected_revenue" in l for l in p[0]["levels"]), p[0]["levels"])
    # the reported numbers are those of the reported level
    lv = [l for l in p[1]["levels"] if l["level"] == 1][0]
    check(lv["predicted_sales"] == p[1]["predicted_sales"] and lv["exposure_probability"] == p[1]["exposure_probability"], "level numbers differ")
    # the recommendation maximizes expected revenue, ties to the lower level
    best = max(p[0]["levels"], key=lambda l: (l["expected_revenue"], -l["level"]))
    check(best["level"] == p[0]["recommended_promotion_level"], "recommended %r, best %r" % (p[0]["recommended_promotion_level"], best))
    r = s.predict({"items": [ITEM], "objective": "units", "include_levels": True})
    check(all("expected_units" in l for l in r.json()["predictions"][0]["levels"]), "units objective")
    check("levels" not in s.predict({"items": [ITEM]}).json()["predictions"][0], "levels without include_levels")


def test_every_bad_input_gets_its_status_and_the_error_shape(ctx):
    _, s = served(ctx, "--max-items", "10000")
    good = json.dumps({"items": [ITEM]})
    big_items = json.dumps({"items": [ITEM] * 10001})
    cases = [
        ("truncated JSON", good[:-5], 400, None),
        ("an array body", "[1, 2]", 422, None),
        ("a string body", '"items"', 422, None),
        ("duplicate keys", '{"items": [], "items": []}', 400, None),
        ("100-deep nested feature", json.dumps({"items": [{"features": {"brand": eval("[" * 100 + "]" * 100)}}]}), 422, "items[0].features.brand"),
        ("invalid UTF-8", b'{"items": [{"features": {"brand": "\xff\xfe"}}]}', 400, None),
        ("1e999", '{"items": [{"features": {"price": 1e999}}]}', 422, None),
        ("NaN token", '{"items": [{"features": {"price": NaN}}]}', 400, None),
        ("a string for a number", '{"items": [{"features": {"price": "2.49"}}]}', 422, "items[0].features.price"),
        ("level -1", '{"items": [{"features": {}, "promotion_level": -1}]}', 422, "items[0].promotion_level"),
        ("level 2.5", '{"items": [{"features": {}, "promotion_level": 2.5}]}', 422, "items[0].promotion_level"),
        ("level beyond the last", '{"items": [{"features": {}, "promotion_level": 4}]}', 422, "items[0].promotion_level"),
        ("empty items", '{"items": []}', 422, "items"),
        ("unknown top-level key", '{"items": [], "colour": 1}', 422, None),
        ("unknown objective", '{"objective": "fun", "items": [{"features": {}}]}', 422, "objective"),
        ("unknown model", '{"model": "nope", "items": [{"features": {}}]}', 404, "model"),
        ("10,001 items", big_items, 413, "items"),
    ]
    for name, body, status, field in cases:
        r = s.post("/v1/predict", body, headers={"Content-Type": "application/json"})
        check(r.status == status, "%s: %d (expected %d) %r" % (name, r.status, status, r.body[:300]))
        e = r.json()["error"]
        check(e["message"] and e["code"], name)
        if field:
            check(e.get("field") == field, "%s: field %r, expected %r" % (name, e.get("field"), field))
        if status == 400 and name != "invalid UTF-8":
            check("byte" in e["message"], "%s: no byte offset in %r" % (name, e["message"]))
        check(s.get("/healthz").status == 200, "server stopped answering after " + name)
    r = s.post("/v1/predict", good, headers={"Content-Type": "text/plain"})
    check(r.status == 415 and r.json()["error"]["code"] == "unsupported_media_type", "text/plain: %d" % r.status)
    r = s.get("/v1/predict")
    check(r.status == 405 and r.header("Allow") == "POST", "GET /v1/predict: %d %r" % (r.status, r.header("Allow")))
    r = s.post("/healthz", "{}")
    check(r.status == 405 and "GET" in r.header("Allow"), "POST /healthz: %d" % r.status)
    r = s.get("/nope")
    check(r.status == 404 and r.json()["error"]["code"] == "not_found", "unknown route: %d" % r.status)
    s.stop()


def test_body_limits_refuse_while_streaming(ctx):
    _, s = served(ctx, "--max-body", "1048576")
    # 2 MiB with a Content-Length: read and dropped (the client sees the answer), 413.
    two = b'{"items": [' + b" " * (2 * 1024 * 1024) + b"]}"
    r = s.post("/v1/predict", two, headers={"Content-Type": "application/json"})
    check(r.status == 413 and r.json()["error"]["code"] == "too_large", "2 MiB: %d" % r.status)
    check(s.predict({"items": [ITEM]}).status == 200, "after the 2 MiB body")
    # 100 MB announced: 413 after sending only the headers and a little.
    head = ("POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000000\r\n\r\n").encode()
    t0 = time.time()
    resp = s.raw(head + b"{" * 1000)
    # (only ~1 KB of the 100 MB is sent: an answer at all means it came before the body)
    check(resp is not None and resp.status == 413, "100 MB: %r" % resp)
    print("# 100 MB announced: refused in %.3f s" % (time.time() - t0))
    # A chunked upload without a length: read up to the cap, then 413 (or the connection is cut).
    chunk = b'{"items": [' + b" " * 60000
    data = head.replace(b"Content-Length: 100000000\r\n", b"Transfer-Encoding: chunked\r\n")
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    sock.sendall(data)
    sent, got = 0, b""
    try:
        while sent < 3 * 1024 * 1024:
            piece = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
            sock.sendall(piece)
            sent += len(chunk)
            chunk = b" " * 60000
        sock.sendall(b"0\r\n\r\n")
        got = sock.recv(65536)
    except OSError:
        pass
    finally:
        sock.close()
    reply = ctx.h.parse_raw(got)
    if reply is not None:
        ctx.contract.validate("POST", "/v1/predict", reply)
    check(got == b"" or (reply and reply.status == 413), "chunked over the cap: %r" % got[:200])
    # A small chunked upload is an ordinary request.
    body = json.dumps({"items": [ITEM]}).encode()
    data = head.replace(b"Content-Length: 100000000\r\n", b"Transfer-Encoding: chunked\r\nConnection: close\r\n")
    resp = s.raw(data + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    check(resp is not None and resp.status == 200, "small chunked upload: %r" % resp)
    check(s.get("/healthz").status == 200, "server alive")
    rss = int(open("/proc/%d/statm" % s.proc.pid).read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    check(rss < 400 * 1024 * 1024, "resident memory %d MB after the big bodies" % (rss >> 20))
    s.stop()


def test_request_id_is_echoed_or_generated_and_logged(ctx):
    _, s = served(ctx)
    r = s.predict({"items": [ITEM]}, headers={"X-Request-Id": "abc-123.x:y"})
    check(r.header("X-Request-Id") == "abc-123.x:y", "echo: %r" % r.header("X-Request-Id"))
    r = s.predict({"items": [ITEM]}, headers={"X-Request-Id": "bad id with spaces"})
    gen = r.header("X-Request-Id")
    check(gen and re.fullmatch(r"[0-9a-f]{32}", gen), "generated: %r" % gen)
    r2 = s.predict({"items": [ITEM]})
    check(r2.header("X-Request-Id") != gen, "ids repeat")
    s.stop()
    lines = [json.loads(l) for l in s.output().splitlines() if l.startswith("{")]
    line = [l for l in lines if l.get("id") == "abc-123.x:y"]
    check(line, "request id not in the access log")
    l = line[0]
    for k, v in (("method", "POST"), ("path", "/v1/predict"), ("status", 200), ("items", 1), ("model", "demo"), ("version", 1)):
        check(l.get(k) == v, "access log %s=%r, expected %r" % (k, l.get(k), v))
    check("duration_ms" in l and "ts" in l, "access log fields: %r" % l)


def test_metrics_are_clean_prometheus_text(ctx):
    _, s = served(ctx)
    s.predict({"items": [ITEM, {"features": {"brand": "Zed", "category": "toys"}}]})
    s.predict({"items": []})
    s.get("/nope")
    # a request is counted when its reply has gone out: a scrape right after may come first
    s.wait_logged()
    r = s.get("/metrics")
    check(r.status == 200 and r.header("Content-Type").startswith("text/plain"), "metrics: %d" % r.status)
    text = r.body.decode()
    for name in ("shelfcast_http_requests_total", "shelfcast_http_request_duration_seconds_bucket",
                 "shelfcast_predicted_items_total", "shelfcast_predict_items_per_request_bucket",
                 "shelfcast_unknown_categories_total", "shelfcast_model_info", "shelfcast_model_loads_total",
                 "shelfcast_model_load_failures_total", "shelfcast_db_up", "process_resident_memory_bytes",
                 "process_open_fds", "process_start_time_seconds", "shelfcast_build_info"):
        check(name in text, "metric %s missing" % name)
    check('shelfcast_predicted_items_total{model="demo",version="1"} 2' in text, "items by model and version")
    check('shelfcast_unknown_categories_total{model="demo",feature="brand"} 1' in text, "unknown by feature")
    check('shelfcast_model_info{model="demo",version="1"} 1' in text, "model info")
    check('route="/v1/predict",status="422"' in text and 'route="other",status="404"' in text, "requests by route and status")
    check("shelfcast_db_up 1" in text, "db up")
    promtool = shutil.which("promtool")
    check(promtool, "promtool is not installed (Debian package prometheus)")
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    check(p.returncode == 0, "promtool check metrics: %s%s" % (p.stdout, p.stderr))


def test_slow_and_idle_clients_are_closed_without_stopping_others(ctx):
    import selectors
    _, s = served(ctx, "--timeout", "2")
    opened = {}  # connection -> when the client last sent (the server's idle clock starts later)
    for _ in range(50):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        c.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        opened[c] = time.monotonic()
    for _ in range(50):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        opened[c] = time.monotonic()
    t0 = time.time()
    r = s.predict({"items": [ITEM]})
    check(r.status == 200, "a normal client among the slow ones: %d" % r.status)
    print("# a normal client among 100 slow or idle connections: answered in %.3f s" % (time.time() - t0))
    # every one is closed by the server (an end of stream or a reset), none long before its 2 s idle timeout
    # (1 s of slack: a timeout counted in whole seconds may fire early by up to one); up to 60 s for all
    waiting = selectors.DefaultSelector()
    for c in opened:
        waiting.register(c, selectors.EVENT_READ)
    lived = []
    deadline = time.monotonic() + 60
    while waiting.get_map() and time.monotonic() < deadline:
        for key, _ in waiting.select(timeout=max(0.0, deadline - time.monotonic())):
            c = key.fileobj
            try:
                ended = c.recv(1) == b""
            except OSError:
                ended = True  # reset by the server
            if ended:
                lived.append(time.monotonic() - opened[c])
                waiting.unregister(c)
    waiting.close()
    for c in opened:
        c.close()
    check(len(lived) == 100, "only %d of 100 slow or idle connections were closed within 60 s" % len(lived))
    check(min(lived) >= 1.0, "a connection was closed %.2f s after its last byte, before its 2 s timeout" % min(lived))
    check(s.get("/healthz").status == 200, "alive")


def test_sigterm_finishes_in_flight_requests(ctx):
    import http.client
    _, s = served(ctx)
    body = json.dumps({"items": [ITEM] * 5000})
    conns = []
    for _ in range(5):
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        c.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"})
        conns.append(c)
    # a sixth whose last byte comes after the signal: in flight across it, however fast the others are scored
    held = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    held.sendall(("POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: %d\r\n\r\n%s" % (len(body), body[:-1])).encode())
    # the signal comes once the server has accepted and read every byte sent
    s.wait_for(lambda: bytes_read(s.port, len(conns) + 1), 60, what="the server to read the six requests")
    s.proc.send_signal(15)
    held.sendall(body[-1:].encode())
    statuses = []
    for c in conns:
        try:
            statuses.append(c.getresponse().status)
        except OSError as e:
            statuses.append(repr(e))
        c.close()
    reply = b""
    try:
        while b"\r\n\r\n" not in reply:
            part = held.recv(65536)
            if not part:
                break
            reply += part
        statuses.append(int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else repr(reply[:80]))
    except OSError as e:
        statuses.append(repr(e))
    held.close()
    code = s.stop()
    check(code == 0, "exit %d" % code)
    check(all(x == 200 for x in statuses), "in-flight requests failed: %r" % statuses)
    # and the listening socket is gone
    try:
        socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
        check(False, "still accepting after exit")
    except OSError:
        pass


def test_access_log_names_an_error_and_obeys_the_log_level(ctx):
    url, s = served(ctx)
    bad = {"items": [{"id": "x", "features": {"brand": "Acme", "category": "snacks", "price": "abc"}}]}
    r = s.predict(bad, headers={"X-Request-Id": "bad-price-1"})
    check(r.status == 422, "bad price: %d" % r.status)
    check(s.predict({"items": [ITEM]}, headers={"X-Request-Id": "good-1"}).status == 200, "good request")

    def line(rid):
        for l in s.output().splitlines():
            if '"id":"%s"' % rid in l:
                return json.loads(l)
        return None
    s.wait_for(lambda: line("bad-price-1") and line("good-1"), 60, "both access lines")
    bad_line, good_line = line("bad-price-1"), line("good-1")
    check(bad_line["status"] == 422 and bad_line["error"] == "invalid_request"
          and bad_line["field"] == "items[0].features.price", "error line: %r" % bad_line)
    check("error" not in good_line and "field" not in good_line, "a 200 names no error: %r" % good_line)
    s.stop()
    # at warn, neither request line is written (a 5xx would be, at error)
    quiet = ctx.serve(db_url=url, wait_ready=True, env={"SHELFCAST_LOG_LEVEL": "warn"})
    quiet.predict(bad, headers={"X-Request-Id": "bad-price-2"})
    quiet.predict({"items": [ITEM]}, headers={"X-Request-Id": "good-2"})
    quiet.stop()
    out = quiet.output()
    check('"event":"request"' not in out, "request lines at warn: %r" % out[-500:])
