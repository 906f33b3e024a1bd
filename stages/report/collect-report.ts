/**
 * What an experiment's report shows, read from the artifacts its stages stored (the keys their
 * outputs name, in the result), and the page itself: the writeReport step stores it beside
 * results.json, and `report --html` renders it again for results stored before that.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readFileAt } from '../../core/data-source';
import { specOf } from '../../datasets/specs';
import type { ConfiguredDatasetSpec } from '../../datasets/spec-schema';
import type { ArtifactStore } from '../../core/store';
import { filterFileKey, KEPT_CAPTIONS, type DroppedCaption, type TopWordsFile } from '../filter-captions';
import { LOSS_TABLE } from '../classifier-stages';
import { readGeneratedRows } from '../generated-rows';
import { readArtifact } from '../artifacts';
import { SELECTION } from '../select-top-k';
import { INSPECTION } from '../inspect-generated';
import type { Analysis, ExperimentResult } from '../contracts';
import { renderReport, type MethodReport, type ReportAssets, type ReportData, type ReportImage } from './html';
import type { LossRow } from '../../engines/selection/top-k';
import { lossHistogram, selectionPerClass } from './selection-stats';
import { CMNIST_COLORS } from '../../datasets/cmnist/colors';
import { ANALYSIS } from '../analyze-models';

const SHOW_TOP_K_PER_CLASS = 6;
const SHOW_CAPTIONS = 60;
const SHOW_PER_CLASS = 8;

async function dataUri(load: () => Promise<Buffer | null>): Promise<string> {
  const bytes = await load().catch(() => null);
  return bytes ? `data:image/png;base64,${bytes.toString('base64')}` : '';
}

/** Reads what the report shows from the run's artifacts. */
export async function collectReport(store: ArtifactStore, result: ExperimentResult, uiLink?: string): Promise<ReportData> {
  const a = result.artifacts;
  if (!a) throw new Error(`${result.experimentId}: this result has no artifact keys (run before reports existed)`);
  const config = (result as ExperimentResult & { config?: { topK?: { score?: 'ce' | 'gce' }; datasetSpec?: ConfiguredDatasetSpec } }).config;
  const classNames = specOf({ name: result.dataset, spec: config?.datasetSpec }).classNames;
  const stored = a.analysisKey ? await readArtifact(store, ANALYSIS, a.analysisKey) : null;
  const inspection = a.inspectionKey ? await readArtifact(store, INSPECTION, a.inspectionKey) : undefined;
  // The page shows the judge and the colours with the analysis, wherever they were computed (analysis.json held them before inspectGenerated).
  const analysis = stored && inspection ? { ...stored, judge: inspection.judge, colours: inspection.colours } : stored;
  return {
    result,
    classNames,
    uiLink,
    method: await collectMethod(store, result, classNames.length, config?.topK?.score ?? 'ce', analysis),
    config,
    biasNames: result.dataset === 'cmnist' ? CMNIST_COLORS.map((c) => c.name) : undefined,
    analysis: analysis ? await inlinedAnalysis(store, analysis) : undefined,
  };
}

