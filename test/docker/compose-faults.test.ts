/**
 * Opt-in (`npm run test:docker`): the cluster of docker/compose.local.yaml, its parts broken while
 * experiments run, each case asserting on stored state as the local cluster's fault suite does.
 * Needs root, a Docker engine and the images (`npm run docker:build`); `docker:up` is run first.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsFromEnv, type Settings } from '../../core/settings';
import { ArtifactStore } from '../../core/store';
import { submitExperiment } from '../../cli/submit';
import type { ExperimentConfig } from '../../stages/config/schema';
import { activityWhen, completes, completionsPerActivity, evidence, faultExperiment, trainingAt, until, type PendingActivity } from '../faults/cluster';

const HOME = process.env.DIFFUBIAS_HOME ?? '.diffubias';
const DIR = join(HOME, 'docker');
const EXPERIMENT = join(DIR, 'experiment-cmnist-demo.json');
const nonce = 2000 + (Date.now() % 100_000) * 10;

let settings: Settings;
let client: Client;
let connection: Connection;
let store: ArtifactStore;

/** The client environment docker:up wrote (`export K=V` lines). */
function clientEnv(): Record<string, string> {
  return Object.fromEntries(readFileSync(join(DIR, 'client.sh'), 'utf8').split('\n')
    .map((l) => /^export (\w+)=(.*)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null).map((m) => [m[1]!, m[2]!]));
}

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

const container = (service: string) => `diffubias_${service}_1`;

beforeAll(async () => {
  execFileSync('sh', ['docker/up.sh', 'up'], { stdio: 'inherit' });
  settings = settingsFromEnv({ ...process.env, ...clientEnv() });
  connection = await Connection.connect({ address: settings.temporal.address });
  client = new Client({ connection, namespace: settings.temporal.namespace });
  store = new ArtifactStore(settings.s3);
}, 15 * 60_000);
afterAll(async () => {
  store?.destroy();
  await connection?.close();
});

function experiment(seed: number, overrides: Record<string, unknown> = {}): ExperimentConfig {
  return faultExperiment(settings, seed, overrides, EXPERIMENT);
}

async function start(config: ExperimentConfig): Promise<string> {
  return (await submitExperiment(client, config)).workflowId;
}


/** The next attempt of `victim`'s activity, once it heartbeats (a restarted container keeps its identity). */
function nextAttempt(workflowId: string, victim: PendingActivity): Promise<PendingActivity> {
  return activityWhen(client, workflowId, victim.type, (p) => p.activityId === victim.activityId && p.attempt > victim.attempt && p.details !== undefined, 4 * 60_000);
}

describe('the compose cluster under faults', () => {
  it("train worker container killed mid-epoch: its restart policy brings it back and the run resumes from the epoch's checkpoint", async () => {
    const config = experiment(nonce + 1, { train: { ...experiment(0).train, epochs: 6 } });
    const workflowId = await start(config);
    const victim = await trainingAt(client, workflowId, 3);
    const name = container('worker-train');
    const restarts = Number(docker('inspect', '-f', '{{.RestartCount}}', name));
    const logsFrom = new Date().toISOString();
    process.kill(Number(docker('inspect', '-f', '{{.State.Pid}}', name)), 'SIGKILL');
    const killedAt = Date.now();
    await until('the restart policy', async () => Number(docker('inspect', '-f', '{{.RestartCount}}', name)) > restarts || undefined, 60_000, 500);
    const retried = await nextAttempt(workflowId, victim);
    const seconds = (Date.now() - killedAt) / 1000;
    await completes(client, workflowId);
    // The worker logs to stderr: docker keeps both streams.
    const logs = execFileSync('sh', ['-c', `docker logs --since ${logsFrom} ${name} 2>&1`], { encoding: 'utf8' });
    const line = logs.split('\n').find((l) => l.includes('resuming after epoch'));
    expect(line).toBeDefined();
    const counts = await completionsPerActivity(client, workflowId);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    evidence(`train container kill: main process of ${name} killed at epoch ${victim.details?.epoch}; restart policy restarted it (RestartCount ${restarts} -> ${docker('inspect', '-f', '{{.RestartCount}}', name)}); attempt ${retried.attempt} heartbeating ${seconds.toFixed(1)} s after the kill: "${line!.trim().slice(0, 120)}"; completed, each of ${counts.size} activities once`);
  });

  it('Temporal and PostgreSQL containers restarted mid-run: the run completes, each activity once', async () => {
    const config = experiment(nonce + 2, { train: { ...experiment(0).train, epochs: 8 } });
    const workflowId = await start(config);
    const at = await trainingAt(client, workflowId, 2);
    docker('restart', container('postgresql'), container('temporal'));
    const seconds = await completes(client, workflowId);
    const counts = await completionsPerActivity(client, workflowId);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    evidence(`Temporal + PostgreSQL containers restarted at training epoch ${at.details?.epoch}: completed ${seconds.toFixed(0)} s later; ${counts.size} activities, each completed once`);
  });

  it('S3 container stopped for 30 s mid-run: the run completes, each activity once', async () => {
    const config = experiment(nonce + 3, { train: { ...experiment(0).train, epochs: 8 } });
    const workflowId = await start(config);
    const at = await trainingAt(client, workflowId, 2);
    docker('stop', container('s3'));
    await new Promise((r) => setTimeout(r, 30_000));
    docker('start', container('s3'));
    const seconds = await completes(client, workflowId);
    const counts = await completionsPerActivity(client, workflowId);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    evidence(`S3 container stopped for 30 s at training epoch ${at.details?.epoch}: completed ${seconds.toFixed(0)} s after it came back; ${counts.size} activities, each completed once`);
  });
});
