/**
 * The fault suite against the local cluster (docs/cluster.md): each case breaks one part while an
 * experiment runs and asserts on what Temporal and S3 hold afterwards. Opt-in: `npm run test:faults`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { clusterUp } from '../../cli/cluster/cluster';
import { stopProcess } from '../../cli/cluster/processes';
import { stopPostgres } from '../../cli/cluster/postgres';
import { clusterPaths } from '../../cli/cluster/cluster';
import { submitExperiment, experimentIdentity } from '../../cli/submit';
import { unitPointerKey, type UnitPointer } from '../../stages/runner/stage-runner';
import { readListedFile, type Manifest } from '../../stages/runner/manifest';
import { decodeTensors } from '../../engines/classifier/weights';
import type { ExperimentConfig } from '../../stages/config/schema';
import { evidence, faultExperiment, historyOf, openCluster, pendingActivities, processes, until, workerByIdentity, type Cluster } from './cluster';
import { defaultPayloadConverter } from '@temporalio/common';
import { ArtifactStore } from '../../core/store';
import { runStageUnit } from '../../stages/runner/stage-runner';
import { trainClassifierEngine } from '../../stages/classifier-stages';
import type { TrainClassifierInput, TrainClassifierOutput } from '../../stages/contracts';

let cluster: Cluster;
// Fresh seeds per run of the suite: nothing may be reused from an earlier one.
const nonce = 1000 + (Date.now() % 100_000) * 10;

beforeAll(async () => {
  cluster = await openCluster();
});
afterAll(async () => {
  await cluster?.close();
});

async function start(config: ExperimentConfig): Promise<string> {
  const { workflowId } = await submitExperiment(cluster.client, config);
  return workflowId;
}

async function completes(workflowId: string, timeoutMs = 20 * 60_000): Promise<number> {
  const started = Date.now();
  await Promise.race([
    cluster.client.workflow.getHandle(workflowId).result(),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${workflowId} did not complete in ${timeoutMs / 1000} s`)), timeoutMs)),
  ]);
  return (Date.now() - started) / 1000;
}

/**
 * A running trainClassifier attempt once its heartbeat says it is in `epoch` or later with a
 * checkpoint published (heartbeats are throttled: most carry a step, few the end of an epoch).
 */
function trainingAt(workflowId: string, epoch: number) {
  return until(`training at epoch ${epoch} with a checkpoint`, async () => {
    const pending = await pendingActivities(cluster.client, [workflowId]);
    return pending.find((p) => p.type === 'trainClassifier' && (p.details?.epoch ?? 0) >= epoch && p.details?.checkpointKey !== undefined);
  }, 10 * 60_000, 250);
}

async function pointer(config: ExperimentConfig, stage: string, unit: string): Promise<UnitPointer> {
  const { experimentId } = experimentIdentity(config);
  return (await cluster.store.getJson<UnitPointer>(unitPointerKey(experimentId, stage, unit)))!;
}

/** The input an activity was scheduled with, from the experiment's history. */
async function scheduledInput<T>(workflowId: string, activityId: string): Promise<T> {
  for (const e of await historyOf(cluster.client, workflowId)) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a?.activityId === activityId) return defaultPayloadConverter.fromPayload(a.input!.payloads![0]!);
  }
  throw new Error(`no activity ${activityId} in ${workflowId}`);
}

/** The same training run uninterrupted, in this process on the same backend, into a store prefix of its own. */
async function uninterruptedWeights(input: TrainClassifierInput): Promise<number[][]> {
  const reference = new ArtifactStore({ ...cluster.store.settings, prefix: `fault-reference/${nonce}` });
  try {
    const { outputs } = await runStageUnit(reference, { experimentId: input.experimentId, stage: 'trainClassifier', unit: input.role, inputs: input }, { progress() {} }, (ctx) => trainClassifierEngine(input, ctx));
    return weightsAt(reference, outputs.modelKey);
  } finally {
    reference.destroy();
  }
}

async function weightsAt(store: ArtifactStore, modelKey: string): Promise<number[][]> {
  const bytes = (await store.get(modelKey))!;
  const { groups } = decodeTensors(bytes, modelKey);
  return (groups.weights ?? []).map((t) => Array.from(t.data));
}

/** Every activity completed exactly once in the experiment's own history. */
async function completionsPerActivity(workflowId: string): Promise<Map<string, number>> {
  const scheduled = new Map<number, string>();
  const counts = new Map<string, number>();
  for (const e of await historyOf(cluster.client, workflowId)) {
    const id = Number(e.eventId);
    if (e.activityTaskScheduledEventAttributes) scheduled.set(id, e.activityTaskScheduledEventAttributes.activityId ?? '');
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const activityId = scheduled.get(Number(done.scheduledEventId)) ?? '?';
      counts.set(activityId, (counts.get(activityId) ?? 0) + 1);
    }
  }
  return counts;
}

