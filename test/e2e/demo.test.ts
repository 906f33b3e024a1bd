/**
 * A reduced `npm run demo`: real Colored MNIST 1% (built if missing), every product engine, the
 * shipped demo bundles, fewer epochs and images. DiffuBias must beat the vanilla model.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReportFiles } from '../../cli/report-files';
import { submitExperiment } from '../../cli/submit';
import { demoConfig } from '../../stages/config/demo';
import { productEngines } from '../../stages/product-stages';
import type { ExperimentResult } from '../../stages/contracts';
import { startHarness, type Harness } from '../support/harness';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ engines: productEngines(), concurrency: { caption: 2 } });
});
afterAll(async () => {
  await h?.close();
});

describe('reduced demo', () => {
  it('DiffuBias beats vanilla on the unbiased Colored MNIST test set', async () => {
    const base = demoConfig(1, 0);
    const config = demoConfig(1, 0, {
      train: { ...base.train, epochs: 3 },
      generate: { ...base.generate, images: 600 },
    });
    const { workflowId } = await submitExperiment(h.stack.client, config);
    const result = (await h.stack.client.workflow.getHandle(workflowId).result()) as ExperimentResult;
    const vanilla = result.accuracy.vanilla!.unbiased;
    const diffubias = result.accuracy.debiased!.unbiased;
    console.log(`reduced demo: vanilla ${vanilla.toFixed(2)}, f_B ${result.accuracy.biased!.unbiased.toFixed(2)}, DiffuBias ${diffubias.toFixed(2)} (unbiased %)`);
    expect(result.topK!.precision).toBeGreaterThan(0.8);
    expect(result.generated).toBe(600);
    expect(diffubias).toBeGreaterThan(vanilla);
    const files = await writeReportFiles(h.store, result, join(tmpdir(), `demo-report-${process.pid}`));
    expect(readFileSync(files.html, 'utf8')).toContain('Generated samples (600 in all)');
  }, 600_000);
});
