# Shared by the bench/ scripts: a release build, a demo registry in a private data dir,
# a server, and its resident memory.  Sourced, not run.
# The release build every bench measures (bench/vs_commit builds the other commit with the same options).
BENCH_MESON_OPTIONS=(-Dbuildtype=release -Ddebug=false -Dtests=false)
bench_build() {
  scripts/deps bench >/dev/null
  [ -d build-bench/meson-private ] || meson setup build-bench "${BENCH_MESON_OPTIONS[@]}" >/dev/null
  ninja -C build-bench >/dev/null
}

bench_setup() {
  bench_build
  bin=$(pwd)/build-bench/shelfcast
  work=$(mktemp -d --suffix=.sc-bench)
  chmod 755 "$work"
  export SHELFCAST_DATA_DIR=$work/state
  mkdir -p bench/out
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
  "$bin" demo-data --rows 5000 --out "$work/demo.csv"
  "$bin" train --data "$work/demo.csv" --config examples/demo/dataset.json --activate >/dev/null 2>&1
  "$bin" train --data "$work/demo.csv" --config examples/demo/dataset.json >/dev/null 2>&1
  printf '{"items": [{"id": "sku-1", "features": {"brand": "Acme", "category": "snacks", "price": 2.49, "weight_kg": 0.3}}]}' >"$work/one.json"
}

bench_serve() { # extra serve arguments...
  port=18480
  bench_token=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n') # serve refuses short or well-known tokens
  "$bin" serve --listen 127.0.0.1:$port --admin-token "$bench_token" "$@" 2>"$work/serve.log" &
  serve_pid=$!
  pids+=($serve_pid)
  for i in $(seq 1 100); do
    # Ready, and ours: a server left over on the port would be measured instead.
    if curl -sf -o /dev/null http://127.0.0.1:$port/readyz; then
      kill -0 $serve_pid 2>/dev/null && return 0
      echo "port $port is taken by another process" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the server did not become ready" >&2
  return 1
}

rss_kb() { awk '/VmRSS/ {print $2}' /proc/$serve_pid/status; }

activate() { # version
  curl -sf -o /dev/null -X POST -H "Authorization: Bearer $bench_token" \
    http://127.0.0.1:$port/v1/models/demo/versions/$1/activate
}

oj_bodies() { # OJ.CSV DIR: request bodies from every 97th row of the OJ data, in DIR: one.json (the
  # first row's item), recommend_one.json (the same, objective revenue), thousand.json (1,000 items)
  /usr/bin/python3 - "$1" "$2" <<'PY'
import csv, json, sys
rows = csv.DictReader(open(sys.argv[1]))
num = ["regular_price", "size_oz", "competitor_min_price", "competitor_mean_price", "age60", "educ", "ethnic",
       "income", "hhlarge", "workwom", "hval150", "sstrdist", "sstrvol", "cpdist5", "cpwvol5"]
items = []
for i, r in enumerate(rows):
    if i % 97:
        continue
    f = {k: float(r[k]) for k in num}
    f["brand"] = r["brand"]
    f["store"] = int(r["store"])
    items.append({"id": "sku-%d" % i, "features": f})
    if len(items) == 1000:
        break
json.dump({"items": items[:1]}, open(sys.argv[2] + "/one.json", "w"))
json.dump({"objective": "revenue", "items": items[:1]}, open(sys.argv[2] + "/recommend_one.json", "w"))
json.dump({"items": items}, open(sys.argv[2] + "/thousand.json", "w"))
PY
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # PID: its user + system CPU, in clock ticks

pin_cluster() { # CPU: the embedded PostgreSQL in $SHELFCAST_DATA_DIR, postmaster and children, onto CPU
  # (backends started later fork from the postmaster and inherit it); echoes the postmaster's pid
  local pm p
  pm=$(head -1 "$SHELFCAST_DATA_DIR/pg/postmaster.pid")
  for p in $pm $(pgrep -P "$pm"); do taskset -a -p -c "$1" "$p" >/dev/null; done
  echo "$pm"
}
