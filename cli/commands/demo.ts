import { WorkflowFailedError } from '@temporalio/client';
import { join } from 'node:path';
import { stageTimeLines, stageTimes } from '../../stages/runner/stage-times';
import { budgetNote } from '../../stages/report/html';
import { describeSideStages } from '../../stages/activity-table';
import { ArtifactStore } from '../../core/store';
import { demoConfig } from '../../stages/config/demo';
import { manifestKeyOf, readManifest } from '../../stages/runner/manifest';
import type { Accuracy, ClassifierRole, ExperimentResult, TrainClassifierOutput } from '../../stages/contracts';
import type { Settings } from '../../core/settings';
import { untilInterrupted } from '../interrupted';
import { rootCause } from '../progress';
import { followProgress } from '../progress-bars';
import { writeReportFiles } from '../report-files';
import { submitExperiment } from '../submit';
import { startDev, UI_PORT } from './dev';
import { energyLines } from '../../stages/energy-summary';

const ROWS: [ClassifierRole, string][] = [['vanilla', 'Vanilla (CE)'], ['biased', 'f_B (GCE)'], ['debiased', 'DiffuBias']];

export function accuracyLines(accuracy: Partial<Record<ClassifierRole, Accuracy>>): string[] {
  const cell = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(2)).padStart(12);
  return [
    `${'model'.padEnd(14)}${'unbiased'.padStart(12)}${'aligned'.padStart(12)}${'conflicting'.padStart(12)}`,
    ...ROWS.filter(([role]) => accuracy[role]).map(([role, name]) => {
      const a = accuracy[role]!;
      return `${name.padEnd(14)}${cell(a.unbiased)}${cell(a.aligned)}${cell(a.conflicting)}`;
    }),
  ];
}

/** Which stages an experiment found stored (computed by an earlier experiment with the same inputs). */
export function reuseLine(reuse: ExperimentResult['reuse']): string | undefined {
  const parts = (reuse ?? []).filter((r) => r.reused > 0).map((r) => (r.units > 1 ? `${r.stage}×${r.reused}${r.reused < r.units ? ` of ${r.units}` : ''}` : r.stage));
  return parts.length ? `reused: ${parts.join(', ')}` : undefined;
}

/** One line saying how each classifier's epoch was chosen and what it was measured on (docs/protocol.md). */
export function protocolLine(training: ExperimentResult['training']): string | undefined {
  const roles = ROWS.filter(([role]) => training?.[role]?.protocol);
  if (roles.length === 0) return undefined;
  const kept = roles.map(([role, name]) => {
    const t = training![role]!;
    return `${name} epoch ${t.bestEpoch}/${t.protocol.epochs} (${t.protocol.selection === 'last' ? 'last' : 'best on validation'})`;
  });
  const { valid, init } = training![roles[0]![0]]!.protocol;
  return `protocol: ${kept.join(', ')}; validation ${valid.bias}, ${valid.images} images (${valid.conflicting} bias-conflicting); init ${init}`;
}

/** The generated set's label accuracy by the MNIST judge, where the analysis measured it. */
export function generatedLabelsLine(labels: ExperimentResult['generatedLabels']): string | undefined {
  if (!labels || labels.generated === 0) return undefined;
  return `generated set: ${labels.recognised} of ${labels.generated} images (${((100 * labels.recognised) / labels.generated).toFixed(1)}%) show their label's digit `
    + `to the MNIST judge (${labels.judgeTestAccuracy.toFixed(2)}% on MNIST test)`;
}

/**
 * `npm run demo`: the local stack plus one Colored MNIST experiment with the demo bundles, followed
 * to the end; prints the three models' accuracies and writes results.json and report.html.
 */
