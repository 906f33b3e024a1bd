/**
 * The fault suite against `diffubias dev` (one machine: dev server, embedded S3, one activity
 * worker process): kill its activity worker mid-training, then stop it, and look at what is left.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import { submitExperiment } from '../../cli/submit';
import { TEMPORAL_PORT } from '../../cli/commands/dev';
import { demoConfig } from '../../stages/config/demo';
import { completes, evidence, retriedElsewhere, trainingAt, until } from './cluster';

const ROOT = resolve(__dirname, '..', '..');
// A home of its own: the researcher's dev history and objects are not touched.
const HOME = join(ROOT, '.diffubias', 'faults-dev');
const ADDRESS = `127.0.0.1:${TEMPORAL_PORT}`;

let dev: ChildProcess | undefined;
const lines: string[] = [];

afterAll(async () => {
  if (dev && dev.exitCode === null) {
    dev.kill('SIGINT');
    await new Promise((r) => dev!.once('exit', r));
  }
});

function portAnswers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); done(true); });
    socket.once('error', () => done(false));
  });
}

/** Processes (other than this one) whose command line or environment names `needle`. */
function processesNaming(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const named = ['cmdline', 'environ'].some((f) => readFileSync(`/proc/${entry}/${f}`, 'utf8').includes(needle));
      if (named) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const seen = (pattern: RegExp) => async () => lines.find((l) => pattern.test(l));

describe('diffubias dev under faults', () => {
  it('SIGKILL of its activity worker mid-epoch: restarted with backoff, the run resumes and completes; stopping dev leaves no server behind', async () => {
    expect(await portAnswers(TEMPORAL_PORT), `something already listens on ${ADDRESS}: stop that dev stack first`).toBe(false);
    const env: NodeJS.ProcessEnv = { ...process.env, DIFFUBIAS_HOME: HOME };
    delete env.TEMPORAL_ADDRESS;
    dev = spawn(process.execPath, [join(ROOT, 'bin', 'diffubias.js'), 'dev'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [dev.stdout!, dev.stderr!]) createInterface({ input: stream }).on('line', (l) => lines.push(l));
    await until('the dev stack to serve every queue', seen(/worker serving cpu, train, caption, generate/), 5 * 60_000, 500);

    const connection = await Connection.connect({ address: ADDRESS });
    try {
      const client = new Client({ connection, namespace: 'default' });
      const config = demoConfig(1, 2000 + (Date.now() % 100_000), {
        train: { epochs: 6, batchSize: 256, lr: 1e-3 }, topK: { k: 3, mode: 'per-class', score: 'ce' },
        caption: { ...demoConfig(1, 0).caption, perImage: 1 }, generate: { ...demoConfig(1, 0).generate, images: 100, batchSize: 50, repeat: 1 },
      });
      const { workflowId } = await submitExperiment(client, config);
      const victim = await trainingAt(client, workflowId, 2);
      const pid = Number(victim.identity.split('@')[0]);
      expect(pid).not.toBe(dev.pid);
      process.kill(pid, 'SIGKILL');
      const killedAt = Date.now();
      const restarted = await until('the supervisor to restart the activity worker', seen(/exited with SIGKILL; restarting it in \d+ s \(restart 1\)/), 30_000);
      const retried = await retriedElsewhere(client, workflowId, victim);
      const seconds = (Date.now() - killedAt) / 1000;
      await completes(client, workflowId);
      const resumed = lines.find((l) => l.includes('resuming after epoch'));
      expect(resumed).toBeDefined();
      expect(Number(retried.identity.split('@')[0])).not.toBe(pid);

      dev.kill('SIGINT');
      const code = await new Promise<number | null>((r) => dev!.once('exit', (c) => r(c)));
      const leftOver = processesNaming(HOME);
      expect(leftOver).toEqual([]);
      expect(await portAnswers(TEMPORAL_PORT)).toBe(false);
      evidence(`dev: activity worker ${pid} killed at ${victim.details?.epoch !== undefined ? `epoch ${victim.details.epoch}` : 'training'}; "${restarted.trim().slice(0, 140)}"; attempt ${retried.attempt} on the new worker after ${seconds.toFixed(1)} s: "${resumed!.trim().slice(0, 100)}"; completed; dev stopped by SIGINT (exit ${code}): no process left naming its home, nothing on :${TEMPORAL_PORT}`);
    } finally {
      await connection.close();
    }
  });
});
