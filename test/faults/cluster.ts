/** The fault suites' view of a cluster (local processes or compose): start it, find and kill its parts, read a run's history. */
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { CLUSTER_ADDRESS, clusterPaths, clusterUp } from '../../cli/cluster/cluster';
import { isRunning, stopProcess, type ManagedProcess } from '../../cli/cluster/processes';
import { clusterS3Settings } from '../../cli/cluster/s3-gateway';
import { settingsFromEnv, type Settings } from '../../core/settings';
import { ArtifactStore } from '../../core/store';
import { parseExperimentConfig, type ExperimentConfig } from '../../stages/config/schema';
import { until } from '../support/wait';

export { until };

export interface Cluster {
  settings: Settings;
  client: Client;
  connection: Connection;
  store: ArtifactStore;
  log: string[];
  close(): Promise<void>;
}

export const settings = (): Settings => settingsFromEnv({ ...process.env, TEMPORAL_ADDRESS: CLUSTER_ADDRESS });

/** Brings every part up (workers started by an older checkout are replaced first) and connects. */
export async function openCluster(): Promise<Cluster> {
  const s = settings();
  const log: string[] = [];
  const paths = clusterPaths(s);
  // Workers that run older code than this checkout would prove nothing: start them afresh.
  for (const proc of Object.values(processes(s))) if (proc.name.startsWith('worker-')) await stopProcess(proc, 30_000);
  await clusterUp(s, (l) => log.push(l));
  const secrets = JSON.parse(readFileSync(paths.secrets, 'utf8')) as { s3: { accessKeyId: string; secretAccessKey: string } };
  const connection = await Connection.connect({ address: CLUSTER_ADDRESS });
  const client = new Client({ connection, namespace: 'default' });
  const store = new ArtifactStore(clusterS3Settings(secrets.s3));
  return {
    settings: s, client, connection, store, log,
    async close() {
      store.destroy();
      await connection.close();
    },
  };
}

export function processes(s: Settings): Record<string, ManagedProcess> {
  try {
    return (JSON.parse(readFileSync(clusterPaths(s).state, 'utf8')) as { processes: Record<string, ManagedProcess> }).processes;
  } catch {
    return {};
  }
}

/** A cluster worker: its supervisor as `cluster up` recorded it, and the worker process it runs now. */
export type ClusterWorker = ManagedProcess & { workerPid: number };

