"""Issue 7: what the deployment files rely on, checked against the real server."""
import json
import os
import re
import subprocess
import threading
import time

import yaml

from harness import SOURCE_ROOT, check, demo_csv, free_port, run, temp_dir, train, wait_until


def exported_metrics(text):
    """Every metric with a series, and every family the server declares (# TYPE), series or not yet."""
    series = {re.split(r"[{ ]", l, 1)[0] for l in text.splitlines() if l and not l.startswith("#")}
    return series | {l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")}


def used_metrics(expr):
    return set(re.findall(r"\b((?:shelfcast|process)_[a-z_]+)\b", expr))


def test_dashboard_and_alerts_use_metrics_the_server_exports(ctx):
    url = ctx.db()
    train(url, demo_csv(1200), extra=["--activate"])
    s = ctx.serve(db_url=url, wait_ready=True)
    s.predict({"items": [{"features": {"brand": "Nope", "category": "toys", "price": 3}}]})
    exported = exported_metrics(s.get("/metrics").body.decode())
    dash = json.load(open(os.path.join(SOURCE_ROOT, "deploy", "grafana", "dashboards", "shelfcast.json")))
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    rules = yaml.safe_load(open(os.path.join(SOURCE_ROOT, "deploy", "prometheus", "alerts.yml")))
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = set().union(*(used_metrics(e) for e in exprs))
    check(len(used) >= 8, "the dashboard and alerts use only %r" % used)
    missing = sorted(m for m in used if m not in exported)
    check(not missing, "used but not exported by the server: %r" % missing)
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for want in ("request rate", "error rate", "p50", "p99", "model version", "unknown categories", "load failures", "database up",
                 "input drift", "live accuracy"):
        check(want in titles, "the dashboard has no panel for %r" % want)
    s.stop()


def test_healthcheck_subcommand_probes_a_running_server(ctx):
    url = ctx.db()
    s = ctx.serve(db_url=url)
    r = run(["healthcheck", "--listen", "0.0.0.0:%d" % s.port])
    check(r.returncode == 0 and r.stdout.strip() == "ok", "healthcheck: %d %r %r" % (r.returncode, r.stdout, r.stderr))
    r = run(["healthcheck"], env={"SHELFCAST_LISTEN": "127.0.0.1:%d" % s.port})
    check(r.returncode == 0, "healthcheck from SHELFCAST_LISTEN: %r" % r.stderr)
    # a bare port, as serve's --listen takes it, is probed on that port (not 8080)
    r = run(["healthcheck"], env={"SHELFCAST_LISTEN": "%d" % s.port})
    check(r.returncode == 0, "healthcheck of a bare port: %r" % r.stderr)
    for bad in ("127.0.0.1:", "[::1]%d" % s.port, "host:port"):
        r = run(["healthcheck", "--listen", bad])
        check(r.returncode == 2 and '--listen "%s"' % bad in r.stderr, "healthcheck --listen %r: %d %r"
              % (bad, r.returncode, r.stderr))
    s.stop()
    r = run(["healthcheck", "--listen", "127.0.0.1:%d" % s.port, "--timeout", "2"])
    check(r.returncode == 1 and "cannot connect" in r.stderr, "healthcheck on a stopped server: %d %r" % (r.returncode, r.stderr))


NGINX_CONF = """
user root;
worker_processes 1;
daemon off;
error_log %(dir)s/error.log warn;
pid %(dir)s/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %(dir)s/body;
  proxy_temp_path %(dir)s/proxy;
  fastcgi_temp_path %(dir)s/fastcgi;
  uwsgi_temp_path %(dir)s/uwsgi;
  scgi_temp_path %(dir)s/scgi;
  upstream shelfcast {
    %(servers)s
    keepalive 16;
  }
  server {
    listen 127.0.0.1:%(port)d;
    location / {
      proxy_pass http://shelfcast;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 1s;
    }
  }
}
"""


def test_three_replicas_behind_nginx_converge_and_drain_without_failures(ctx):
    import http.client
    url = ctx.db()
    data = demo_csv(1500)
    train(url, data, extra=["--activate"])
    train(url, data)
    replicas = [ctx.serve(db_url=url, wait_ready=True, args=["--poll-interval", "3600", "--drain", "10"]) for _ in range(3)]
    d = temp_dir("sc-nginx-")
    port = free_port()
    open(os.path.join(d, "nginx.conf"), "w").write(NGINX_CONF % {
        "dir": d, "port": port, "servers": "\n    ".join("server 127.0.0.1:%d max_fails=0;" % r.port for r in replicas)})
    nginx = subprocess.Popen(["nginx", "-c", os.path.join(d, "nginx.conf"), "-p", d], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        def answers():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                c.request("GET", "/healthz")
                return c.getresponse().status == 200
            except OSError:
                return False
            finally:
                c.close()
        wait_until(answers, what="nginx to answer /healthz", every=0.05)
        stop = threading.Event()
        counts = {"requests": 0, "failures": 0, "versions": {}}
        lock = threading.Lock()
        body = json.dumps({"items": [{"features": {"brand": "Acme", "category": "snacks", "price": 2.5}}] * 5})

        def load():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            while not stop.is_set():
                try:
                    c.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"})
                    r = c.getresponse()
                    data = r.read()
                    ok = r.status == 200
                    v = json.loads(data)["model"]["version"] if ok else None
                except Exception:  # noqa: BLE001 — every failure counts
                    ok, v = False, None
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                with lock:
                    counts["requests"] += 1
                    counts["failures"] += not ok
                    if v:
                        counts["versions"][v] = counts["versions"].get(v, 0) + 1

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        t0 = time.time()
        r = run(["models", "activate", "demo", "2", "--db", url])
        check(r.returncode == 0, r.stderr)

        def all_serve_2():
            return all(any(m["serving_version"] == 2 for m in rep.get("/v1/models", validate=False).json()["models"])
                       for rep in replicas)
        converged = False
        while not converged and time.time() - t0 < 60:
            converged = all_serve_2()
            time.sleep(0 if converged else 0.01)
        converge = time.time() - t0
        time.sleep(1.0)
        replicas[0].proc.send_signal(15)
        code = replicas[0].proc.wait(30)
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join(20)
        print("# replicas: %d requests through nginx, %d failures, every replica on the new version %.3f s after "
              "the activation, replica 0 drained and exited %d; replies by version %r"
              % (counts["requests"], counts["failures"], converge, code, counts["versions"]))
        check(converged, "the replicas did not all serve version 2 (%.1f s after the activation)" % converge)
        check(code == 0, "the terminated replica exited %d" % code)
        check(counts["failures"] == 0, "%d of %d requests failed" % (counts["failures"], counts["requests"]))
        check(counts["requests"] > 200 and 2 in counts["versions"], "load too small: %r" % counts)
    finally:
        nginx.terminate()
        nginx.wait(10)
    for rep in replicas[1:]:
        rep.stop()
