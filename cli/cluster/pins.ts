/**
 * What the local cluster is built from, pinned so the same inputs give the same cluster. Every part
 * comes from a registry this project may use: the Go module proxy (Temporal's server, its SQL
 * tool, its Web UI server, the S3 gateway) and Debian's packages (PostgreSQL).
 */
export const CLUSTER_PINS = {
  /** Temporal v1.32 needs Go >= 1.26.10; the proxy serves this toolchain, `go` fetches it. */
  goToolchain: 'go1.27.3',
  temporalServer: { module: 'go.temporal.io/server', version: 'v1.32.2' },
  /** The newest UI server whose go.temporal.io/api the proxy serves (v2.58 needs api v1.64.0, refused). */
  temporalUi: { module: 'github.com/temporalio/ui-server/v2', version: 'v2.56.4' },
  /** Apache-2.0 S3 gateway over a folder (MinIO, the usual choice, is AGPL-3.0). */
  versitygw: { module: 'github.com/versity/versitygw', version: 'v1.8.0' },
} as const;

/** Loopback ports, away from the dev stack's (7233, 8233, 4568) so both can run on one machine. */
export const CLUSTER_PORTS = {
  postgres: 5433,
  frontend: 7433,
  frontendHttp: 7443,
  history: 7434,
  matching: 7435,
  worker: 7439,
  membershipBase: 6933,
  ui: 8433,
  s3: 7070,
} as const;

export const CLUSTER_HOST = '127.0.0.1';
