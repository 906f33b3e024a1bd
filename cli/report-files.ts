import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readFileAt } from '../core/data-source';
import { DATASETS } from '../datasets/specs';
import type { ArtifactStore } from '../core/store';
import { filterFileKey, type DroppedCaption, type TopWordsFile } from '../stages/filter-captions';
import { readGeneratedRows } from '../stages/generated-rows';
import type { ExperimentResult } from '../stages/contracts';
import { renderReport, type ReportData, type ReportImage } from '../stages/report/html';
import { sweepHtml, sweepMarkdown, type SweepTableInput } from '../stages/report/sweep-table';
import type { Caption } from '../engines/text/caption-filter';
import type { LossRow } from '../engines/selection/top-k';

const SHOW_TOP_K = 40;
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
  const selection = (await store.getJson<{ rows: LossRow[]; precision: number; recall: number; k: number }>(a.selectionKey))!;
  const topRows = await Promise.all(selection.rows.slice(0, SHOW_TOP_K).map(async (row) => {
    const image: ReportImage = { src: await dataUri(() => readFileAt(row.file, store.settings)), caption: `class ${row.label}` };
    return { image, label: row.label, bias: row.bias, ce: row.ce, gce: row.gce };
  }));
  const kept = (await store.getJson<Caption[]>(a.keptKey)) ?? [];
  const dropped = (await store.getJson<DroppedCaption[]>(filterFileKey(a.keptKey, 'dropped'))) ?? [];
  const top = (await store.getJson<Pick<TopWordsFile, 'f' | 'topWords'>>(filterFileKey(a.keptKey, 'topWords'))) ?? { f: 0, topWords: [] };
  const perClass = new Map<number, ReportImage[]>();
  for (const manifestKey of a.generatedManifests) {
    for (const row of await readGeneratedRows(store, manifestKey)) {
      const list = perClass.get(row.label) ?? [];
      if (list.length >= SHOW_PER_CLASS) continue;
      list.push({ src: await dataUri(() => store.get(row.key)), caption: row.prompt });
      perClass.set(row.label, list);
    }
  }
  return {
    result,
    classNames: DATASETS[result.dataset].classNames,
    uiLink,
    topK: { k: result.topK.k, mode: result.topK.mode, precision: selection.precision, recall: selection.recall, rows: topRows },
    captions: {
      f: top.f, topWords: top.topWords, kept: kept.slice(0, SHOW_CAPTIONS), dropped: dropped.slice(0, SHOW_CAPTIONS),
      keptTotal: kept.length, droppedTotal: dropped.length,
    },
    generated: [...perClass.entries()].sort((x, y) => x[0] - y[0]).map(([label, images]) => ({ label, images })),
  };
}

/** Writes `results.json` and `report.html` for an experiment under `dir`; returns their paths. */
export async function writeReportFiles(store: ArtifactStore, result: ExperimentResult, dir: string, uiLink?: string): Promise<{ json: string; html: string }> {
  await mkdir(dir, { recursive: true });
  const json = resolve(join(dir, 'results.json'));
  const html = resolve(join(dir, 'report.html'));
  await writeFile(json, `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(html, renderReport(await collectReport(store, result, uiLink)));
  return { json, html };
}

/** Writes a sweep's `results.json`, `table.md` and `table.html` under `dir`; returns the tables' paths. */
export async function writeSweepTables(sweep: SweepTableInput, dir: string): Promise<{ md: string; html: string }> {
  await mkdir(dir, { recursive: true });
  const md = resolve(join(dir, 'table.md'));
  const html = resolve(join(dir, 'table.html'));
  await writeFile(resolve(join(dir, 'results.json')), `${JSON.stringify(sweep, null, 2)}\n`);
  await writeFile(md, sweepMarkdown(sweep));
  await writeFile(html, sweepHtml(sweep));
  return { md, html };
}
