import { defaultPayloadConverter, type Client } from '@temporalio/client';
import { progressQuery, type Progress } from '../workflows/definitions';

/** Innermost cause of a workflow failure: the activity's own message. */
export function rootCause(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}

const QUERY_DEADLINE_MS = 5000;

export interface Snapshot {
  workflowId: string;
  status: string;
  progress?: Progress;
  /** Progress of the running child (fan-out chunk or sweep cell), when there is one. */
  child?: Progress & { workflowId: string };
  /** A sweep: every running experiment's progress (the sweep runs a few at a time). */
  experiments?: (Progress & { workflowId: string })[];
  /** Last heartbeat of each running activity: epoch, step, done/total. */
  activities: { type: string; attempt: number; details?: unknown }[];
  /** Running, but no workflow worker answered the progress query. */
  noWorker?: boolean;
  /** Why it failed, when it did: the innermost cause (e.g. the stage and file at fault). */
  failure?: string;
}

/** One look at a workflow: its status, its progress query, its running activities' heartbeats. */
export async function snapshot(client: Client, workflowId: string): Promise<Snapshot> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  const status = description.status.name;
  const out: Snapshot = { workflowId, status, activities: [] };
  for (const pending of description.raw.pendingActivities ?? []) {
    const payload = pending.heartbeatDetails?.payloads?.[0];
    out.activities.push({
      type: pending.activityType?.name ?? '?',
      attempt: pending.attempt ?? 1,
      details: payload ? defaultPayloadConverter.fromPayload(payload) : undefined,
    });
  }
  if (status === 'FAILED' || status === 'TIMED_OUT') {
    out.failure = await handle.result().then(() => undefined, (err: unknown) => rootCause(err));
  }
  if (status !== 'RUNNING') return out;
  // A query needs a worker to answer; without one it would wait for the server's long timeout.
  const ask = (id: string) =>
    client.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => client.workflow.getHandle(id).query(progressQuery)).catch(() => undefined);
  out.progress = await ask(workflowId);
  if (!out.progress) out.noWorker = true;
  if (out.progress?.stage === 'experiments') {
    const children = await Promise.all(out.progress.children.map(async (id) => {
      const progress = await ask(id);
      // An experiment in a fan-out counts per chunk; its running chunk counts per unit.
      const chunkId = progress?.children[0];
      const chunk = chunkId ? await ask(chunkId) : undefined;
      return { id, progress: progress && chunk ? { ...progress, done: progress.done + chunk.done, total: progress.total } : progress };
    }));
    out.experiments = children.flatMap((c) => (c.progress ? [{ ...c.progress, workflowId: c.id }] : []));
    return out;
  }
  const childId = out.progress?.children[0];
  if (childId) {
    const child = await ask(childId);
    if (child) out.child = { ...child, workflowId: childId };
  }
  return out;
}

export function formatSnapshot(s: Snapshot): string {
  if (s.noWorker) return `${s.workflowId}: ${s.status}, but no worker answered (is \`diffubias worker\` or \`dev\` running?)`;
  if (!s.progress) return `${s.workflowId}: ${s.status}${s.failure ? `: ${s.failure}` : ''}`;
  const p = s.progress;
  if (s.experiments) {
    // `diffubias/cmnist/1/0/<hash>` -> `cmnist 1% seed 0`: which experiment, and where it is.
    const name = (id: string) => {
      const [, dataset, ratio, seed] = id.split('/');
      return seed === undefined ? id : `${dataset} ${ratio}% seed ${seed}`;
    };
    const running = s.experiments.map((e) => `${name(e.workflowId)}: ${e.stage}${e.total > 0 ? ` ${e.done}/${e.total}` : ''}${e.paused ? ' (paused)' : ''}`);
    return `${s.workflowId}: experiments ${p.done}/${p.total} done${running.length ? ` | ${running.join(' | ')}` : ''}${p.paused ? ' | PAUSED' : ''}`;
  }
  const parts = [`stage ${p.stage}`];
  const counts = s.child ?? p;
  if (counts.total > 0) parts.push(`${counts.done}/${counts.total}`);
  for (const a of s.activities) {
    const d = a.details as { unit?: string; epoch?: number; step?: number; done?: number; total?: number } | undefined;
    const bits = [
      d?.epoch !== undefined ? `epoch ${d.epoch}` : '',
      d?.step !== undefined ? `step ${d.step}${d.total !== undefined ? `/${d.total}` : ''}` : d?.total !== undefined ? `${d.done ?? 0}/${d.total}` : '',
    ].filter(Boolean);
    if (bits.length > 0 || a.attempt > 1) parts.push(`${a.type}${d?.unit ? ` ${d.unit}` : ''}${a.attempt > 1 ? ` (attempt ${a.attempt})` : ''} ${bits.join(' ')}`.trim());
  }
  if (p.paused) parts.push('PAUSED');
  return `${s.workflowId}: ${parts.join(' | ')}`;
}
