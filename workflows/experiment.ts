/**
 * One DiffuBias experiment (paper Fig. 1) as a deterministic workflow: it only orchestrates.
 * Every stage is an activity; per-item stages fan out through `fanOut` child workflows.
 */
import { isCancellation, patched, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type {
  Accuracy, CaptionImageInput, ClassifierRole, DatasetRef, ExperimentInput, ExperimentResult, GenerateBatchInput, GeneratedManifestKey,
  StageReuse, TrainClassifierInput,
} from '../stages/contracts';
import { TASK_QUEUES } from '../stages/activity-table';
import { datasetRefOf } from './dataset-ref';
import { roleTraining } from '../stages/config/role-training';
import { configAsRun } from '../stages/config/as-run';
import { experimentResultsKey } from '../stages/report/result-keys';
import { callActivity as call, type ActivityInput, type ActivityOutput } from './call-activity';
import { installControl, type Control } from './control';
import { installLiveDetails } from './live-details';
import { SEARCH_ATTRIBUTES } from './definitions';
import type { FanOutInput, FanOutKind } from './fan-out';
import type { Energy } from '../core/energy';
import { summarizeEnergy } from '../stages/energy-summary';
import { captionUnitImages, generateUnitImages } from '../stages/unit-sizes';
import { sideStageOutputs, startSideStages, type SideRun } from './side-stages';

/** The generated set's inspection as its own stage (it was part of analyzeModels). */
const INSPECT_GENERATED = 'experiment-inspects-generated-set';
/** How much the analysis looks at: saliency images, and embedding points per group (aligned, conflicting, generated). */
const ANALYSIS = { saliencyImages: 10, embeddingPoints: 300 };

type TrainedModel = ActivityOutput<'trainClassifier'>;
/** One stage's units, for the reuse, time and energy tables. */
type StageUnits = [string, readonly { reused?: boolean; energy?: Energy; seconds?: number }[]];

export async function experiment(input: ExperimentInput): Promise<ExperimentResult> {
  const control = installControl();
  const { experimentId } = input;
  const config = configAsRun(input.config);
  const live = installLiveDetails(control, `DiffuBias ${config.dataset} at ${config.ratio}% conflicting, seed ${config.seed}`);
  const dataset = datasetRefOf(config);

  const enter = async (stage: string) => {
    await control.whenRunning();
    if (control.progress.stage !== 'starting' && !control.progress.stagesDone.includes(control.progress.stage)) {
      control.progress.stagesDone.push(control.progress.stage);
    }
    control.progress.stage = stage;
    control.progress.done = 0;
    control.progress.total = 0;
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: stage }]);
    live.render();
  };
  const finish = (stage: 'done' | 'failed' | 'cancelled') => {
    control.progress.stage = stage;
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: stage }]);
    live.render();
  };

  /** results.json and report.html from what the stages returned: the experiment's last step. */
  const report = async (parts: {
    accuracy: ExperimentResult['accuracy'];
    models: readonly TrainedModel[];
    units: readonly StageUnits[];
    method?: Pick<ExperimentResult, 'topK' | 'captions' | 'generated' | 'generatedLabels'>;
    sideRuns?: readonly SideRun[];
    artifacts?: Omit<NonNullable<ExperimentResult['artifacts']>, 'models'>;
  }): Promise<ExperimentResult> => {
    const reportKey = experimentResultsKey(experimentId);
    const result: ExperimentResult = {
      experimentId, dataset: config.dataset, ratio: config.ratio, seed: config.seed, configHash: input.configHash,
      accuracy: parts.accuracy,
      training: Object.fromEntries(parts.models.map((m) => [m.role, {
        protocol: m.protocol, bestEpoch: m.bestEpoch, validAccuracy: m.validAccuracy, validCurve: m.validCurve,
        ...(m.trainLossCurve ? { trainLossCurve: m.trainLossCurve } : {}),
      }])),
      ...parts.method,
      ...(parts.sideRuns?.length ? { sideStages: sideStageOutputs(parts.sideRuns) } : {}),
      reuse: parts.units.map(([stage, outputs]) => reuseOf(stage, outputs)),
      energy: summarizeEnergy(parts.units),
      // Workflow time: the start of the experiment's execution to now, replayed identically.
      wallSeconds: Math.round((Date.now() - workflowInfo().startTime.getTime()) / 1000),
      ...unitSecondsOf(parts.units),
      reportKey,
      artifacts: { ...parts.artifacts, models: Object.fromEntries(parts.models.map((m) => [m.role, m.modelKey])) },
    };
    const spent = result.energy!.total;
    live.note(`energy: ${(spent.kwh.total * 1000).toFixed(2)} Wh, ${spent.gCo2eq.toFixed(2)} gCO2eq (CodeCarbon's method; docs/energy.md)`);
    await enter('writeReport');
    const { namespace, workflowId, runId } = workflowInfo();
    await call('writeReport', 'store results.json and report.html', {
      key: reportKey, report: { ...result, config }, experiment: true,
      uiPath: `/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`,
    });
    finish('done');
    return result;
  };

  try {
    await enter('prepareDataset');
    const prepared = await call('prepareDataset', `prepare ${config.dataset} at ${config.ratio}% conflicting, seed ${config.seed}`, {
      experimentId, dataset,
    });
    // Later stages are keyed by the dataset's content, not its path (an experiment started before
    // prepareDataset reported it keeps the path).
    const data: DatasetRef = prepared.contentId ? { ...dataset, contentId: prepared.contentId } : dataset;

    await enter('trainClassifier');
    const { selection, classifier } = config;
    const trainInput = (role: ClassifierRole, loss: 'gce' | 'ce'): TrainClassifierInput => ({
      experimentId, role, loss, dataset: data, train: roleTraining(config.train, role), classifier, seed: config.seed,
      selection: role === 'biased' ? selection.biased : selection.classifiers, valid: selection.valid,
    });
    const describeTrain = (role: ClassifierRole, name: string, loss: string, images = `${prepared.counts.train} images`) =>
      `train ${name} classifier (${loss.toUpperCase()}${loss === 'gce' ? `, q=${config.train.gceQ}` : ''}), ${roleTraining(config.train, role).epochs} epochs on ${images}`;
    if (config.vanilla === 'only') {
      const vanilla = await call('trainClassifier', describeTrain('vanilla', 'vanilla', 'ce'), trainInput('vanilla', 'ce'));
      await enter('evaluate');
      const evaluated = await call('evaluate', `evaluate vanilla on the unbiased test set (${prepared.counts.test} images)`, { experimentId, role: 'vanilla', modelKey: vanilla.modelKey, dataset: data });
      live.note(`unbiased test accuracy: vanilla ${evaluated.accuracy.unbiased.toFixed(2)}%`);
      return await report({
        accuracy: { vanilla: evaluated.accuracy },
        models: [vanilla],
        units: [['prepareDataset', [prepared]], ['trainClassifier(vanilla)', [vanilla]], ['evaluate', [evaluated]]],
      });
    }
    const biasedRun = call('trainClassifier', describeTrain('biased', 'biased f_B', config.biasedLoss), trainInput('biased', config.biasedLoss));
    const vanillaRun = config.vanilla
      ? call('trainClassifier', describeTrain('vanilla', 'vanilla', 'ce'), trainInput('vanilla', 'ce'))
      : undefined;
    vanillaRun?.catch(() => undefined); // awaited below; this only keeps an early failure from going unobserved
    const biased = await biasedRun;
    live.note(`f_B: epoch ${biased.bestEpoch} kept, validation ${biased.validAccuracy.toFixed(2)}%`);

    await enter('scoreLosses');
    const scores = await call('scoreLosses', `per-sample CE and GCE of f_B over ${prepared.counts.train} training images`, {
      experimentId, dataset: data, modelKey: biased.modelKey, gceQ: config.train.gceQ,
    });

    await enter('selectTopK');
    const topK = await call('selectTopK', `top-${config.topK.k} ${config.topK.mode} by ${config.topK.score.toUpperCase()}`, {
      experimentId, tableKey: scores.tableKey, ...config.topK, numClasses: prepared.classNames.length, ratio: config.ratio,
    });
    live.note(`top-K: ${topK.items.length} images selected, ${topK.precision === null ? 'bias-conflicting share n/a (no bias labels)' : `${(100 * topK.precision).toFixed(1)}% bias-conflicting`}`);

    await enter('captionImage');
    const captionSettings = {
      experimentId, model: config.caption.model, perImage: config.caption.perImage, strategy: config.caption.strategy, seed: config.seed,
      // Set only when asked, so that units of runs without it keep their cache keys.
      ...(config.caption.prompt === undefined ? {} : { prompt: config.caption.prompt }),
    };
    const captionItems: CaptionImageInput[] = planBatches(topK.items.length, captionUnitImages({ batchSize: config.caption.batchSize, perImage: config.caption.perImage }))
      .map(({ first, count }, unit) => ({ ...captionSettings, unit, items: topK.items.slice(first, first + count) }));
    const captions = await fanOutInChunks(control, 'captionImage', captionItems, config.caption.concurrency, config.fanOutChunk);

    await enter('filterCaptions');
    const filtered = await call('filterCaptions', `filter ${topK.items.length * config.caption.perImage} captions by top-F words`, {
      experimentId, captionKeys: captions.map((c) => c.captionsKey), numClasses: prepared.classNames.length,
      topF: config.filter.topF, match: config.filter.match, enabled: config.filter.enabled, labelCheck: config.filter.labelCheck ? config.dataset : undefined,
      ...(config.filter.labelCheck && config.datasetSpec ? { classWords: config.datasetSpec.classWords } : {}),
    });

    await enter('generateBatch');
    let generatedManifests: GeneratedManifestKey[] = [];
    let generated = 0;
    let generateOutputs: { reused?: boolean; energy?: Energy }[] = [];
    live.note(`captions: ${filtered.kept} kept, ${filtered.dropped} dropped`);
    if (filtered.kept > 0) {
      const images = config.generate.images === 'aligned' ? prepared.counts.train - prepared.counts.conflicting : config.generate.images;
      const batches = planBatches(images, generateUnitImages(config.generate)).map(
        ({ first, count }, batchIndex): GenerateBatchInput => ({
          experimentId, keptKey: filtered.keptKey, batchIndex, first, count, baseSeed: config.seed * 1_000_000,
          model: config.generate.model, steps: config.generate.steps, guidance: config.generate.guidance,
          // Runs from before the choice existed keep their units' keys (and the bundle's scheduler).
          ...(config.generate.scheduler === undefined || config.generate.scheduler === 'bundle' ? {} : { scheduler: config.generate.scheduler }),
        }),
      );
      const outputs = await fanOutInChunks(control, 'generateBatch', batches, config.generate.concurrency, config.fanOutChunk);
      generatedManifests = outputs.map((o) => o.manifestKey);
      generateOutputs = outputs;
      generated = outputs.reduce((n, o) => n + o.images, 0);
      live.note(`generated: ${generated} images`);
    }

    // The generated set's label accuracy and colours (Colored MNIST), beside f_D's training.
    const inspecting = patched(INSPECT_GENERATED)
      ? call('inspectGenerated', `judge and colours of the ${generated} generated images`, { experimentId, dataset: data, generatedManifests })
      : undefined;
    inspecting?.catch(() => undefined); // awaited below; this only keeps an early failure from going unobserved
    const sideRunning = startSideStages('generated', { experimentId, dataset: data, seed: config.seed, generatedManifests });

    await enter('trainClassifier');
    const repeat = config.generate.repeat;
    const fromBiased = config.train.debiasedInit === 'biased';
    const debiased = await call('trainClassifier', describeTrain('debiased', `debiased${fromBiased ? ' (from f_B)' : ''}`, 'ce', `${prepared.counts.train} original + ${generated} generated images${repeat > 1 ? ` (x${repeat} per epoch)` : ''}`), {
      ...trainInput('debiased', 'ce'), extraManifests: generatedManifests, extraRepeat: repeat, ...(fromBiased ? { initModelKey: biased.modelKey } : {}),
    });
    const vanilla = await vanillaRun;
    live.note(`f_D: epoch ${debiased.bestEpoch} kept, validation ${debiased.validAccuracy.toFixed(2)}%`);

    await enter('evaluate');
    const models = [biased, debiased, ...(vanilla ? [vanilla] : [])];
    const evaluations = await Promise.all(
      models.map((m) => call('evaluate', `evaluate ${m.role} on the unbiased test set (${prepared.counts.test} images)`, { experimentId, role: m.role, modelKey: m.modelKey, dataset: data })),
    );
    const accuracy: Partial<Record<ClassifierRole, Accuracy>> = {};
    for (const e of evaluations) accuracy[e.role] = e.accuracy;
    live.note(`unbiased test accuracy: ${evaluations.map((e) => `${e.role} ${e.accuracy.unbiased.toFixed(2)}%`).join(', ')}`);

    // Saliency and embedding for the report (paper Figs. 2 and 7).
    await enter('analyzeModels');
    const analysis = await call('analyzeModels', `saliency of f_B and f_D on ${ANALYSIS.saliencyImages} bias-conflicting test images; UMAP of f_D's features (${ANALYSIS.embeddingPoints} per group)`, {
      experimentId, dataset: data, models: { biased: biased.modelKey, debiased: debiased.modelKey }, generatedManifests, seed: config.seed, ...ANALYSIS,
    });

    const inspection = await inspecting;
    const sideRuns = await sideRunning;
    // Runs from before inspectGenerated had the judge's verdict from analyzeModels.
    const generatedLabels = inspection ? inspection.judge : analysis.judge;

    return await report({
      accuracy, models,
      // Per stage (classifier roles apart): what was reused, and what the rest cost.
      units: [
        ['prepareDataset', [prepared]],
        ['trainClassifier(biased)', [biased]],
        ...(vanilla ? [['trainClassifier(vanilla)', [vanilla]] as StageUnits] : []),
        ['scoreLosses', [scores]],
        ['selectTopK', [topK]],
        ['captionImage', captions],
        ['filterCaptions', [filtered]],
        ['generateBatch', generateOutputs],
        ...(inspection ? [['inspectGenerated', [inspection]] as StageUnits] : []),
        ['trainClassifier(debiased)', [debiased]],
        ['evaluate', evaluations],
        ['analyzeModels', [analysis]],
        ...sideRuns.map(({ name, output }): StageUnits => [name, [output]]),
      ],
      method: {
        topK: { k: config.topK.k, mode: config.topK.mode, selected: topK.items.length, precision: topK.precision, recall: topK.recall },
        captions: { images: topK.items.length, kept: filtered.kept, dropped: filtered.dropped, topWords: filtered.topWords },
        generated,
        ...(generatedLabels ? { generatedLabels } : {}),
      },
      sideRuns,
      artifacts: {
        tableKey: scores.tableKey, selectionKey: topK.selectionKey, keptKey: filtered.keptKey, generatedManifests,
        analysisKey: analysis.analysisKey,
        ...(inspection?.inspectionKey ? { inspectionKey: inspection.inspectionKey } : {}),
      },
    });
  } catch (err) {
    finish(isCancellation(err) ? 'cancelled' : 'failed');
    throw err;
  }
}