/** What trained the run's classifiers, from their trainClassifier manifests (each records its backend). */
async function trainedOn(store: ArtifactStore, result: ExperimentResult): Promise<string | undefined> {
  const parts: string[] = [];
  for (const [role, key] of Object.entries(result.artifacts?.models ?? {})) {
    const manifest = key ? await readManifest(store, manifestKeyOf<TrainClassifierOutput>(key)) : undefined;
    if (manifest?.outputs.backend) parts.push(`${role} ${manifest.outputs.backend} (${manifest.outputs.imagesPerSecond} img/s)`);
  }
  return parts.length ? parts.join(', ') : undefined;
}

export async function runDemo(
  settings: Settings, options: { ratio: number; seed: number; overrides?: Record<string, unknown>; keep?: boolean }, log: (line: string) => void,
): Promise<number> {
  const started = Date.now();
  const config = demoConfig(options.ratio, options.seed, options.overrides);
  const dev = await startDev(settings, log, { quiet: true });
  try {
    const { workflowId, state } = await submitExperiment(dev.stack.client, config);
    const { runId } = await dev.stack.client.workflow.getHandle(workflowId).describe();
    const uiLink = `http://localhost:${UI_PORT}/namespaces/${settings.temporal.namespace}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
    log(`experiment ${workflowId} (${state})`);
    log(`Web UI: ${uiLink}`);
    // The experiment cannot end without its workers: stop waiting if they die.
    const workersGone = dev.done.then(() => {
      throw new Error('the workers stopped before the experiment ended');
    });
    workersGone.catch(() => undefined);
    await Promise.race([followProgress(dev.stack.client, workflowId, log), workersGone]);
    let result: ExperimentResult;
    try {
      result = (await Promise.race([dev.stack.client.workflow.getHandle(workflowId).result(), workersGone])) as ExperimentResult;
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw err;
      log(`demo incomplete after ${((Date.now() - started) / 1000).toFixed(1)} s: ${rootCause(err)}`);
      return 3;
    }
    for (const line of accuracyLines(result.accuracy)) log(line);
    const protocol = protocolLine(result.training);
    if (protocol) log(protocol);
    const reused = reuseLine(result.reuse);
    if (reused) log(reused);
    const labels = generatedLabelsLine(result.generatedLabels);
    if (labels) log(labels);
    for (const { name, line } of describeSideStages(result.sideStages)) log(`${name}: ${line}`);
    const gain = (result.accuracy.debiased?.unbiased ?? NaN) - (result.accuracy.vanilla?.unbiased ?? NaN);
    log(`DiffuBias vs vanilla on the unbiased test set: ${gain >= 0 ? '+' : ''}${gain.toFixed(2)} points`);
    log(`one experiment, seed ${options.seed}: the gain moves by a few points with the seed and the generated set; a sweep over seeds gives error bars`);
    const budget = budgetNote(result);
    if (budget) log(budget);
    const store = new ArtifactStore(settings.s3);
    try {
      const trained = await trainedOn(store, result);
      if (trained) log(`classifiers trained on tfjs backend ${trained}`);
      log('time per stage (wall seconds from the stored manifests; starting the stack is not included):');
      for (const line of stageTimeLines(await stageTimes(store, result.experimentId))) log(line);
      if (result.energy) {
        log('energy and CO2 per stage (CodeCarbon\'s method, measured by the workers; docs/energy.md):');
        for (const line of energyLines(result.energy)) log(line);
      }
      const files = await writeReportFiles(store, result, join(settings.home, 'reports', result.experimentId.replace(/\//g, '_')));
      log(`results: ${files.json}`);
      log(`report:  ${files.html}`);
    } finally {
      store.destroy();
    }
    log(`Web UI: ${uiLink}`);
    log(`wall time ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (options.keep) {
      log('the stack stays up for the Web UI link (--keep); Ctrl-C stops it');
      await Promise.race([untilInterrupted(), dev.done]);
    } else {
      log(`the stack stops now; \`npx diffubias dev\` brings the Web UI back with this run in it (history in ${join(settings.home, 'temporal.db')}), or pass --keep`);
    }
    return 0;
  } finally {
    await dev.stop();
  }
}
