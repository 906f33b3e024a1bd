import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLUSTER_HOST, CLUSTER_PINS, CLUSTER_PORTS } from './pins';
import { goModuleDir } from './go-tools';
import { psql } from './postgres';
import { runTool } from './processes';

export const TEMPORAL_DATABASES = ['temporal', 'temporal_visibility'] as const;

/**
 * The `temporal` role, its two databases and their schema, by the server's own SQL tool: version
 * tables first, then every versioned step the module ships under schema/postgresql/v12. Running it
 * again applies only steps newer than the stored version.
 */
export function setupTemporalSchema(sqlTool: string, passwords: { superuser: string; temporal: string }, log: (line: string) => void): void {
  const role = psql("SELECT 1 FROM pg_roles WHERE rolname = 'temporal'", passwords.superuser).trim();
  if (role !== '1') psql(`CREATE ROLE temporal LOGIN CREATEDB PASSWORD '${passwords.temporal}'`, passwords.superuser);
  const schemaRoot = join(goModuleDir(CLUSTER_PINS.temporalServer.module, CLUSTER_PINS.temporalServer.version), 'schema', 'postgresql', 'v12');
  const base = ['--plugin', 'postgres12', '--endpoint', CLUSTER_HOST, '--port', String(CLUSTER_PORTS.postgres), '--user', 'temporal', '--password', passwords.temporal];
  for (const [database, folder] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
    const exists = psql(`SELECT 1 FROM pg_database WHERE datname = '${database}'`, passwords.superuser).trim() === '1';
    if (!exists) runTool(`creating ${database}`, sqlTool, [...base, '--database', database, 'create-database']);
    const versioned = psql("SELECT 1 FROM information_schema.tables WHERE table_name = 'schema_version'", passwords.superuser, database).trim() === '1';
    if (!versioned) runTool(`schema of ${database}`, sqlTool, [...base, '--database', database, 'setup-schema', '-v', '0.0']);
    runTool(`schema of ${database}`, sqlTool, [...base, '--database', database, 'update-schema', '-d', join(schemaRoot, folder, 'versioned')]);
    const version = psql('SELECT curr_version FROM schema_version', passwords.superuser, database).trim();
    log(`temporal schema: ${database} at version ${version}`);
  }
}

/** The server's config: every service in one process, PostgreSQL for persistence and visibility, loopback only. */
export function temporalServerConfig(password: string, dynamicConfigPath: string): Record<string, unknown> {
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12', databaseName, connectAddr: `${CLUSTER_HOST}:${CLUSTER_PORTS.postgres}`, connectProtocol: 'tcp',
      user: 'temporal', password, maxConns, maxIdleConns: maxConns, maxConnLifetime: '1h',
    },
  });
  const service = (grpcPort: number, membershipOffset: number, httpPort?: number) => ({
    rpc: { grpcPort, membershipPort: CLUSTER_PORTS.membershipBase + membershipOffset, bindOnLocalHost: true, ...(httpPort ? { httpPort } : {}) },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: 4,
      datastores: { 'postgres-default': store('temporal', 20), 'postgres-visibility': store('temporal_visibility', 4) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: CLUSTER_HOST } },
    services: {
      frontend: service(CLUSTER_PORTS.frontend, 0, CLUSTER_PORTS.frontendHttp),
      history: service(CLUSTER_PORTS.history, 1),
      matching: service(CLUSTER_PORTS.matching, 2),
      worker: service(CLUSTER_PORTS.worker, 6),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `${CLUSTER_HOST}:${CLUSTER_PORTS.frontend}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: dynamicConfigPath, pollInterval: '10s' },
  };
}

/** The server's dynamic config: search attributes are registered through the operator API; nothing else to tune. */
export const DYNAMIC_CONFIG = 'limit.maxIDLength:\n  - value: 255\n';

/** Writes the config (mode 0600: it holds the database password) and returns its path. */
export async function writeTemporalConfig(root: string, password: string): Promise<string> {
  const dir = join(root, 'temporal');
  await mkdir(dir, { recursive: true });
  const dynamic = join(dir, 'dynamicconfig.yaml');
  if (!existsSync(dynamic)) await writeFile(dynamic, DYNAMIC_CONFIG);
  const path = join(dir, 'config.yaml');
  await writeFile(path, stringify(temporalServerConfig(password, dynamic)), { mode: 0o600 });
  return path;
}

/**
 * The UI server's config: the Web UI for the cluster's frontend, loopback only. The server reads
 * `<root>/config/<env>.yaml`; returns the root (start it with `--root <it> --env cluster`).
 */
export async function writeUiConfig(root: string): Promise<string> {
  const dir = join(root, 'temporal-ui');
  await mkdir(join(dir, 'config'), { recursive: true });
  const path = join(dir, 'config', 'cluster.yaml');
  await writeFile(path, stringify({
    temporalGrpcAddress: `${CLUSTER_HOST}:${CLUSTER_PORTS.frontend}`,
    host: CLUSTER_HOST,
    port: CLUSTER_PORTS.ui,
    enableUi: true,
    defaultNamespace: 'default',
    cors: { allowOrigins: [`http://${CLUSTER_HOST}:${CLUSTER_PORTS.ui}`] },
  }));
  return dir;
}
