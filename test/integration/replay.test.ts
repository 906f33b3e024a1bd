/**
 * Replays recorded histories of every workflow against the current workflow code: a change that
 * would break running experiments on upgrade fails here. Re-record (after a deliberate, versioned
 * change) with `npm run record-histories`; histories of the code before a patch that is still live
 * stay beside, in a folder named for the patch, until the patch is deprecated.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { planSweep, submitExperiment, submitSweep } from '../../cli/submit';
import { parseExperimentConfig, parseSweepConfig } from '../../stages/config/schema';
import { doubleEngines } from '../doubles/engines';
import { startHarness, workflowBundle } from '../support/harness';

const dir = join(__dirname, '..', 'fixtures', 'histories');
// Binary protobuf: the JSON helpers trip over two copies of protobufjs in the SDK's dependency tree.
const History = temporal.api.history.v1.History;

async function record(): Promise<void> {
  const h = await startHarness({ engines: doubleEngines().engines });
  try {
    const client = h.stack.client;
    const experiment = await submitExperiment(client, parseExperimentConfig({
      dataset: 'cmnist', ratio: 1, seed: 0, train: { epochs: 2 }, topK: { k: 4 }, generate: { images: 4, batchSize: 2 },
    }));
    const sweep = await submitSweep(client, planSweep(parseSweepConfig({
      datasets: ['cmnist'], ratios: [2], seeds: [0, 1], base: { train: { epochs: 1 }, topK: { k: 2 }, generate: { images: 2, batchSize: 2 } },
    })));
    await client.workflow.getHandle(experiment.workflowId).result();
    await client.workflow.getHandle(sweep.workflowId).result();
    const ids: Record<string, string> = {
      'experiment.history.bin': experiment.workflowId,
      'fan-out-caption.history.bin': `${experiment.workflowId}/captionImage/0`,
      'sweep.history.bin': sweep.workflowId,
    };
    for (const [file, workflowId] of Object.entries(ids)) {
      writeFileSync(join(dir, file), History.encode(await client.workflow.getHandle(workflowId).fetchHistory()).finish());
    }
    writeFileSync(join(dir, 'workflow-ids.json'), `${JSON.stringify(ids, null, 2)}\n`);
  } finally {
    await h.close();
  }
}

/**
 * The current recording, then each earlier one kept for a live patch: the experiment's
 * inspectGenerated step, and its side stages (one patch each, so a later side stage needs no new
 * recording: the current one replays without it).
 */
const RECORDINGS = ['.', 'before-inspect-generated', 'before-side-stages'];

describe('replay', () => {
  it('recorded histories replay without nondeterminism', async () => {
    if (process.env.RECORD_HISTORIES) await record();
    const bundle = await workflowBundle();
    for (const recording of RECORDINGS) {
      const folder = join(dir, recording);
      const files = readdirSync(folder).filter((f) => f.endsWith('.history.bin')).sort();
      expect(files, recording).toEqual(['experiment.history.bin', 'fan-out-caption.history.bin', 'sweep.history.bin']);
      const ids = JSON.parse(readFileSync(join(folder, 'workflow-ids.json'), 'utf8')) as Record<string, string>;
      for (const file of files) {
        const history = History.decode(readFileSync(join(folder, file)));
        await expect(Worker.runReplayHistory({ workflowBundle: bundle }, history, ids[file]), `${recording}/${file}`).resolves.toBeUndefined();
      }
    }
  });
});
