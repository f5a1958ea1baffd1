#!/usr/bin/env bash
# bench-proxy.sh: CPU time per request of plain HTTP proxying, out of process, for the agentgateway
# binary against nginx and Caddy (and a 30-line httputil.ReverseProxy), all with access logs on, in
# front of the same upstream (an nginx returning "ok"), driven by wrk. The binary runs twice: with
# net/http's server ("agentgateway") and with its lean HTTP/1.1 loop ("agw-http1", --http1-server).
#
# CPU per request (utime+stime of the proxy's processes over requests served) is the figure to
# compare: unlike throughput it barely moves when the machine is busy with other work. Rounds
# alternate the proxies so that drift in the machine's load spreads over all of them.
#
#   sudo apt-get install -y nginx-light caddy wrk   # Debian packages
#   scripts/bench-proxy.sh [rounds=5] [seconds=8] [connections=16]
#   AGW_BIN=/tmp/old-agentgateway scripts/bench-proxy.sh   # another build (with --http1-server)
#   AGW_BASE=/tmp/old-agentgateway scripts/bench-proxy.sh  # adds that build's default and --workers 1
#                                                          # rows (base, base-w1) to the same rounds
#   PORT_BASE=28080 scripts/bench-proxy.sh                 # other ports (default 18080), for two runs at once
#
# Prints one table (median over rounds) and keeps the raw rounds in $OUT/rounds.tsv.
set -euo pipefail

ROUNDS=${1:-5}
SECS=${2:-8}
CONNS=${3:-16}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d /tmp/bench-proxy.XXXXXX)
PB=${PORT_BASE:-18080}
UP=$((PB + 1)) NGX=$((PB + 10)) CADDY=$((PB + 11)) AGW=$((PB + 12)) HU=$((PB + 13)) AGW1=$((PB + 14)) AGWW1=$((PB + 15))
BASE=$((PB + 16)) BASEW1=$((PB + 17))
for bin in nginx caddy wrk go; do
	command -v $bin >/dev/null || { echo "missing $bin (apt-get install nginx-light caddy wrk)" >&2; exit 1; }
done
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# The upstream and the nginx proxy: separate nginx instances, one worker each, no daemon.
nginx_conf() { # name port body
	mkdir -p "$OUT/$1"
	cat >"$OUT/$1/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $OUT/$1/nginx.pid;
error_log $OUT/$1/error.log;
events { worker_connections 4096; }
http {
  access_log $2;
  client_body_temp_path $OUT/$1; proxy_temp_path $OUT/$1; fastcgi_temp_path $OUT/$1;
  uwsgi_temp_path $OUT/$1; scgi_temp_path $OUT/$1;
  $3
}
EOF
}
nginx_conf upstream off "server { listen 127.0.0.1:$UP; location / { return 200 'ok'; } }"
nginx_conf nginx "$OUT/nginx/access.log" "upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$NGX; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
nginx -c "$OUT/upstream/nginx.conf" -p "$OUT/upstream" & PIDS+=($!)
nginx -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" & NGX_PID=$!; PIDS+=($!)

cat >"$OUT/Caddyfile" <<EOF
{
  admin off
  auto_https off
}
http://127.0.0.1:$CADDY {
  log {
    output file $OUT/caddy-access.log
  }
  reverse_proxy 127.0.0.1:$UP
}
EOF
caddy run --config "$OUT/Caddyfile" --adapter caddyfile >"$OUT/caddy.log" 2>&1 & CADDY_PID=$!; PIDS+=($!)

# The agentgateway binary, access log on (stderr, to a file as nginx's is). AGW_BIN=path measures a
# binary built elsewhere (an older commit, for a before/after comparison).
if [ -n "${AGW_BIN:-}" ]; then cp "$AGW_BIN" "$OUT/agentgateway"; else (cd "$ROOT" && go build -o "$OUT/agentgateway" ./cmd/agentgateway); fi
cat >"$OUT/agw.yaml" <<EOF
binds:
- port: $AGW
  listeners:
  - routes:
    - backends: [{host: "127.0.0.1:$UP"}]
EOF
"$OUT/agentgateway" -f "$OUT/agw.yaml" --bind-address 127.0.0.1 --admin-addr off --stats-addr off --readiness-addr off --http1-server=false 2>"$OUT/agw-access.log" & AGW_PID=$!; PIDS+=($!)
# The same binary with the lean HTTP/1.1 server loop (--http1-server), as "agw-http1".
sed "s/$AGW/$AGW1/" "$OUT/agw.yaml" >"$OUT/agw1.yaml"
"$OUT/agentgateway" -f "$OUT/agw1.yaml" --bind-address 127.0.0.1 --admin-addr off --stats-addr off --readiness-addr off --http1-server 2>"$OUT/agw1-access.log" & AGW1_PID=$!; PIDS+=($!)
# The binary default again with one worker (--workers 1, GOMAXPROCS=1), as nginx runs here: "agw-w1".
sed "s/$AGW/$AGWW1/" "$OUT/agw.yaml" >"$OUT/agww1.yaml"
"$OUT/agentgateway" -f "$OUT/agww1.yaml" --bind-address 127.0.0.1 --admin-addr off --stats-addr off --readiness-addr off --workers 1 2>"$OUT/agww1-access.log" & AGWW1_PID=$!; PIDS+=($!)

