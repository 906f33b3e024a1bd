import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ArtifactStore } from '../core/store';
import type { ExperimentResult } from '../stages/contracts';
import { renderExperimentReport, reportAssets, reportHtmlKey } from '../stages/report/collect-report';
import { sweepHtml, sweepMarkdown, type SweepTableInput } from '../stages/report/sweep-table';

/**
 * Writes `results.json` and `report.html` for an experiment under `dir`; returns their paths. The
 * page is the one the run's writeReport step stored; results from before it stored pages get one
 * rendered here from their artifacts.
 */
export async function writeReportFiles(store: ArtifactStore, result: ExperimentResult, dir: string): Promise<{ json: string; html: string; stored: boolean }> {
  await mkdir(dir, { recursive: true });
  const json = resolve(join(dir, 'results.json'));
  const html = resolve(join(dir, 'report.html'));
  await writeFile(json, `${JSON.stringify(result, null, 2)}\n`);
  const stored = await store.get(reportHtmlKey(result.reportKey));
  await writeFile(html, stored ?? (await renderExperimentReport(store, result)));
  return { json, html, stored: stored !== null };
}

/** Writes a sweep's `results.json`, `table.md` and `table.html` under `dir`; returns the tables' paths. */
export async function writeSweepTables(sweep: SweepTableInput, dir: string): Promise<{ md: string; html: string }> {
  await mkdir(dir, { recursive: true });
  const md = resolve(join(dir, 'table.md'));
  const html = resolve(join(dir, 'table.html'));
  await writeFile(resolve(join(dir, 'results.json')), `${JSON.stringify(sweep, null, 2)}\n`);
  await writeFile(md, sweepMarkdown(sweep));
  await writeFile(html, sweepHtml(sweep, await reportAssets()));
  return { md, html };
}
