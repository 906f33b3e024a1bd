import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness';
import { startEmbeddedS3 } from '../../cli/stack/s3-server';
import { ArtifactStore } from '../../core/store';

const run = promisify(execFile);
const bin = join(__dirname, '..', '..', 'bin', 'diffubias.js');
let h: Harness;

beforeAll(async () => {
  // No workers: submitted experiments stay running, which is what "submitted twice" is about.
  h = await startHarness({ engines: {}, queues: [] });
});
afterAll(async () => {
  await h?.close();
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env: { ...process.env, TEMPORAL_ADDRESS: h.stack.address } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function executions(): Promise<number> {
  let n = 0;
  for await (const _ of h.stack.client.workflow.list()) n++;
  return n;
}

describe('diffubias CLI', () => {
  it('rejects an invalid ratio or dataset naming the field, starting nothing', async () => {
    const ratio = await cli('run', '--dataset', 'cmnist', '--ratio', '150');
    expect(ratio.code).toBe(2);
    expect(ratio.stderr).toMatch(/^\s*ratio: must be below 100/m);
    const dataset = await cli('run', '--dataset', 'nope', '--ratio', '1');
    expect(dataset.code).toBe(2);
    expect(dataset.stderr).toMatch(/^\s*dataset: unknown dataset "nope"/m);
    expect(await executions()).toBe(0);
  });

  it('prints the same workflow id when the same experiment is submitted twice, and runs it once', async () => {
    const first = await cli('run', '--dataset', 'cmnist', '--ratio', '1', '--seed', '0');
    const second = await cli('run', '--dataset', 'cmnist', '--ratio', '1', '--seed', '0');
    expect(first.code).toBe(0);
    expect(first.stdout.trim()).toMatch(/^diffubias\/cmnist\/1\/0\/[0-9a-f]{12}$/);
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr).toContain('already running: attached');
    expect(await executions()).toBe(1);
  });

  it('status, pause and cancel reach the running experiment', async () => {
    const { stdout } = await cli('run', '--dataset', 'cmnist', '--ratio', '1', '--seed', '0');
    const id = stdout.trim();
    expect((await cli('pause', id)).code).toBe(0);
    const status = await cli('status', id.replace(/^diffubias\//, ''), '--json');
    expect(JSON.parse(status.stdout)).toMatchObject({ workflowId: id, status: 'RUNNING' });
    expect((await cli('cancel', id)).code).toBe(0);
    const report = await cli('report', id);
    expect(report.code).toBe(1);
    expect(report.stderr).toMatch(/is (RUNNING|CANCELLED); a report exists once it has completed/);
  });

  it('validates --config files naming the file and the field', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'cfg-')), 'exp.yaml');
    writeFileSync(file, 'dataset: cmnist\nratio: 1\ntopK:\n  k: 0\n  modee: global\n');
    const result = await cli('run', '--config', file);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`invalid config in ${file}`);
    expect(result.stderr).toMatch(/topK\.k: /);
    expect(result.stderr).toContain('topK.modee: unknown key');
  });

  it('--version, run --dry-run (resolved config and id, nothing submitted), list (newest first, running only)', async () => {
    const { version } = (await import('../../package.json')).default;
    expect((await cli('--version')).stdout.trim()).toBe(version);
    const before = await executions();
    const dry = await cli('run', '--dataset', 'cmnist', '--ratio', '2', '--seed', '7', '--dry-run');
    expect(dry.code).toBe(0);
    const printed = JSON.parse(dry.stdout) as { workflowId: string; config: { ratio: number; train: { epochs: number } } };
    expect(printed.workflowId).toMatch(/^diffubias\/cmnist\/2\/7\/[0-9a-f]{12}$/);
    expect(printed.config).toMatchObject({ ratio: 2, train: { epochs: 50 } });
    const sweep = JSON.parse((await cli('sweep', '--datasets', 'cmnist', '--ratios', '1,2', '--seeds', '0,1', '--dry-run')).stdout) as { cells: unknown[] };
    expect(sweep.cells).toHaveLength(4);
    expect(await executions()).toBe(before);

    // No workers here: a cancel would never be processed, a terminate closes it at once.
    const closed = (await cli('run', '--dataset', 'cmnist', '--ratio', '2', '--seed', '9')).stdout.trim();
    await h.stack.client.workflow.getHandle(closed).terminate('closed for the listing');
    const started = (await cli('run', '--dataset', 'cmnist', '--ratio', '2', '--seed', '8')).stdout.trim();
    const listed = await cli('list', '--running');
    expect(listed.code).toBe(0);
    const [header, first] = listed.stdout.split('\n');
    expect(header).toMatch(/^WORKFLOW ID\s+STATUS\s+STAGE\s+CELL/);
    expect(first).toContain(started);
    expect(first).toContain('cmnist 2% seed 8');
    expect(listed.stdout).not.toContain(closed);
    expect((await cli('list')).stdout).toMatch(/terminated\s+\S+\s+cmnist 2% seed 9/);
    const json = (await cli('list', '--json', '--limit', '1')).stdout.trim().split('\n').map((l) => JSON.parse(l) as { workflowId: string; status: string });
    expect(json).toEqual([expect.objectContaining({ workflowId: started, status: 'RUNNING' })]);
    expect((await cli('list', '--limit', '0')).stderr).toContain('--limit: expected a positive integer');
  });

  it('report reads stored results without Temporal, and says where it looked when there are none', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const home = mkdtempSync(join(tmpdir(), 'report-home-'));
    // Stored the way writeReport stores them, then the server is gone: only files remain.
    const s3 = await startEmbeddedS3({ directory: join(home, 's3'), bucket: 'diffubias' });
    const store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'diffubias', prefix: '', credentials: s3.credentials });
    const stored = { experimentId: 'cmnist/1/0/abcdef123456', accuracy: { debiased: { unbiased: 72.85 } } };
    await store.putJson('runs/cmnist/1/0/abcdef123456/report/results.json', stored);
    store.destroy();
    await s3.close();

    const env = { ...process.env, DIFFUBIAS_HOME: home, TEMPORAL_ADDRESS: '127.0.0.1:9' };
    const offline = async (...args: string[]) => run(process.execPath, [bin, ...args], { env }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
    const found = await offline('report', 'cmnist/1/0/abcdef123456');
    expect(found.code).toBe(0);
    expect(JSON.parse(found.stdout)).toEqual(stored);
    const missing = await offline('report', 'cmnist/1/0/000000000000');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no stored results for diffubias/cmnist/1/0/000000000000 at s3://diffubias/runs/cmnist/1/0/000000000000/report/results.json');
  });
});