/** How many of a stage's units were found stored rather than computed (`reused` is absent in old histories). */
function reuseOf(stage: string, outputs: readonly { reused?: boolean }[]): StageReuse {
  return { stage, units: outputs.length, reused: outputs.filter((o) => o.reused === true).length };
}

/** The units' own recorded seconds, summed (units from before activities returned them have none). */
function unitSecondsOf(units: readonly StageUnits[]): Pick<ExperimentResult, 'unitSeconds'> {
  const timed = units.flatMap(([, outputs]) => outputs.flatMap((o) => (typeof o.seconds === 'number' ? [o.seconds] : [])));
  return timed.length === 0 ? {} : { unitSeconds: Math.round(timed.reduce((a, b) => a + b, 0)) };
}

/** Splits N images into batches of at most `size`. */
export function planBatches(total: number, size: number): { first: number; count: number }[] {
  const out: { first: number; count: number }[] = [];
  for (let first = 0; first < total; first += size) out.push({ first, count: Math.min(size, total - first) });
  return out;
}

async function fanOutInChunks<K extends FanOutKind>(
  control: Control,
  kind: K,
  items: ActivityInput<K>[],
  concurrency: number,
  chunkSize: number,
): Promise<ActivityOutput<K>[]> {
  const results: ActivityOutput<K>[] = [];
  control.progress.total = items.length;
  const info = workflowInfo();
  for (let start = 0, chunk = 0; start < items.length; start += chunkSize, chunk++) {
    await control.whenRunning();
    const slice = items.slice(start, start + chunkSize);
    const out = await control.runChild<ActivityOutput<K>[]>(
      'fanOut',
      {
        workflowId: `${info.workflowId}/${kind}/${chunk}`,
        taskQueue: TASK_QUEUES.workflow,
        typedSearchAttributes: info.typedSearchAttributes,
        staticSummary: `${kind} ${start}-${start + slice.length - 1} of ${items.length}`,
      },
      (startPaused): [FanOutInput<K>] => [{ kind, items: slice, concurrency, startPaused }],
    );
    results.push(...out);
    control.progress.done = results.length;
  }
  return results;
}