/** The parent of a process, from /proc (undefined once it is gone). */
function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * The cluster worker whose Temporal identity (`<pid>@<host>`, the supervised worker's pid) is given.
 * Kill `workerPid` to lose the worker (its supervisor starts it again); the log is the supervisor's.
 */
export function workerByIdentity(s: Settings, identity: string): ClusterWorker | undefined {
  const pid = Number(identity.split('@')[0]);
  const parent = parentPid(pid);
  const proc = Object.values(processes(s)).find((p) => p.pid === parent && p.name.startsWith('worker-') && isRunning(p));
  return proc && { ...proc, workerPid: pid };
}

/**
 * The cluster's demo experiment made small enough for a fault case to run in minutes, with a seed
 * of its own so that nothing is reused from another case or an earlier run of the suite.
 */
export function faultExperiment(s: Settings, seed: number, overrides: Record<string, unknown> = {}, baseFile = clusterPaths(s).experiment): ExperimentConfig {
  const base = JSON.parse(readFileSync(baseFile, 'utf8')) as ExperimentConfig;
  return parseExperimentConfig({
    ...base,
    seed,
    train: { ...base.train, epochs: 4 },
    topK: { ...base.topK, k: 3 },
    caption: { ...base.caption, perImage: 1 },
    generate: { ...base.generate, images: 100, batchSize: 50, repeat: 1 },
    ...overrides,
  });
}

export interface PendingActivity {
  activityId: string;
  type: string;
  attempt: number;
  identity: string;
  details: { epoch?: number; step?: number; done?: number; total?: number; checkpointKey?: string } | undefined;
}

/** Every workflow that is running under `workflowId` (the experiment and its fan-out children). */
export async function pendingActivities(client: Client, workflowIds: readonly string[]): Promise<PendingActivity[]> {
  const all: PendingActivity[] = [];
  for (const workflowId of workflowIds) {
    const described = await client.workflowService.describeWorkflowExecution({ namespace: 'default', execution: { workflowId } }).catch(() => undefined);
    for (const p of described?.pendingActivities ?? []) all.push(toPending(p));
  }
  return all;
}

function toPending(p: temporal.api.workflow.v1.IPendingActivityInfo): PendingActivity {
  const payload = p.heartbeatDetails?.payloads?.[0];
  return {
    activityId: p.activityId ?? '',
    type: p.activityType?.name ?? '',
    attempt: p.attempt ?? 0,
    identity: p.lastWorkerIdentity ?? '',
    details: payload ? defaultPayloadConverter.fromPayload(payload) : undefined,
  };
}

/** Workflow ids of the experiment and the children it is running now. */
export async function runningTree(client: Client, workflowId: string): Promise<string[]> {
  const { executions } = await client.workflowService.listWorkflowExecutions({ namespace: 'default', query: `ExecutionStatus = 'Running'` });
  return [workflowId, ...(executions ?? []).map((e) => e.execution?.workflowId ?? '').filter((id) => id.startsWith(`${workflowId}/`))];
}

/** The history's events, decoded enough to count activity completions and read results. */
export async function historyOf(client: Client, workflowId: string): Promise<temporal.api.history.v1.IHistoryEvent[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return history.events ?? [];
}

/** Completions per activity id in the experiment's own history (a fault must not make one run twice). */
export async function completionsPerActivity(client: Client, workflowId: string): Promise<Map<string, number>> {
  const scheduled = new Map<number, string>();
  const counts = new Map<string, number>();
  for (const e of await historyOf(client, workflowId)) {
    if (e.activityTaskScheduledEventAttributes) scheduled.set(Number(e.eventId), e.activityTaskScheduledEventAttributes.activityId ?? '');
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const id = scheduled.get(Number(done.scheduledEventId)) ?? '?';
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

export async function completes(client: Client, workflowId: string, timeoutMs = 20 * 60_000): Promise<number> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.workflow.getHandle(workflowId).result(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${workflowId} did not complete in ${timeoutMs / 1000} s`)), timeoutMs); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  return (Date.now() - started) / 1000;
}

/**
 * A running activity of `type` in the experiment or its fan-out children whose last heartbeat
 * passes `ready` (heartbeats are throttled to one per 10 s: most carry a step, few an epoch's end).
 */
export function activityWhen(client: Client, workflowId: string, type: string, ready: (p: PendingActivity) => boolean, timeoutMs = 10 * 60_000): Promise<PendingActivity> {
  return until(`${type} in ${workflowId}`, async () => {
    const pending = await pendingActivities(client, await runningTree(client, workflowId));
    return pending.find((p) => p.type === type && ready(p));
  }, timeoutMs, 250);
}

/** A trainClassifier attempt in `epoch` or later with a checkpoint published (of `role` if given). */
export function trainingAt(client: Client, workflowId: string, epoch: number, role?: string): Promise<PendingActivity> {
  return activityWhen(client, workflowId, 'trainClassifier', (p) => (p.details?.epoch ?? 0) >= epoch && p.details?.checkpointKey !== undefined
    && (role === undefined || p.details.checkpointKey.includes(`/trainClassifier/${role}/`)));
}

/** The next attempt of `victim`'s activity once a worker other than `victim`'s has heartbeated it. */
export function retriedElsewhere(client: Client, workflowId: string, victim: PendingActivity): Promise<PendingActivity> {
  return activityWhen(client, workflowId, victim.type, (p) => p.activityId === victim.activityId && p.attempt > victim.attempt
    && p.identity !== victim.identity && p.details !== undefined, 3 * 60_000);
}

export function evidence(line: string): void {
  process.stdout.write(`EVIDENCE ${line}\n`);
}