describe('the cluster under faults', () => {
  it('SIGKILL of a train worker mid-epoch: the other resumes from the last epoch checkpoint within about a minute', async () => {
    const config = faultExperiment(cluster.settings, nonce + 1, { train: { ...faultExperiment(cluster.settings, 0).train, epochs: 6 } });
    const workflowId = await start(config);
    const victim = await trainingAt(workflowId, 3);
    const worker = workerByIdentity(cluster.settings, victim.identity);
    expect(worker, `worker ${victim.identity}`).toBeDefined();
    process.kill(worker!.pid, 'SIGKILL');
    const killedAt = Date.now();
    const retried = await until('the attempt after the kill', async () => {
      const pending = await pendingActivities(cluster.client, [workflowId]);
      return pending.find((p) => p.activityId === victim.activityId && p.attempt > victim.attempt && p.identity !== victim.identity && p.details !== undefined);
    }, 3 * 60_000, 250);
    const seconds = (Date.now() - killedAt) / 1000;
    const taker = workerByIdentity(cluster.settings, retried.identity)!;
    expect(seconds).toBeLessThan(90);
    await completes(workflowId);
    const resumedLine = readFileSync(taker.log, 'utf8').split('\n').find((l) => l.includes('resuming after epoch'));
    expect(resumedLine).toBeDefined();
    const input = await scheduledInput<TrainClassifierInput>(workflowId, victim.activityId);
    const { manifestKey } = await pointer(config, 'trainClassifier', input.role);
    const resumed = await weightsAt(cluster.store, (await cluster.store.getJson<Manifest<TrainClassifierOutput>>(manifestKey))!.outputs.modelKey);
    const reference = await uninterruptedWeights(input);
    let maxDiff = 0;
    reference.forEach((w, i) => w.forEach((v, j) => { maxDiff = Math.max(maxDiff, Math.abs(v - resumed[i]![j]!)); }));
    expect(maxDiff).toBe(0);
    evidence(`train kill: ${worker!.name} killed during ${input.role} at epoch ${victim.details?.epoch}; ${taker.name} took attempt ${retried.attempt} after ${seconds.toFixed(1)} s: "${resumedLine!.trim()}"; experiment completed; its weights equal an uninterrupted run's (max |diff| ${maxDiff})`);
    // Restarted for the cases after this one.
    await clusterUp(cluster.settings, () => {});
  });

  it('duplicate submission (twice at once, then after completion): one execution', async () => {
    const config = faultExperiment(cluster.settings, nonce + 2);
    const [a, b] = await Promise.all([submitExperiment(cluster.client, config), submitExperiment(cluster.client, config)]);
    expect(a.workflowId).toBe(b.workflowId);
    await completes(a.workflowId);
    const again = await submitExperiment(cluster.client, config);
    expect(again.state).toBe('completed');
    const { executions } = await cluster.client.workflowService.listWorkflowExecutions({ namespace: 'default', query: `WorkflowId = '${a.workflowId}'` });
    expect(executions).toHaveLength(1);
    evidence(`duplicates: submitted 3 times (2 at once: ${a.state}/${b.state}; after completion: ${again.state}); executions of ${a.workflowId}: ${executions!.length}`);
  });

  it('a stored model altered in place (same size): detected by its sha256, recomputed, never used', async () => {
    const first = faultExperiment(cluster.settings, nonce + 2);
    const { manifestKey } = await pointer(first, 'trainClassifier', 'biased');
    const manifest = (await cluster.store.getJson<Manifest>(manifestKey))!;
    const model = manifest.files.find((f) => f.key.endsWith('/model.bin'))!;
    const bytes = (await cluster.store.get(model.key))!;
    bytes[bytes.length - 8] = bytes[bytes.length - 8]! ^ 0x55;
    await cluster.store.put(model.key, bytes);
    await expect(readListedFile(cluster.store, model.key)).rejects.toThrow(/do not match the sha256/);

    const second = faultExperiment(cluster.settings, nonce + 2, { generate: { ...first.generate, images: 150 } });
    await completes(await start(second));
    const biased = await pointer(second, 'trainClassifier', 'biased');
    const vanilla = await pointer(second, 'trainClassifier', 'vanilla');
    expect(biased).toMatchObject({ manifestKey, reused: false });
    expect(vanilla.reused).toBe(true);
    // The recomputed model matches its new manifest (its header records this run's timings, so its size may differ).
    await expect(readListedFile(cluster.store, model.key)).resolves.toBeInstanceOf(Buffer);
    evidence(`altered object: ${model.key} (one byte changed, size kept) refused on read; the next experiment recomputed trainClassifier/biased (reused: ${biased.reused}) and reused trainClassifier/vanilla (reused: ${vanilla.reused})`);
  });

  it('S3 unavailable for 30 s during training: the run completes', async () => {
    const config = faultExperiment(cluster.settings, nonce + 3, { train: { ...faultExperiment(cluster.settings, 0).train, epochs: 6 } });
    const workflowId = await start(config);
    const at = await trainingAt(workflowId, 2);
    const gateway = processes(cluster.settings)['s3-gateway']!;
    await stopProcess(gateway);
    await new Promise((r) => setTimeout(r, 30_000));
    await clusterUp(cluster.settings, () => {});
    const seconds = await completes(workflowId);
    const attempts = Math.max(...(await completionsPerActivity(workflowId)).values());
    evidence(`S3 outage: gateway stopped for 30 s at training epoch ${at.details?.epoch}; the experiment completed ${seconds.toFixed(0)} s after it came back; each activity completed once (max ${attempts})`);
    expect(attempts).toBe(1);
  });

  it('Temporal server and PostgreSQL restarted mid-run: the run completes, nothing stored is redone', async () => {
    // Eight epochs (~3 s each here): heartbeats are throttled to one per 10 s, so a short training
    // can end before one of them shows a checkpoint.
    const config = faultExperiment(cluster.settings, nonce + 4, { train: { ...faultExperiment(cluster.settings, 0).train, epochs: 8 } });
    const workflowId = await start(config);
    await trainingAt(workflowId, 2);
    const server = processes(cluster.settings)['temporal-server']!;
    await stopProcess(server);
    stopPostgres(clusterPaths(cluster.settings).root, () => {});
    await new Promise((r) => setTimeout(r, 5_000));
    await clusterUp(cluster.settings, () => {});
    await completes(workflowId);
    const counts = await completionsPerActivity(workflowId);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    evidence(`Temporal + PostgreSQL restart during training: completed; ${counts.size} activities in the experiment's history, each completed once`);
  });
});
