import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { PROJECT_ROOT } from '../../core/project-root';
import { ArtifactStore } from '../../core/store';
import { untilStoreAnswers } from '../../workers/product-worker';
import type { Settings } from '../../core/settings';
import { demoConfig } from '../../stages/config/demo';
import { ensureGoTool, GO_TOOLS } from './go-tools';
import { connectWhenServing, ensureNamespace } from './namespace';
import { CLUSTER_HOST, CLUSTER_PORTS } from './pins';
import { startPostgres, stopPostgres } from './postgres';
import { isRunning, startDetached, stopProcess, waitFor, type ManagedProcess } from './processes';
import { CLUSTER_BUCKET, CLUSTER_S3_ENDPOINT, clusterS3Settings, s3GatewayEnv, s3Ready, uploadBundle } from './s3-gateway';
import { setupTemporalSchema, writeTemporalConfig, writeUiConfig } from './temporal-server';

export const CLUSTER_ADDRESS = `${CLUSTER_HOST}:${CLUSTER_PORTS.frontend}`;
const NAMESPACE = 'default';

/** One worker process per role; two train workers so that a lost one has a peer to take over. */
export const CLUSTER_WORKERS: readonly { name: string; queues: string }[] = [
  { name: 'workflow', queues: 'workflow' },
  { name: 'cpu', queues: 'cpu' },
  { name: 'train-1', queues: 'train' },
  { name: 'train-2', queues: 'train' },
  { name: 'caption', queues: 'caption' },
  { name: 'generate', queues: 'generate' },
];

interface ClusterSecrets {
  postgresSuperuser: string;
  postgresTemporal: string;
  s3: { accessKeyId: string; secretAccessKey: string };
}

interface ClusterState {
  processes: Record<string, ManagedProcess>;
}

export interface ClusterPaths {
  root: string;
  logs: string;
  state: string;
  secrets: string;
  env: string;
  experiment: string;
}

export function clusterPaths(settings: Settings): ClusterPaths {
  const root = resolve(settings.home, 'cluster');
  return {
    root,
    logs: join(root, 'logs'),
    state: join(root, 'state.json'),
    secrets: join(root, 'secrets.json'),
    env: join(root, 'env.sh'),
    experiment: join(root, 'experiment-cmnist-demo.json'),
  };
}

function secret(): string {
  return randomBytes(18).toString('base64url');
}

/** Generated once per cluster folder, kept 0600 beside it. */
async function loadSecrets(paths: ClusterPaths): Promise<ClusterSecrets> {
  if (existsSync(paths.secrets)) return JSON.parse(readFileSync(paths.secrets, 'utf8')) as ClusterSecrets;
  const created: ClusterSecrets = {
    postgresSuperuser: secret(),
    postgresTemporal: secret(),
    s3: { accessKeyId: `diffubias-${randomBytes(4).toString('hex')}`, secretAccessKey: secret() },
  };
  await writeFile(paths.secrets, JSON.stringify(created, null, 2), { mode: 0o600 });
  return created;
}

function loadState(paths: ClusterPaths): ClusterState {
  if (!existsSync(paths.state)) return { processes: {} };
  return JSON.parse(readFileSync(paths.state, 'utf8')) as ClusterState;
}

async function saveState(paths: ClusterPaths, state: ClusterState): Promise<void> {
  await writeFile(paths.state, JSON.stringify(state, null, 2));
}

/** The environment a client or worker needs to use the cluster (what `cluster env` prints). */
export function clusterEnv(secrets: ClusterSecrets): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: CLUSTER_ADDRESS,
    TEMPORAL_NAMESPACE: NAMESPACE,
    DIFFUBIAS_S3_ENDPOINT: CLUSTER_S3_ENDPOINT,
    DIFFUBIAS_S3_BUCKET: CLUSTER_BUCKET,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: secrets.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: secrets.s3.secretAccessKey,
    // The report pages link to the run in this cluster's Web UI.
    DIFFUBIAS_UI_URL: `http://${CLUSTER_HOST}:${CLUSTER_PORTS.ui}`,
  };
}

async function ensureProcess(
  state: ClusterState, paths: ClusterPaths, name: string, log: (line: string) => void,
  start: () => ManagedProcess, ready: () => Promise<boolean>, timeoutMs: number,
): Promise<void> {
  const known = state.processes[name];
  if (known && isRunning(known)) {
    log(`${name}: already running (pid ${known.pid})`);
    return;
  }
  const proc = start();
  state.processes[name] = proc;
  await saveState(paths, state);
  await waitFor(name, ready, timeoutMs, { log: proc.log, alive: () => isRunning(proc) });
  log(`${name}: running (pid ${proc.pid}, log ${proc.log})`);
}

