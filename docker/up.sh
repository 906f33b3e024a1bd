#!/bin/sh
# npm run docker:up / docker:down: the cluster of docker/compose.local.yaml on this machine.
# Secrets are made once into <home>/docker/env (0600); `up` then runs the setup step from here too
# (it waits for Temporal to serve; idempotent), and writes <home>/docker/client.sh (the environment a
# client needs) and the demo experiment with its dataset and bundles on the cluster's S3:
#   . .diffubias/docker/client.sh && npx diffubias run --config .diffubias/docker/experiment-cmnist-demo.json --follow
set -eu
home=${DIFFUBIAS_HOME:-.diffubias}
dir="$home/docker"
env="$dir/env"
if command -v docker-compose >/dev/null 2>&1; then compose="docker-compose"; else compose="docker compose"; fi
run() { $compose --env-file "$env" -p diffubias -f docker/compose.local.yaml "$@"; }

if [ "${1:-up}" = down ]; then
  [ -f "$env" ] || { echo "docker: no cluster under $dir"; exit 0; }
  run down
  exit 0
fi

mkdir -p "$dir"
if [ ! -f "$env" ]; then
  secret() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }
  (umask 077 && {
    echo "POSTGRES_PASSWORD=$(secret)"
    echo "TEMPORAL_DB_PASSWORD=$(secret)"
    echo "S3_ACCESS_KEY_ID=diffubias"
    echo "S3_SECRET_ACCESS_KEY=$(secret)"
  } >"$env")
fi
run up -d
. "$env"
(umask 077 && cat >"$dir/client.sh" <<CLIENT
export TEMPORAL_ADDRESS=127.0.0.1:7433
export DIFFUBIAS_S3_ENDPOINT=http://127.0.0.1:7070
export DIFFUBIAS_S3_BUCKET=diffubias
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY_ID
export AWS_SECRET_ACCESS_KEY=$S3_SECRET_ACCESS_KEY
export AWS_REGION=us-east-1
CLIENT
)
. "$dir/client.sh"
node bin/diffubias.js cluster setup --experiment "$dir/experiment-cmnist-demo.json"
run ps
echo "docker: up. Web UI http://127.0.0.1:8433; client: . $dir/client.sh; demo: npx diffubias run --config $dir/experiment-cmnist-demo.json --follow"
