import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planSweep, submitExperiment, submitSweep } from '../../cli/submit';
import { parseSweepConfig } from '../../stages/config/schema';
import type { SweepResult } from '../../workflows/sweep';
import type { ExperimentResult } from '../../stages/contracts';
import { pauseSignal, resumeSignal } from '../../workflows/definitions';
import { doubleEngines } from '../doubles/engines';
import { startHarness, type Harness } from '../support/harness';
import { until } from '../support/wait';

const doubles = doubleEngines();
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ engines: doubles.engines });
});
afterAll(async () => {
  await h?.close();
});

describe('sweep workflow', () => {
  it('runs one experiment per cell, bounded, and aggregates mean ± std per (dataset, ratio)', async () => {
    const plan = planSweep(parseSweepConfig({
      datasets: ['cmnist'], ratios: [1, 2], seeds: [0, 1], parallelism: 2,
      base: { train: { epochs: 1 }, topK: { k: 2 }, generate: { images: 2, batchSize: 2 } },
    }));
    const { workflowId, state } = await submitSweep(h.stack.client, plan);
    expect(state).toBe('started');
    const result = (await h.stack.client.workflow.getHandle(workflowId).result()) as SweepResult;

    expect(result.experiments.map((e) => e.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
    // Each ratio's dataset prepared once by the sweep, before any cell started.
    const events = (await h.stack.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const prepared = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'prepareDataset');
    expect(prepared).toHaveLength(2);
    const lastPrepared = Math.max(...events.filter((e) => e.activityTaskCompletedEventAttributes).slice(0, 2).map((e) => Number(e.eventId)));
    const firstChild = events.find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)!;
    expect(Number(firstChild.eventId)).toBeGreaterThan(lastPrepared);
    // `parallelism` experiments at once, never more: as the server saw the child workflows run.
    const spans = await Promise.all(result.experiments.map(async (e) => {
      const d = await h.stack.client.workflow.getHandle(e.workflowId).describe();
      return { start: d.startTime.getTime(), end: d.closeTime!.getTime() };
    }));
    const overlap = Math.max(...spans.map((s) => spans.filter((o) => o.start <= s.start && s.start < o.end).length));
    expect(overlap).toBe(2);
    // The doubles score debiased = 60 + ratio + seed, vanilla = 30 + ratio + seed.
    expect(result.rows.map((r) => [r.dataset, r.ratio, r.seeds])).toEqual([['cmnist', 1, [0, 1]], ['cmnist', 2, [0, 1]]]);
    expect(result.rows[0]!.ours.debiased!.unbiased).toEqual({ mean: 61.5, std: Math.SQRT1_2, n: 2 });
    expect(result.rows[0]!.published.map((p) => p.method)).toContain('DeNetDM');
    expect(result.rows[1]!.ours.vanilla!.unbiased).toEqual({ mean: 32.5, std: Math.SQRT1_2, n: 2 });
    expect(result.rows[0]!.paper).toBeNull(); // the paper has no Colored MNIST row in Table 3
    expect(await h.store.getJson(result.reportKey)).toMatchObject({ sweepId: plan.sweepId });

    // Re-submitting the same sweep attaches to it rather than running it again.
    expect((await submitSweep(h.stack.client, plan)).state).toBe('completed');
  });

  it('a cell that already ran on its own is run again from its stored stages, not failed as already started', async () => {
    const config = { datasets: ['cmnist'], ratios: [0.5], seeds: [3], base: { train: { epochs: 1 }, topK: { k: 2 }, generate: { images: 2, batchSize: 2 } } };
    const alone = planSweep(parseSweepConfig(config)).cells[0]!;
    await submitExperiment(h.stack.client, { ...alone.input.config });
    await h.stack.client.workflow.getHandle(alone.workflowId).result();
    const plan = planSweep(parseSweepConfig({ ...config, seeds: [3, 4] }));
    const { workflowId } = await submitSweep(h.stack.client, plan);
    const result = (await h.stack.client.workflow.getHandle(workflowId).result()) as SweepResult;
    expect(result.experiments.map((e) => `${e.status}${e.error ? `: ${e.error}` : ''}`)).toEqual(['completed', 'completed']);
    expect(result.rows[0]!.seeds).toEqual([3, 4]);
  });

  it('a cell still running on its own is waited for, then run from its stored stages: computed once', async () => {
    const config = { datasets: ['cmnist'], ratios: [0.5], seeds: [5], base: { train: { epochs: 1 }, topK: { k: 2 }, generate: { images: 2, batchSize: 2 } } };
    const alone = planSweep(parseSweepConfig(config)).cells[0]!;
    await submitExperiment(h.stack.client, { ...alone.input.config });
    const aloneHandle = h.stack.client.workflow.getHandle(alone.workflowId);
    // Held running (paused between stages) until the sweep has tried to start it.
    await aloneHandle.signal(pauseSignal);
    const plan = planSweep(parseSweepConfig({ ...config, seeds: [5, 6] }));
    const { workflowId } = await submitSweep(h.stack.client, plan);
    const sweepHandle = h.stack.client.workflow.getHandle(workflowId);
    await until('the sweep to find the cell running', async () => {
      const history = await sweepHandle.fetchHistory();
      return history.events?.some((e) => e.startChildWorkflowExecutionFailedEventAttributes?.workflowId === alone.workflowId) || undefined;
    });
    await aloneHandle.signal(resumeSignal);
    const result = (await sweepHandle.result()) as SweepResult;
    expect(result.experiments.map((e) => `${e.status}${e.error ? `: ${e.error}` : ''}`)).toEqual(['completed', 'completed']);
    const { executions } = await h.stack.client.workflowService.listWorkflowExecutions({ namespace: 'default', query: `WorkflowId = '${alone.workflowId}'` });
    expect(executions).toHaveLength(2);
    // The sweep's execution found every stage stored by the one that ran alone.
    const rerun = (await h.stack.client.workflow.getHandle(alone.workflowId).result()) as ExperimentResult;
    // prepareDataset is keyed by the dataset's content, which the first run built: the second checks it again (nothing is rebuilt).
    expect(rerun.reuse!.filter((r) => r.reused < r.units && r.stage !== 'prepareDataset')).toEqual([]);
  });
});