/**
 * Starts whatever part of the cluster is not running: PostgreSQL, Temporal's schema, the Temporal
 * server, its namespace and search attributes, the S3 gateway (with the demo bundles copied in),
 * the Web UI and one worker process per role, each with a home of its own. Running it again
 * starts only what is missing.
 */
export async function clusterUp(settings: Settings, log: (line: string) => void): Promise<ClusterPaths> {
  const paths = clusterPaths(settings);
  await mkdir(paths.logs, { recursive: true });
  const secrets = await loadSecrets(paths);
  const state = loadState(paths);
  const logFile = (name: string) => join(paths.logs, `${name}.log`);

  const server = await ensureGoTool(GO_TOOLS.temporalServer, log);
  const sqlTool = await ensureGoTool(GO_TOOLS.temporalSql, log);
  const gateway = await ensureGoTool(GO_TOOLS.versitygw, log);
  const ui = await ensureGoTool(GO_TOOLS.temporalUi, log).catch((err: Error) => {
    log(`temporal-ui: not built (${err.message.split('\n')[0]}); the cluster runs without the Web UI`);
    return undefined;
  });

  await startPostgres(paths.root, secrets.postgresSuperuser, log);
  setupTemporalSchema(sqlTool, { superuser: secrets.postgresSuperuser, temporal: secrets.postgresTemporal }, log);

  const config = await writeTemporalConfig(paths.root, secrets.postgresTemporal);
  await ensureProcess(state, paths, 'temporal-server', log,
    () => startDetached({ name: 'temporal-server', command: server, args: ['--config-file', config, '--allow-no-auth', 'start'], log: logFile('temporal-server') }),
    async () => { (await connectWhenServing(CLUSTER_ADDRESS, 2000)).close(); return true; }, 120_000);
  const connection = await connectWhenServing(CLUSTER_ADDRESS, 60_000);
  try {
    await ensureNamespace(connection, NAMESPACE, 7, log);
  } finally {
    await connection.close();
  }

  const s3 = clusterS3Settings(secrets.s3);
  const s3Dir = join(paths.root, 's3');
  await mkdir(s3Dir, { recursive: true });
  await ensureProcess(state, paths, 's3-gateway', log,
    () => startDetached({ name: 's3-gateway', command: gateway, args: ['--port', `${CLUSTER_HOST}:${CLUSTER_PORTS.s3}`, 'posix', s3Dir], env: s3GatewayEnv(secrets.s3), log: logFile('s3-gateway') }),
    () => s3Ready(s3), 60_000);
  const [captioner, generator] = await uploadDemoBundles(s3, log);

  if (ui) {
    const uiRoot = await writeUiConfig(paths.root);
    await ensureProcess(state, paths, 'temporal-ui', log,
      () => startDetached({ name: 'temporal-ui', command: ui, args: ['--root', uiRoot, '--config', 'config', '--env', 'cluster', 'start'], log: logFile('temporal-ui') }),
      async () => (await fetch(`http://${CLUSTER_HOST}:${CLUSTER_PORTS.ui}/`)).ok, 60_000);
  }

  const env = clusterEnv(secrets);
  for (const worker of CLUSTER_WORKERS) {
    const name = `worker-${worker.name}`;
    const home = join(paths.root, 'homes', worker.name);
    await mkdir(home, { recursive: true });
    const log_ = logFile(name);
    const before = existsSync(log_) ? readFileSync(log_, 'utf8').length : 0;
    await ensureProcess(state, paths, name, log,
      () => startDetached({
        name, command: process.execPath, args: [join(PROJECT_ROOT, 'bin', 'diffubias.js'), 'worker', '--supervise', '--queues', worker.queues],
        env: { ...process.env, ...env, DIFFUBIAS_HOME: home }, cwd: home, log: log_, marker: 'diffubias.js',
      }),
      async () => readFileSync(log_, 'utf8').slice(before).includes('worker serving'), 120_000);
  }

  await writeClusterExperiment(paths.experiment, CLUSTER_BUCKET, captioner, generator);
  await writeFile(paths.env, Object.entries(env).map(([k, v]) => `export ${k}=${v}`).join('\n') + '\n', { mode: 0o600 });
  log(`cluster up: Temporal ${CLUSTER_ADDRESS} (PostgreSQL ${CLUSTER_HOST}:${CLUSTER_PORTS.postgres}), S3 ${CLUSTER_S3_ENDPOINT}${ui ? `, Web UI http://${CLUSTER_HOST}:${CLUSTER_PORTS.ui}` : ''}, ${CLUSTER_WORKERS.length} workers`);
  log(`use it: source ${paths.env}; npx diffubias run --config ${paths.experiment} --follow`);
  return paths;
}

/** Stops every part, workers first (they finish or hand back their activities), PostgreSQL last. Idempotent. */
export async function clusterDown(settings: Settings, log: (line: string) => void): Promise<void> {
  const paths = clusterPaths(settings);
  const state = loadState(paths);
  const order = [...CLUSTER_WORKERS.map((w) => `worker-${w.name}`), 'temporal-ui', 's3-gateway', 'temporal-server'];
  const workers = order.filter((name) => name.startsWith('worker-') && state.processes[name]);
  // Workers stop together: each supervisor stops its worker, which drains its own activities (up
  // to 30 s), in parallel.
  await Promise.all(workers.map(async (name) => log(`${name}: ${await stopProcess(state.processes[name]!, 45_000)}`)));
  for (const name of order.filter((n) => !n.startsWith('worker-'))) {
    const proc = state.processes[name];
    if (proc) log(`${name}: ${await stopProcess(proc)}`);
  }
  state.processes = {};
  if (existsSync(paths.root)) {
    await saveState(paths, state);
    stopPostgres(paths.root, log);
  }
  log('cluster down');
}

/** One line per process: running or not. */
export function clusterStatus(settings: Settings): string[] {
  const state = loadState(clusterPaths(settings));
  return Object.values(state.processes).map((p) => `${p.name}: ${isRunning(p) ? `running (pid ${p.pid})` : 'not running'} — ${p.log}`);
}

/** `export` lines for a shell (`eval "$(npx diffubias cluster env)"`). */
export function clusterEnvLines(settings: Settings): string[] {
  const paths = clusterPaths(settings);
  if (!existsSync(paths.secrets)) throw new Error(`no cluster under ${paths.root}: run \`npm run cluster:up\` first`);
  const secrets = JSON.parse(readFileSync(paths.secrets, 'utf8')) as ClusterSecrets;
  return Object.entries(clusterEnv(secrets)).map(([k, v]) => `export ${k}=${v}`);
}

/**
 * What `cluster up` does against a Temporal and an S3 that run elsewhere (docker/compose.yaml's
 * setup step): the namespace's search attributes, the bucket, the demo bundles on S3. Idempotent.
 */
export async function clusterSetup(settings: Settings, log: (line: string) => void, experimentFile?: string): Promise<void> {
  const connection = await connectWhenServing(settings.temporal.address, 5 * 60_000);
  try {
    await ensureNamespace(connection, settings.temporal.namespace, 7, log);
  } finally {
    await connection.close();
  }
  const store = new ArtifactStore(settings.s3);
  try {
    await untilStoreAnswers(store, log);
  } finally {
    store.destroy();
  }
  const [captioner, generator] = await uploadDemoBundles(settings.s3, log);
  if (experimentFile) {
    await writeClusterExperiment(experimentFile, settings.s3.bucket, captioner, generator);
    log(`the demo experiment on this cluster: ${experimentFile}`);
  }
}

/**
 * The demo experiment with everything it reads on S3 (no worker needs this checkout's files but
 * the code): the dataset root in the bucket and the bundles setup copied there.
 */
async function writeClusterExperiment(file: string, bucket: string, captioner: string, generator: string): Promise<void> {
  const demo = demoConfig(1, 0);
  const experiment = demoConfig(1, 0, {
    datasetRoot: `s3://${bucket}/datasets`,
    caption: { ...demo.caption, model: captioner },
    generate: { ...demo.generate, model: generator },
  });
  await writeFile(file, JSON.stringify(experiment, null, 2));
}

/** The bundles the demo experiment names (its captioner, its generator), under `bundles/demo/<folder name>`; their s3:// URIs. */
async function uploadDemoBundles(s3: Settings['s3'], log: (line: string) => void): Promise<[string, string]> {
  const demo = demoConfig(1, 0);
  const upload = (path: string) => uploadBundle(s3, join(PROJECT_ROOT, path), `bundles/demo/${basename(path)}`, log);
  return [await upload(demo.caption.model), await upload(demo.generate.model)];
}
