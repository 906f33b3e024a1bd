/**
 * The experiment report in a real browser (Debian's Chromium, headless): it loads without console
 * errors, every chart renders (a Chart.js instance with ink on its canvas), and a phone-width window
 * does not scroll sideways. Screenshots go to DIFFUBIAS_SCREENSHOTS (default: a temp folder). Needs
 * Chromium (`apt-get install chromium`, or DIFFUBIAS_CHROMIUM=<path>).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { NO_ENERGY, type Energy } from '../../core/energy';
import type { ExperimentResult } from '../../stages/contracts';
import { renderReport, type ReportData } from '../../stages/report/html';
import { reportAssets } from '../../stages/report/collect-report';
import { chromiumPath, openPage, type OpenedPage } from '../support/browser';
import { lossHistogram, selectionPerClass } from '../../stages/report/selection-stats';
import { colourGrid } from '../../stages/report/colour-check';
import { sweepHtml } from '../../stages/report/sweep-table';
import { aggregateSweep } from '../../stages/report/sweep-aggregate';

const energy = (wh: number, cpu: number): Energy => ({ ...NO_ENERGY, wallSeconds: cpu, cpuSeconds: cpu, kwh: { ...NO_ENERGY.kwh, cpu: wh / 1000, total: wh / 1000 }, gCo2eq: (wh / 1000) * 475 });
const stages: [string, number, number][] = [['prepareDataset', 0.2, 3], ['trainClassifier(biased)', 1.5, 60], ['captionImage', 0.8, 30], ['generateBatch', 2.4, 95], ['trainClassifier(debiased)', 1.9, 75], ['evaluate', 0.3, 9]];
const protocol = { selection: 'last' as const, valid: { bias: 'unbiased' as const, images: 5000, conflicting: 4479 }, init: 'torch' as const, epochs: 5 };
const result: ExperimentResult = {
  experimentId: 'cmnist/1/0/abcdef123456', dataset: 'cmnist', ratio: 1, seed: 0, configHash: 'abcdef123456',
  accuracy: {
    vanilla: { unbiased: 51.4, aligned: 99.1, conflicting: 46.1 },
    biased: { unbiased: 21.09, aligned: 100, conflicting: 12.3 },
    debiased: { unbiased: 72.85, aligned: 95.2, conflicting: 70.4 },
  },
  training: {
    vanilla: { protocol, bestEpoch: 5, validAccuracy: 50.2, validCurve: [30.1, 41.2, 46.8, 48.9, 50.2], trainLossCurve: [0.9, 0.4, 0.2, 0.1, 0.05] },
    biased: { protocol, bestEpoch: 5, validAccuracy: 19.8, validCurve: [20.7, 19.6, 18.2, 19.8, 19.8], trainLossCurve: [0.14, 0.013, 0.012, 0.012, 0.011] },
    debiased: { protocol, bestEpoch: 5, validAccuracy: 70.1, validCurve: [35, 52.4, 61.9, 66.3, 70.1] },
  },
  topK: { k: 50, mode: 'per-class', selected: 500, precision: 0.8, recall: 0.7 },
  captions: { images: 500, kept: 1300, dropped: 200, topWords: [{ word: 'red', count: 300 }] },
  generated: 4500,
  reuse: stages.map(([stage]) => ({ stage, units: 1, reused: 0 })),
  energy: { stages: stages.map(([stage, wh, cpu]) => ({ stage, units: 1, measured: 1, energy: energy(wh, cpu) })), total: energy(7.1, 272), models: ['CPU test: 85 W over 2 cores; RAM 0.375 W/GB; 475 gCO2eq/kWh'] },
  reportKey: 'runs/cmnist/1/0/abcdef123456/report/results.json',
};

/** Run in the page (a string: this project's types have no DOM): each chart, drawn and with ink. */
const CHARTS_ON_PAGE = `JSON.parse(document.getElementById('chart-specs').textContent).map(({ id }) => {
  const canvas = document.getElementById(id);
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
  return { id, drawn: Chart.getChart(canvas) !== undefined, inked, shown: canvas.clientWidth > 0 };
})`;

// 990 bias-aligned images with small losses, 10 bias-conflicting ones spread from fitted to large.
const lossRows = Array.from({ length: 1000 }, (_, i) => {
  const conflicting = i % 100 === 0;
  return { file: `f${i}`, label: i % 10, bias: conflicting ? (i % 10 + 1) % 10 : i % 10, predicted: 0, ce: conflicting ? 10 ** (-5 + (i / 100) * 0.6) : 10 ** (-3 + (i % 17) / 10), gce: 0 };
});

let opened: OpenedPage | undefined;
afterAll(async () => {
  await opened?.close();
});

