# versitygw v1.8.0 (Apache-2.0 S3 gateway, posix backend), from the Go module proxy.
ARG BASE=diffubias/node:22-bookworm
FROM ${BASE}
COPY bin/versitygw /usr/local/bin/
RUN mkdir -p /data
CMD ["versitygw", "--port", "127.0.0.1:7070", "posix", "/data"]
