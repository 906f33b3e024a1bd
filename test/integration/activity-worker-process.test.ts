/** The dev stack's activity worker runs as a child process: it polls, stops on request, and a crash is reported. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnActivityWorker, superviseActivityWorker } from '../../cli/stack/activity-worker-process';
import { TASK_QUEUES } from '../../stages/activity-table';
import { startHarness, type Harness } from '../support/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ engines: {}, queues: [] });
});
afterAll(async () => {
  await h?.close();
});

function childEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: h.stack.address,
    DIFFUBIAS_S3_ENDPOINT: h.stack.s3!.endpoint,
    DIFFUBIAS_S3_BUCKET: h.store.settings.bucket,
    AWS_ACCESS_KEY_ID: h.stack.s3!.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: h.stack.s3!.credentials.secretAccessKey,
  };
}

/** The identities (`<pid>@<host>`) the server lists as polling the queue: dead pollers stay listed for a while. */
async function pollers(queue: string): Promise<string[]> {
  const { pollers: listed } = await h.stack.client.workflowService.describeTaskQueue({
    namespace: 'default',
    taskQueue: { name: queue },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  return (listed ?? []).map((p) => p.identity ?? '').filter((id) => id !== '');
}

/** Waits until someone not in `except` polls the queue; returns its identity. */
async function untilPolled(queue: string, timeoutMs = 90_000, except: readonly string[] = []): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const fresh = (await pollers(queue)).filter((id) => !except.includes(id));
    if (fresh.length > 0) return fresh[0]!;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`nobody polled ${queue}`);
}

describe('activity worker process', () => {
  it('serves its queues and stops on request', async () => {
    const lines: string[] = [];
    const worker = spawnActivityWorker({ queues: ['cpu'], env: childEnv(), quiet: false, log: (l) => lines.push(l) });
    await untilPolled(TASK_QUEUES.cpu);
    await worker.stop();
    await expect(worker.exited).resolves.toBeUndefined();
    expect(lines.join('\n')).toContain('worker serving cpu');
  }, 120_000);

  it('reports a crash instead of hanging', async () => {
    const worker = spawnActivityWorker({ queues: ['cpu'], env: childEnv(), quiet: true, log: () => {} });
    await untilPolled(TASK_QUEUES.cpu);
    process.kill(worker.pid!, 'SIGKILL');
    await expect(worker.exited).rejects.toThrow(/activity worker \(cpu\) exited with SIGKILL/);
  }, 120_000);

  it('supervised (as the dev stack runs it), a killed worker is started again and says so', async () => {
    const lines: string[] = [];
    const worker = superviseActivityWorker({ queues: ['cpu'], env: childEnv(), quiet: true, log: (l) => lines.push(l) }, { first: 200, max: 1000, resetAfter: 60_000 });
    await untilPolled(TASK_QUEUES.cpu);
    const first = worker.pid;
    process.kill(first!, 'SIGKILL');
    const deadline = Date.now() + 60_000;
    while (worker.restarts === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(worker.restarts).toBe(1);
    expect(worker.pid).not.toBe(first);
    expect(lines.some((l) => /activity worker \(cpu\) exited with SIGKILL; restarting it in 0 s \(restart 1\)/.test(l))).toBe(true);
    await worker.stop();
    await expect(worker.done).resolves.toBeUndefined();
    expect(() => process.kill(worker.pid!, 0)).toThrow();
  }, 120_000);

  it('`diffubias worker --supervise` (how the local cluster runs its workers): a killed worker is started again, the log says so; SIGTERM stops both', async () => {
    const before = await pollers(TASK_QUEUES.cpu);
    const supervisor = spawn(process.execPath, [join(__dirname, '..', '..', 'bin', 'diffubias.js'), 'worker', '--supervise', '--queues', 'cpu'], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    supervisor.stdout!.on('data', (b: Buffer) => { log += b.toString(); });
    supervisor.stderr!.on('data', (b: Buffer) => { log += b.toString(); });
    const exited = new Promise<number | null>((resolve) => supervisor.once('exit', (code) => resolve(code)));
    try {
      const first = await untilPolled(TASK_QUEUES.cpu, 90_000, before);
      const workerPid = Number(first.split('@')[0]);
      expect(workerPid).not.toBe(supervisor.pid);
      process.kill(workerPid, 'SIGKILL');
      // Temporal keeps a dead poller listed for a while: wait for a new identity.
      const second = await untilPolled(TASK_QUEUES.cpu, 90_000, [...before, first]);
      expect(second).not.toBe(first);
      expect(log).toMatch(/activity worker \(cpu\) exited with SIGKILL; restarting it in 1 s \(restart 1\)/);
      supervisor.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(() => process.kill(Number(second.split('@')[0]), 0)).toThrow();
    } finally {
      if (supervisor.exitCode === null) supervisor.kill('SIGKILL');
    }
  }, 180_000);
});
