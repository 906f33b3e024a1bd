# The Temporal Web UI server v2.56.4 (built assets inside), from the Go module proxy.
ARG BASE=diffubias/node:22-bookworm
FROM ${BASE}
COPY bin/temporal-ui-server /usr/local/bin/
COPY temporal-ui /etc/temporal-ui
CMD ["temporal-ui-server", "--root", "/etc/temporal-ui", "--config", "config", "--env", "cluster", "start"]
