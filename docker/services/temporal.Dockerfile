# Temporal server v1.32.2 and its SQL tool, built from the Go module proxy (docker/services/build.sh
# stages them with `diffubias cluster stage-images`), with the local cluster's config.
ARG BASE=diffubias/node:22-bookworm
FROM ${BASE}
COPY bin/temporal-server bin/temporal-sql-tool /usr/local/bin/
COPY schema /etc/temporal/schema/postgresql/v12
COPY temporal.yaml dynamicconfig.yaml /etc/temporal/
COPY temporal-schema.sh /usr/local/bin/
CMD ["temporal-server", "--config-file", "/etc/temporal/temporal.yaml", "--allow-no-auth", "start"]