/** The method's stages as stored; undefined for a vanilla-only experiment, which ran none. */
async function collectMethod(
  store: ArtifactStore, result: ExperimentResult, numClasses: number, score: 'ce' | 'gce', analysis: Analysis | null,
): Promise<MethodReport | undefined> {
  const a = result.artifacts;
  if (!a?.selectionKey || !a.tableKey || !a.keptKey || !result.topK || !result.captions) return undefined;
  const selection = await readArtifact(store, SELECTION, a.selectionKey);
  // The highest losses of each class (the selection is ordered by loss), so no class goes unseen.
  const shown = new Map<number, LossRow[]>();
  for (const row of [...selection.rows].sort((x, y) => y.ce - x.ce)) {
    const list = shown.get(row.label) ?? [];
    if (list.length < SHOW_TOP_K_PER_CLASS) shown.set(row.label, [...list, row]);
  }
  const topRows = await Promise.all([...shown.values()].flat().map(async (row) => {
    const image: ReportImage = { src: await dataUri(() => readFileAt(row.file, store.settings)), caption: `class ${row.label}` };
    return { image, label: row.label, bias: row.bias, ce: row.ce, gce: row.gce };
  }));
  const table = await readArtifact(store, LOSS_TABLE, a.tableKey);
  const kept = await readArtifact(store, KEPT_CAPTIONS, a.keptKey);
  const dropped = (await store.getJson<DroppedCaption[]>(filterFileKey(a.keptKey, 'dropped'))) ?? [];
  const top = (await store.getJson<Pick<TopWordsFile, 'f' | 'topWords'>>(filterFileKey(a.keptKey, 'topWords'))) ?? { f: 0, topWords: [] };
  const perClass = new Map<number, ReportImage[]>();
  for (const manifestKey of a.generatedManifests ?? []) {
    for (const row of await readGeneratedRows(store, manifestKey)) {
      const list = perClass.get(row.label) ?? [];
      if (list.length >= SHOW_PER_CLASS) continue;
      perClass.set(row.label, [...list, { src: await dataUri(() => store.get(row.key)), caption: row.prompt }]);
    }
  }
  return {
    topK: { k: result.topK.k, mode: result.topK.mode, selected: result.topK.selected, precision: selection.precision, recall: selection.recall, rows: topRows },
    captions: {
      f: top.f, topWords: top.topWords, kept: await withThumbs(store, kept.slice(0, SHOW_CAPTIONS)), dropped: await withThumbs(store, dropped.slice(0, SHOW_CAPTIONS)),
      keptTotal: kept.length, droppedTotal: dropped.length, images: result.captions.images,
    },
    generatedTotal: result.generated ?? 0,
    generated: [...perClass.entries()].sort((x, y) => x[0] - y[0]).map(([label, images]) => ({ label, images })),
    losses: lossHistogram(table, selection.rows, score),
    perClass: selectionPerClass(table, selection.rows, numClasses),
    generatedGrid: analysis?.colours && {
      ...analysis.colours,
      // The analysis measured every generated image's colour; the page shows one per cell.
      cells: await Promise.all(analysis.colours.cells.map((row) => Promise.all(row.map(async (c) => ({
        count: c.count,
        example: c.example === undefined ? undefined : { src: await dataUri(() => readFileAt(c.example!, store.settings)), caption: '' },
      }))))),
      realConflicting: await realConflicting(store, selection.rows),
    },
  };
}

/** The captioned image beside its caption. */
async function withThumbs<C extends { image: string }>(store: ArtifactStore, captions: readonly C[]): Promise<(C & { thumb: string })[]> {
  const cache = new Map<string, string>();
  const out: (C & { thumb: string })[] = [];
  for (const c of captions) {
    if (!cache.has(c.image)) {
      // The dataset file (path or s3:// URI) the loss table named: captions are of training images.
      cache.set(c.image, await dataUri(() => readFileAt(c.image, store.settings)));
    }
    out.push({ ...c, thumb: cache.get(c.image)! });
  }
  return out;
}

/** analyzeModels' analysis with its PNGs as data: URIs. */
async function inlinedAnalysis(store: ArtifactStore, analysis: Analysis): Promise<ReportData['analysis']> {
  const uri = (k: string) => dataUri(() => store.get(k));
  const images = await Promise.all(analysis.saliency.images.map(async (s) => ({ ...s, image: await uri(s.image), biased: await uri(s.biased), debiased: await uri(s.debiased) })));
  return { ...analysis, saliency: { ...analysis.saliency, images } };
}

/** Up to two real bias-conflicting training images per class, from the selection, to set beside the generated ones. */
async function realConflicting(store: ArtifactStore, rows: readonly LossRow[]): Promise<Record<number, ReportImage[]>> {
  const out: Record<number, ReportImage[]> = {};
  for (const row of rows) {
    if (row.label === row.bias || (out[row.label]?.length ?? 0) >= 2) continue;
    out[row.label] = [...(out[row.label] ?? []), { src: await dataUri(() => readFileAt(row.file, store.settings)), caption: `real, class ${row.label}` }];
  }
  return out;
}

/** Chart.js's browser build, inlined so that the page works offline and alone. */
export async function reportAssets(): Promise<ReportAssets> {
  // The UMD build is not among the package's exports: found beside its main entry.
  const dist = dirname(require.resolve('chart.js'));
  return { chartScript: await readFile(join(dist, 'chart.umd.min.js'), 'utf8') };
}


/** Where the page goes: beside the results it is made from. */
export function reportHtmlKey(resultsKey: string): string {
  return resultsKey.replace(/results\.json$/, 'report.html');
}

/** The experiment's report as one self-contained page. */
export async function renderExperimentReport(store: ArtifactStore, result: ExperimentResult, uiLink?: string): Promise<string> {
  return renderReport(await collectReport(store, result, uiLink), await reportAssets());
}