# An older build for a before/after comparison in the same rounds (AGW_BASE): its default and --workers 1.
SPECS_BASE=()
if [ -n "${AGW_BASE:-}" ]; then
	cp "$AGW_BASE" "$OUT/agw-base"
	sed "s/$AGW/$BASE/" "$OUT/agw.yaml" >"$OUT/base.yaml"
	"$OUT/agw-base" -f "$OUT/base.yaml" --bind-address 127.0.0.1 --admin-addr off --stats-addr off --readiness-addr off 2>"$OUT/base-access.log" & BASE_PID=$!; PIDS+=($!)
	sed "s/$AGW/$BASEW1/" "$OUT/agw.yaml" >"$OUT/basew1.yaml"
	"$OUT/agw-base" -f "$OUT/basew1.yaml" --bind-address 127.0.0.1 --admin-addr off --stats-addr off --readiness-addr off --workers 1 2>"$OUT/basew1-access.log" & BASEW1_PID=$!; PIDS+=($!)
	SPECS_BASE=("base:$BASE:$BASE_PID" "base-w1:$BASEW1:$BASEW1_PID")
fi

# The 30-line httputil.ReverseProxy people start from, with a log line per request.
mkdir -p "$OUT/hu"
cat >"$OUT/hu/main.go" <<EOF
package main

import (
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"
)

func main() {
	u, _ := url.Parse("http://127.0.0.1:$UP")
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	l := log.New(os.Stderr, "", log.LstdFlags)
	log.Fatal(http.ListenAndServe("127.0.0.1:$HU", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.Now()
		p.ServeHTTP(w, r)
		l.Printf("%s %s %s", r.Method, r.URL.Path, time.Since(t))
	})))
}
EOF
(cd "$OUT/hu" && printf 'module hu\ngo 1.22\n' >go.mod && go build -o hu .)
"$OUT/hu/hu" 2>"$OUT/hu-access.log" & HU_PID=$!; PIDS+=($!)

for port in $UP $NGX $CADDY $AGW $HU $AGW1 $AGWW1 ${AGW_BASE:+$BASE $BASEW1}; do
	for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
done

# CPU ticks (utime+stime) of a process and its children threads; nginx: the master's workers too.
ticks() {
	local sum=0
	for p in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
		[ -r "/proc/$p/stat" ] || continue
		set -- $(sed 's/^.*) //' "/proc/$p/stat")
		sum=$((sum + ${12} + ${13}))
	done
	echo $sum
}
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)
AGW_RSS_IDLE=$(rss_kb $AGW_PID)

printf 'round\tproxy\trequests\trps\tcpu_us_per_req\n' >"$OUT/rounds.tsv"
for r in $(seq "$ROUNDS"); do
	for spec in "nginx:$NGX:$NGX_PID" "agentgateway:$AGW:$AGW_PID" "agw-http1:$AGW1:$AGW1_PID" "agw-w1:$AGWW1:$AGWW1_PID" "caddy:$CADDY:$CADDY_PID" "httputil:$HU:$HU_PID" "${SPECS_BASE[@]}"; do
		IFS=: read -r name port pid <<<"$spec"
		wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/" >/dev/null # warm the pools
		t0=$(ticks "$pid")
		res=$(wrk -t1 -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$port/")
		t1=$(ticks "$pid")
		reqs=$(awk '/requests in/{print $1}' <<<"$res")
		rps=$(awk '/Requests\/sec/{print $2}' <<<"$res")
		cpu=$(awk -v d=$((t1 - t0)) -v n="$reqs" -v hz="$HZ" 'BEGIN{printf "%.1f", d*1e6/hz/n}')
		printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$name" "$reqs" "$rps" "$cpu" >>"$OUT/rounds.tsv"
	done
done
AGW_RSS_LOAD=$(rss_kb $AGW_PID)

echo "plain HTTP proxy, wrk -t1 -c$CONNS, ${SECS}s x $ROUNDS rounds, access logs on ($(nproc) CPUs)"
awk -F'\t' 'NR>1{cpu[$2]=cpu[$2]" "$5; rps[$2]=rps[$2]" "$4}
function median(s,  a,n,i,j,t){n=split(s,a," ");for(i=1;i<=n;i++)for(j=i+1;j<=n;j++)if(a[j]+0<a[i]+0){t=a[i];a[i]=a[j];a[j]=t};return n%2?a[(n+1)/2]:(a[n/2]+a[n/2+1])/2}
END{nc=median(cpu["nginx"]); nr=median(rps["nginx"])
  printf "%-14s %14s %12s %12s %12s\n","proxy","CPU us/req","x nginx","req/s","x nginx"
  n=split("nginx agentgateway agw-http1 agw-w1 caddy httputil base base-w1",order," ")
  for(i=1;i<=n;i++){p=order[i]; if(!(p in cpu))continue; c=median(cpu[p]); r=median(rps[p]); printf "%-14s %14.1f %12.2f %12.0f %12.2f\n",p,c,c/nc,r,r/nr}}' "$OUT/rounds.tsv"
echo "agentgateway RSS: idle $((AGW_RSS_IDLE / 1024)) MB, after load $((AGW_RSS_LOAD / 1024)) MB; binary $(($(stat -c %s "$OUT/agentgateway") / 1048576)) MB"
echo "raw rounds: $OUT/rounds.tsv"