// Skipped where no Chromium is installed, unless required (CI installs it and requires it).
describe.skipIf(!chromiumPath() && process.env.DIFFUBIAS_REQUIRE_CHROMIUM !== '1')('the experiment report in Chromium', () => {
  it('loads without console errors; every chart renders; a narrow window does not scroll sideways', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toBuffer();
    const image = { src: `data:image/png;base64,${png.toString('base64')}`, caption: 'class 3' };
    const data: ReportData = {
      result, classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
      method: {
        topK: { k: 50, mode: 'per-class', selected: 500, precision: 0.8, recall: 0.7, rows: [{ image, label: 3, bias: 5, ce: 4.2, gce: 1.3 }, { image, label: 3, bias: 3, ce: 3.1, gce: 1.1 }] },
        captions: { f: 20, topWords: [{ word: 'red', count: 300 }], kept: [{ text: 'a red three', label: 3, thumb: image.src }], dropped: [{ text: 'a two', label: 7, reason: 'names another class', thumb: image.src }], keptTotal: 1300, droppedTotal: 200, images: 500 },
        generatedTotal: 4500,
        generated: [{ label: 3, images: [image] }],
        losses: lossHistogram(lossRows, lossRows.filter((r) => r.ce > 1), 'ce'),
        perClass: selectionPerClass(lossRows, lossRows.filter((r) => r.ce > 1), 10),
        generatedGrid: { ...colourGrid([{ label: 3, colour: 0, example: image }, { label: 3, colour: 3, example: image }], 10, 10), realConflicting: { 3: [image] } },
      },
      config: { dataset: 'cmnist', ratio: 1, seed: 0, train: { epochs: 5 } },
      biasNames: ['red', 'green', 'blue', 'yellow', 'magenta', 'cyan', 'orange', 'purple', 'white', 'pink'],
      analysis: {
        judge: { method: 'MLP judge', testAccuracy: 97.5, generated: 20, recognised: 17, perClass: [{ label: 3, generated: 20, recognised: 17 }] },
        saliency: { kind: 'grad-cam', images: [{ label: 3, bias: 5, image: image.src, biased: image.src, debiased: image.src }] },
        embedding: { method: 'umap', model: 'debiased', points: Array.from({ length: 90 }, (_, i) => ({ x: Math.cos(i) * i, y: Math.sin(i) * i, group: (['aligned', 'conflicting', 'generated'] as const)[i % 3]!, label: i % 10 })) },
      },
    };
    const dir = mkdtempSync(join(tmpdir(), 'report-browser-'));
    const file = join(dir, 'report.html');
    writeFileSync(file, renderReport(data, await reportAssets()));
    const shots = process.env.DIFFUBIAS_SCREENSHOTS ?? dir;
    mkdirSync(shots, { recursive: true });

    for (const width of [1280, 390]) {
      opened = await openPage(pathToFileURL(file).href, width);
      const { page, errors } = opened;
      const charts = await page.evaluate(CHARTS_ON_PAGE) as { id: string; drawn: boolean; inked: number; shown: boolean }[];
      expect(errors).toEqual([]);
      expect(charts.map((c) => c.id)).toEqual(['chart-accuracy', 'chart-curves', 'chart-train-loss', 'chart-losses', 'chart-embedding', 'chart-energy']);
      for (const c of charts) {
        expect(c, c.id).toMatchObject({ drawn: true, shown: true });
        expect(c.inked, c.id).toBeGreaterThan(2000);
      }
      expect(await page.evaluate("document.querySelector('table.colours').textContent")).toContain('magenta');
      expect(await page.evaluate('document.body.textContent')).toContain('17 of 20 generated images (85.0%)');
      expect(await page.evaluate("document.querySelector('.verdict').textContent")).toContain('DiffuBias 72.85% vs vanilla 51.40% on the unbiased test set: +21.45 points');
      // The budget the gain was measured at, and what 5 epochs means for it.
      expect(await page.evaluate("document.querySelector('.verdict').textContent")).toMatch(/Measured at 5 epochs with [\d,]+ generated images\. Below the paper's 50 epochs vanilla is undertrained/);
      const sideways = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth') as number;
      expect(sideways).toBeLessThanOrEqual(0);
      await page.screenshot({ path: join(shots, `report-${width}.png`), fullPage: true });
      await opened.close();
      opened = undefined;
    }
  });

  it('the sweep page: its chart renders without console errors, beside the table', async () => {
    const results = [0, 1].flatMap((seed) => [1, 5].map((ratio) => ({ ...result, ratio, seed, accuracy: { ...result.accuracy, debiased: { unbiased: 70 + ratio + seed, aligned: 95, conflicting: 65 } } })));
    const dir = mkdtempSync(join(tmpdir(), 'sweep-browser-'));
    const file = join(dir, 'table.html');
    writeFileSync(file, sweepHtml({ sweepId: 's1', rows: aggregateSweep(results), experiments: [] }, await reportAssets()));
    opened = await openPage(pathToFileURL(file).href, 390);
    const charts = await opened.page.evaluate(CHARTS_ON_PAGE) as { id: string; drawn: boolean; inked: number }[];
    expect(opened.errors).toEqual([]);
    expect(charts).toHaveLength(1);
    expect(charts[0]).toMatchObject({ id: 'chart-sweep', drawn: true });
    expect(charts[0]!.inked).toBeGreaterThan(2000);
    expect(await opened.page.evaluate('document.documentElement.scrollWidth - window.innerWidth') as number).toBeLessThanOrEqual(0);
    await opened.page.screenshot({ path: join(process.env.DIFFUBIAS_SCREENSHOTS ?? dir, 'sweep-390.png'), fullPage: true });
    await opened.close();
    opened = undefined;
  });
});
