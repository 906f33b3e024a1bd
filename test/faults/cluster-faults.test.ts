/**
 * The fault suite against the local cluster (docs/cluster.md): each case breaks one part while an
 * experiment runs and asserts on what Temporal and S3 hold afterwards. Opt-in: `npm run test:faults`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import { clusterUp } from '../../cli/cluster/cluster';
import { stopProcess } from '../../cli/cluster/processes';
import { stopPostgres } from '../../cli/cluster/postgres';
import { clusterPaths } from '../../cli/cluster/cluster';
import { submitExperiment, experimentIdentity } from '../../cli/submit';
import { unitPointerKey, type UnitPointer } from '../../stages/runner/stage-runner';
import { readListedFile, type Manifest } from '../../stages/runner/manifest';
import { decodeTensors } from '../../engines/classifier/weights';
import { parseSweepConfig, type ExperimentConfig } from '../../stages/config/schema';
import { planSweep, submitSweep } from '../../cli/submit';
import { imageName } from '../../stages/generate-batch';
import { readGeneratedRows } from '../../stages/generated-rows';
import type { SweepResult } from '../../workflows/sweep';
import type { ExperimentResult, GeneratedManifestKey } from '../../stages/contracts';
import {
  activityWhen, completes, completionsPerActivity, evidence, faultExperiment, historyOf, openCluster, processes, retriedElsewhere, trainingAt, until,
  workerByIdentity, type Cluster, type PendingActivity,
} from './cluster';
import { defaultPayloadConverter } from '@temporalio/common';
import { ArtifactStore } from '../../core/store';
import { runStageUnit } from '../../stages/runner/stage-runner';
import { STAGE_VERSIONS } from '../../stages/activity-table';
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
    const { outputs } = await runStageUnit(reference, { experimentId: input.experimentId, stage: 'trainClassifier', version: STAGE_VERSIONS.trainClassifier, unit: input.role, inputs: input }, { progress() {} }, (ctx) => trainClassifierEngine(input, ctx));
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


describe('the cluster under faults', () => {
  it('SIGKILL of a train worker mid-epoch: the other resumes from the last epoch checkpoint within about a minute', async () => {
    const config = faultExperiment(cluster.settings, nonce + 1, { train: { ...faultExperiment(cluster.settings, 0).train, epochs: 6 } });
    const workflowId = await start(config);
    const victim = await trainingAt(cluster.client, workflowId, 3);
    const worker = workerByIdentity(cluster.settings, victim.identity);
    expect(worker, `worker ${victim.identity}`).toBeDefined();
    process.kill(worker!.workerPid, 'SIGKILL');
    const killedAt = Date.now();
    const retried = await retriedElsewhere(cluster.client, workflowId, victim);
    const seconds = (Date.now() - killedAt) / 1000;
    const taker = workerByIdentity(cluster.settings, retried.identity)!;
    expect(seconds).toBeLessThan(90);
    await completes(cluster.client, workflowId);
    const resumedLine = readFileSync(taker.log, 'utf8').split('\n').find((l) => l.includes('resuming after epoch'));
    expect(resumedLine).toBeDefined();
    const input = await scheduledInput<TrainClassifierInput>(workflowId, victim.activityId);
    const { manifestKey } = await pointer(config, 'trainClassifier', input.role);
    const resumed = await weightsAt(cluster.store, (await cluster.store.getJson<Manifest<TrainClassifierOutput>>(manifestKey))!.outputs.modelKey);
    const reference = await uninterruptedWeights(input);
    const maxDiff = maxAbsDiff(reference, resumed);
    expect(maxDiff).toBe(0);
    evidence(`train kill: ${worker!.name} killed during ${input.role} at epoch ${victim.details?.epoch}; ${taker.name} took attempt ${retried.attempt} after ${seconds.toFixed(1)} s: "${resumedLine!.trim()}"; experiment completed; its weights equal an uninterrupted run's (max |diff| ${maxDiff})`);
    // Restarted for the cases after this one.
    await clusterUp(cluster.settings, () => {});
  });

  it('duplicate submission (twice at once, then after completion): one execution', async () => {
    const config = faultExperiment(cluster.settings, nonce + 2);
    const [a, b] = await Promise.all([submitExperiment(cluster.client, config), submitExperiment(cluster.client, config)]);
    expect(a.workflowId).toBe(b.workflowId);
    await completes(cluster.client, a.workflowId);
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
    await completes(cluster.client, await start(second));
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
    const at = await trainingAt(cluster.client, workflowId, 2);
    const gateway = processes(cluster.settings)['s3-gateway']!;
    await stopProcess(gateway);
    await new Promise((r) => setTimeout(r, 30_000));
    await clusterUp(cluster.settings, () => {});
    const seconds = await completes(cluster.client, workflowId);
    const attempts = Math.max(...(await completionsPerActivity(cluster.client, workflowId)).values());
    evidence(`S3 outage: gateway stopped for 30 s at training epoch ${at.details?.epoch}; the experiment completed ${seconds.toFixed(0)} s after it came back; each activity completed once (max ${attempts})`);
    expect(attempts).toBe(1);
  });

  it('Temporal server and PostgreSQL restarted mid-run: the run completes, nothing stored is redone', async () => {
    // Eight epochs (~3 s each here): heartbeats are throttled to one per 10 s, so a short training
    // can end before one of them shows a checkpoint.
    const config = faultExperiment(cluster.settings, nonce + 4, { train: { ...faultExperiment(cluster.settings, 0).train, epochs: 8 } });
    const workflowId = await start(config);
    await trainingAt(cluster.client, workflowId, 2);
    const server = processes(cluster.settings)['temporal-server']!;
    await stopProcess(server);
    stopPostgres(clusterPaths(cluster.settings).root, () => {});
    await new Promise((r) => setTimeout(r, 5_000));
    await clusterUp(cluster.settings, () => {});
    await completes(cluster.client, workflowId);
    const counts = await completionsPerActivity(cluster.client, workflowId);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    evidence(`Temporal + PostgreSQL restart during training: completed; ${counts.size} activities in the experiment's history, each completed once`);
  });

  it('a torn checkpoint (cut short after a kill): refused by its sha256, training starts over, same weights', async () => {
    const config = faultExperiment(cluster.settings, nonce + 5, { train: { ...faultExperiment(cluster.settings, 0).train, epochs: 6 } });
    const workflowId = await start(config);
    const running = await trainingAt(cluster.client, workflowId, 2);
    const worker = workerByIdentity(cluster.settings, running.identity)!;
    process.kill(worker.workerPid, 'SIGKILL');
    // The checkpoint the retry is handed: the one named in the last heartbeat the server kept.
    const last = await activityWhen(cluster.client, workflowId, 'trainClassifier', (p) => p.activityId === running.activityId);
    const key = last.details!.checkpointKey!;
    const whole = (await cluster.store.get(key))!;
    await cluster.store.put(key, whole.subarray(0, Math.floor(whole.length / 2)));
    const retried = await retriedElsewhere(cluster.client, workflowId, last);
    const taker = workerByIdentity(cluster.settings, retried.identity)!;
    await completes(cluster.client, workflowId);
    const refused = readFileSync(taker.log, 'utf8').split('\n').find((l) => l.includes(`checkpoint ${key} does not match its sha256`));
    expect(refused).toBeDefined();
    const input = await scheduledInput<TrainClassifierInput>(workflowId, last.activityId);
    const { manifestKey } = await pointer(config, 'trainClassifier', input.role);
    const trained = await weightsAt(cluster.store, (await cluster.store.getJson<Manifest<TrainClassifierOutput>>(manifestKey))!.outputs.modelKey);
    const maxDiff = maxAbsDiff(await uninterruptedWeights(input), trained);
    expect(maxDiff).toBe(0);
    evidence(`torn checkpoint: ${worker.name} killed during ${input.role} epoch ${last.details?.epoch}; ${key.slice(key.lastIndexOf('/') + 1)} cut from ${whole.length} to ${Math.floor(whole.length / 2)} bytes; ${taker.name}: "${refused!.trim().slice(0, 160)}"; completed with weights equal to an uninterrupted run's (max |diff| ${maxDiff})`);
    await clusterUp(cluster.settings, () => {});
  });

  it('SIGKILL of the generate worker mid-batch: no duplicate or missing images; the manifest lists exactly the batch', async () => {
    const base = faultExperiment(cluster.settings, 0);
    const config = faultExperiment(cluster.settings, nonce + 6, { generate: { ...base.generate, images: 1200, batchSize: 1200 } });
    const workflowId = await start(config);
    const running = await activityWhen(cluster.client, workflowId, 'generateBatch', (p) => (p.details?.done ?? 0) >= 200, 15 * 60_000);
    const worker = workerByIdentity(cluster.settings, running.identity)!;
    process.kill(worker.workerPid, 'SIGKILL');
    const last = await activityWhen(cluster.client, workflowId, 'generateBatch', (p) => p.activityId === running.activityId);
    // One generate worker in this cluster: its supervisor starts it again, and says so.
    const logFrom = statSync(worker.log).size;
    const retried = await retriedElsewhere(cluster.client, workflowId, last);
    await completes(cluster.client, workflowId);
    const after = readFileSync(worker.log, 'utf8').slice(logFrom).split('\n');
    const restartedLine = after.find((l) => /activity worker \(generate\) exited with SIGKILL; restarting it in \d+ s/.test(l));
    expect(restartedLine).toBeDefined();
    const reusedLine = after.find((l) => /reusing \d+ images of a previous attempt/.test(l));
    expect(reusedLine).toBeDefined();
    const batch = await exactBatch(config, 0, 1200);
    evidence(`generate kill: ${worker.name}'s worker killed at ${last.details?.done}/${last.details?.total} images stored; its supervisor: "${restartedLine!.trim().slice(0, 100)}"; attempt ${retried.attempt} on the restarted worker: "${reusedLine!.trim().slice(0, 120)}"; ${batch}`);
  });

  it('S3 unavailable for 30 s during generation: the run completes, every batch exactly once', async () => {
    const base = faultExperiment(cluster.settings, 0);
    const config = faultExperiment(cluster.settings, nonce + 7, { generate: { ...base.generate, images: 1200, batchSize: 600 } });
    const workflowId = await start(config);
    const at = await activityWhen(cluster.client, workflowId, 'generateBatch', (p) => (p.details?.done ?? 0) >= 100, 15 * 60_000);
    await stopProcess(processes(cluster.settings)['s3-gateway']!);
    await new Promise((r) => setTimeout(r, 30_000));
    await clusterUp(cluster.settings, () => {});
    const seconds = await completes(cluster.client, workflowId);
    const batches = [await exactBatch(config, 0, 600, 0), await exactBatch(config, 1, 600, 600)];
    evidence(`S3 outage in generation: gateway stopped for 30 s at ${at.details?.done}/${at.details?.total} images of a batch; completed ${seconds.toFixed(0)} s after it came back; ${batches.join('; ')}`);
  });

  it('cancel mid-stage: no partial manifest; a re-run reuses every complete stage', async () => {
    // Twenty epochs (~50 s of f_D here): the cancellation reaches a worker with a heartbeat's
    // answer (one per 10 s), so a short training can finish, and publish, before it arrives.
    const config = faultExperiment(cluster.settings, nonce + 8, { train: { ...faultExperiment(cluster.settings, 0).train, epochs: 20 } });
    const { experimentId } = experimentIdentity(config);
    const workflowId = await start(config);
    const running = await trainingAt(cluster.client, workflowId, 2, 'debiased');
    const dir = running.details!.checkpointKey!.slice(0, running.details!.checkpointKey!.lastIndexOf('/'));
    const handle = cluster.client.workflow.getHandle(workflowId);
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    // Cancellation reaches the attempt with its next heartbeat; it stops without publishing.
    const worker = workerByIdentity(cluster.settings, running.identity)!;
    const stopped = await until('the cancelled training to stop', async () =>
      readFileSync(worker.log, 'utf8').split('\n').find((l) => l.includes('trainClassifier/debiased cancelled; no manifest written')), 2 * 60_000, 500);
    expect(await cluster.store.size(`${dir}/manifest.json`)).toBeNull();
    expect(await cluster.store.size(unitPointerKey(experimentId, 'trainClassifier', 'debiased'))).toBeNull();
    const completeBefore = (await cluster.store.list(`runs/${experimentId}/`)).filter((k) => k.endsWith('.json'));

    const again = await submitExperiment(cluster.client, config);
    expect(again.state).toBe('started');
    await completes(cluster.client, workflowId);
    const notReused: string[] = [];
    for (const key of completeBefore) if (!(await cluster.store.getJson<UnitPointer>(key))!.reused) notReused.push(key);
    expect(notReused).toEqual([]);
    expect(await cluster.store.getJson<UnitPointer>(unitPointerKey(experimentId, 'trainClassifier', 'debiased'))).toMatchObject({ reused: false });
    evidence(`cancel: cancelled in trainClassifier/debiased epoch ${running.details?.epoch}; ${worker.name}: "${stopped.trim().slice(0, 100)}"; no ${dir}/manifest.json, no unit pointer; re-run ${again.state} and reused all ${completeBefore.length} units stored before the cancel (not reused: ${notReused.length}), then trained debiased afresh`);
  });

  it('a 12-cell sweep, parallelism 3, over 2 train workers (one cell first submitted alone): completes, the work spread, each cell computed once', async () => {
    const base = faultExperiment(cluster.settings, 0, { train: { ...faultExperiment(cluster.settings, 0).train, epochs: 2 } });
    const { dataset: _d, ratio: _r, seed: _s, ...method } = base;
    const seeds = [nonce + 10, nonce + 11, nonce + 12];
    const plan = planSweep(parseSweepConfig({ datasets: ['cmnist'], ratios: [0.5, 1, 2, 5], seeds, parallelism: 3, base: method }));
    expect(plan.cells).toHaveLength(12);
    const alone = plan.cells[0]!;
    await submitExperiment(cluster.client, alone.input.config);
    const started = Date.now();
    const { workflowId } = await submitSweep(cluster.client, plan);
    const result = (await Promise.race([
      cluster.client.workflow.getHandle(workflowId).result(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('sweep did not complete in 55 min')), 55 * 60_000)),
    ])) as SweepResult;
    const minutes = (Date.now() - started) / 60_000;
    expect(result.experiments.filter((e) => e.status !== 'completed')).toEqual([]);

    const byCell: string[] = [];
    const trainWorkers = new Set<string>();
    for (const cell of plan.cells) {
      const { executions } = await cluster.client.workflowService.listWorkflowExecutions({ namespace: 'default', query: `WorkflowId = '${cell.workflowId}'` });
      // The oldest run computed the cell; a later one (the sweep's, after the cell ran alone) only reused it.
      const ran = await trainedBy(cell.workflowId, executions!.at(-1)!.execution!.runId!);
      ran.forEach((w) => trainWorkers.add(w));
      const { config } = cell.input;
      byCell.push(`${config.ratio}%/seed ${config.seed}: ${ran.join(' ')}`);
    }
    expect(trainWorkers).toEqual(new Set(['worker-train-1', 'worker-train-2']));
    // The cell submitted alone ran once on its own; the sweep's run of it found every stage stored.
    const rerun = (await cluster.client.workflow.getHandle(alone.workflowId).result()) as ExperimentResult;
    // prepareDataset is keyed by the dataset's content, which the first run built: the second checks it again (nothing is rebuilt).
    expect(rerun.reuse!.filter((r) => r.reused < r.units && r.stage !== 'prepareDataset')).toEqual([]);
    evidence(`sweep: 12 cells, parallelism 3, completed in ${minutes.toFixed(1)} min; train activities by worker per cell (biased, vanilla, debiased in start order): ${byCell.join('; ')}; cell ${alone.input.config.ratio}%/seed ${alone.input.config.seed} submitted alone first was waited for and then reused all ${rerun.reuse!.reduce((n, r) => n + r.units, 0)} units`);
   }, 60 * 60_000);
});

function maxAbsDiff(a: number[][], b: number[][]): number {
  let max = 0;
  a.forEach((w, i) => w.forEach((v, j) => { max = Math.max(max, Math.abs(v - b[i]![j]!)); }));
  return max;
}

/** Checks that generate batch `index` holds exactly images [first, first + count): listed, stored and in its rows. */
async function exactBatch(config: ExperimentConfig, index: number, count: number, first = 0): Promise<string> {
  const { manifestKey } = await pointer(config, 'generateBatch', `batch-${String(index).padStart(5, '0')}`);
  const manifest = (await cluster.store.getJson<Manifest>(manifestKey))!;
  const dir = manifestKey.slice(0, manifestKey.lastIndexOf('/'));
  const expected = Array.from({ length: count }, (_, i) => `${dir}/${imageName(first + i)}`).sort();
  expect(manifest.files.map((f) => f.key).filter((k) => k.startsWith(`${dir}/images/`)).sort()).toEqual(expected);
  expect((await cluster.store.list(`${dir}/images/`)).sort()).toEqual(expected);
  const rows = await readGeneratedRows(cluster.store, manifestKey as GeneratedManifestKey);
  expect(rows.map((r) => r.key).sort()).toEqual(expected);
  return `batch ${index}: manifest lists exactly images ${first}-${first + count - 1} (${expected.length} keys, 0 duplicates), ${expected.length} objects stored under images/, ${rows.length} rows`;
}

/** The cluster worker that started each trainClassifier attempt of one run, in order. */
async function trainedBy(workflowId: string, runId: string): Promise<string[]> {
  const names: string[] = [];
  const history = await cluster.client.workflow.getHandle(workflowId, runId).fetchHistory();
  const scheduled = new Map<number, string>();
  for (const e of history.events ?? []) {
    if (e.activityTaskScheduledEventAttributes) scheduled.set(Number(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
    const started = e.activityTaskStartedEventAttributes;
    if (started && scheduled.get(Number(started.scheduledEventId)) === 'trainClassifier') names.push(workerName(started.identity ?? ''));
  }
  return names;
}

function workerName(identity: string): string {
  const pid = Number(identity.split('@')[0]);
  const proc = Object.values(processes(cluster.settings)).find((p) => p.pid === pid);
  return proc?.name ?? identity;
}
