#!/bin/sh
# Builds the images compose.local.yaml runs, on a machine that reaches package registries but no
# container registry: the service images (PostgreSQL from Debian; Temporal's server and SQL tool,
# its Web UI and versitygw from the Go module proxy, by `diffubias cluster stage-images`) and the
# workers' (docker/Dockerfile). Run from the repository root after docker/base/build.sh. Layers
# are cached: after a code change only the worker's last layers are built again.
#
#   sh docker/services/build.sh        # BASE=diffubias/node:22-bookworm
set -eu
BASE=${BASE:-diffubias/node:22-bookworm}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
node bin/diffubias.js cluster stage-images "$ctx"
cp docker/services/*.Dockerfile docker/services/*.sh "$ctx"/
chmod +x "$ctx"/*.sh
stamp() { date +%s; }
for service in postgresql temporal temporal-ui versitygw; do
  start=$(stamp)
  docker build --network host --build-arg BASE="$BASE" -f "$ctx/$service.Dockerfile" -t "diffubias/$service:local" "$ctx" >"$ctx/$service.log" 2>&1 || {
    tail -20 "$ctx/$service.log" >&2
    exit 1
  }
  echo "built diffubias/$service:local in $(($(stamp) - start)) s, $(docker image ls "diffubias/$service:local" --format '{{.Size}}')"
done
# One worker image for every role on CPUs: the train role's (native TensorFlow, CPU wheel) also
# serves the other queues. On a GPU host build one image per role (docker/compose.yaml does).
start=$(stamp)
docker build --network host --build-arg NODE_IMAGE="$BASE" --build-arg BASE="$BASE" --build-arg ROLE=train \
  --build-arg TF_DEVICE="${TF_DEVICE:-cpu}" -f docker/Dockerfile -t diffubias/worker:local . >"$ctx/worker.log" 2>&1 || {
  tail -20 "$ctx/worker.log" >&2
  exit 1
}
echo "built diffubias/worker:local in $(($(stamp) - start)) s, $(docker image ls diffubias/worker:local --format '{{.Size}}')"
