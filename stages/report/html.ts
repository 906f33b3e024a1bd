import type { Accuracy, Analysis, ClassifierRole, ExperimentResult } from '../contracts';
import type { Energy } from '../../core/energy';
import type { ClassSelection, LossHistogram } from './selection-stats';
import type { ColourGrid } from './colour-check';
import { ownReproduction } from './paper-results';
import { describeSideStages } from '../activity-table';

export interface ReportImage {
  /** data: URI of a PNG. */
  src: string;
  caption: string;
}

export interface ReportData {
  result: ExperimentResult;
  classNames: readonly string[];
  /** Where the run is in the Temporal Web UI. */
  uiLink?: string;
  /** The method's stages (selection, captions, generation); absent for a vanilla-only experiment. */
  method?: MethodReport;
  /** The resolved experiment config, as stored beside the results. */
  config?: unknown;
  /** Names of the bias attribute's values (Colored MNIST: the colours), by index. */
  biasNames?: readonly string[];
  /** analyzeModels' analysis, its images' keys replaced by data: URIs. */
  analysis?: Analysis;
}

/** What the report shows of DiffuBias's own stages: f_B's selection, the captions, the generated set. */
export interface MethodReport {
  topK: { k: number; mode: string; selected: number; precision: number | null; recall: number | null; rows: { image: ReportImage; label: number; bias: number; ce: number; gce: number }[] };
  captions: {
    f: number; topWords: { word: string; count: number }[];
    /** The first captions of each list, with a thumbnail (data: URI) of the image each describes. */
    kept: { text: string; label: number; thumb?: string }[]; dropped: { text: string; label: number; reason: string; thumb?: string }[];
    keptTotal: number; droppedTotal: number;
    /** Images captioned. */
    images: number;
  };
  /** Images generated in all, and the first of each class. */
  generatedTotal: number;
  generated: { label: number; images: ReportImage[] }[];
  /** f_B's losses over the training set and the selection, per class (stages/report/selection-stats.ts). */
  losses?: LossHistogram;
  perClass?: ClassSelection[];
  /** Generated images by class x measured bias colour (stages/report/colour-check.ts), beside real conflicting ones. */
  generatedGrid?: ColourGrid<ReportImage> & { realConflicting: Record<number, ReportImage[]> };
}

/** What the page needs besides the data: the charting library's browser build, inlined. */
export interface ReportAssets {
  chartScript: string;
}

/** One chart: a canvas and its Chart.js configuration. */
export interface ChartSpec {
  id: string;
  label: string;
  config: unknown;
}

const ROLE_COLORS: Record<ClassifierRole, string> = { vanilla: '#7f7f7f', biased: '#d62728', debiased: '#1f77b4' };
const ROLE_ORDER: ClassifierRole[] = ['vanilla', 'biased', 'debiased'];

function accuracyChart(accuracy: Partial<Record<ClassifierRole, Accuracy>>): ChartSpec {
  const roles = ROLE_ORDER.filter((r) => accuracy[r]);
  return {
    id: 'chart-accuracy', label: 'Test accuracy per model and subset (%)',
    config: {
      type: 'bar',
      data: {
        labels: ['unbiased', 'bias-aligned', 'bias-conflicting'],
        datasets: roles.map((r) => ({ label: ROLE_NAMES[r], backgroundColor: ROLE_COLORS[r], data: [accuracy[r]!.unbiased, accuracy[r]!.aligned, accuracy[r]!.conflicting].map((v) => (Number.isFinite(v) ? v : null)) })),
      },
      options: { animation: false, responsive: true, scales: { y: { min: 0, max: 100, title: { display: true, text: '%' } } } },
    },
  };
}

type Training = NonNullable<ExperimentResult['training']>[ClassifierRole];

/** One line per role over epochs, from each role's training record; the kept epoch drawn larger. */
function perEpochChart(
  training: ExperimentResult['training'], id: string, label: string, y: object,
  curve: (t: NonNullable<Training>) => number[] | undefined,
): ChartSpec | undefined {
  const roles = ROLE_ORDER.filter((r) => training?.[r] && curve(training[r]!)?.length);
  if (roles.length === 0) return undefined;
  const epochs = Math.max(...roles.map((r) => curve(training![r]!)!.length));
  return {
    id, label,
    config: {
      type: 'line',
      data: {
        labels: Array.from({ length: epochs }, (_, i) => String(i + 1)),
        datasets: roles.map((r) => {
          const t = training![r]!;
          const data = curve(t)!;
          return { label: ROLE_NAMES[r], borderColor: ROLE_COLORS[r], backgroundColor: ROLE_COLORS[r], data, pointRadius: data.map((_, i) => (i + 1 === t.bestEpoch ? 7 : 2)) };
        }),
      },
      options: { animation: false, responsive: true, scales: { x: { title: { display: true, text: 'epoch' } }, y } },
    },
  };
}

const curvesChart = (training: ExperimentResult['training']) => perEpochChart(training, 'chart-curves',
  'Validation accuracy per epoch (%); the large point is the epoch kept', { title: { display: true, text: 'validation accuracy (%)' } }, (t) => t.validCurve);

const lossCurvesChart = (training: ExperimentResult['training']) => perEpochChart(training, 'chart-train-loss',
  'Training loss per epoch (each model its own loss: GCE for f_B, CE for the others); the large point is the epoch kept',
  { type: 'logarithmic', title: { display: true, text: 'mean training loss' } }, (t) => t.trainLossCurve);

function energyChart(energy: ExperimentResult['energy']): ChartSpec | undefined {
  if (!energy) return undefined;
  return {
    id: 'chart-energy', label: 'Energy per stage (Wh)',
    config: {
      type: 'bar',
      data: { labels: energy.stages.map((s) => s.stage), datasets: [{ label: 'Wh', backgroundColor: '#2ca02c', data: energy.stages.map((s) => s.energy.kwh.total * 1000) }] },
      options: { animation: false, responsive: true, indexAxis: 'y', plugins: { legend: { display: false } } },
    },
  };
}

function lossChart(h: LossHistogram | undefined): ChartSpec | undefined {
  if (!h) return undefined;
  const labels = h.edges.slice(0, -1).map((e) => `1e${e.toFixed(1)}`);
  const series = (label: string, color: string, data: number[]) => ({ label, backgroundColor: color, data: data.map((n) => (n > 0 ? n : null)) });
  return {
    id: 'chart-losses', label: `f_B's ${h.score.toUpperCase()} per training image (log scale both ways); the top-K selection in green`,
    config: {
      type: 'bar',
      data: {
        labels,
        datasets: [
          ...(h.unlabelled?.some((n) => n > 0) ? [series('no bias label', '#9e9e9e', h.unlabelled)] : []),
          series('bias-aligned', '#9e9e9e', h.aligned), series('bias-conflicting', '#d62728', h.conflicting), series('selected (top-K)', '#2ca02c', h.selected),
        ],
      },
      options: {
        animation: false, responsive: true,
        scales: { x: { title: { display: true, text: `${h.score.toUpperCase()} (bin start)` } }, y: { type: 'logarithmic', title: { display: true, text: 'images' } } },
      },
    },
  };
}

const GROUP_COLORS = { aligned: '#9e9e9e', conflicting: '#d62728', real: '#9e9e9e', generated: '#1f77b4' } as const;
const GROUP_NAMES = { aligned: 'real, bias-aligned', conflicting: 'real, bias-conflicting', real: 'real (no bias labels)', generated: 'generated' } as const;

function embeddingChart(analysis: ReportData['analysis']): ChartSpec | undefined {
  const points = analysis?.embedding.points ?? [];
  if (points.length === 0) return undefined;
  const groups = (['aligned', 'conflicting', 'real', 'generated'] as const).filter((g) => points.some((p) => p.group === g));
  return {
    id: 'chart-embedding', label: `UMAP of f_D's penultimate features: ${groups.map((g) => GROUP_NAMES[g]).join(', ')} training images`,
    config: {
      type: 'scatter',
      data: {
        datasets: groups.map((g) => ({
          label: GROUP_NAMES[g], backgroundColor: GROUP_COLORS[g], pointRadius: 2.5,
          data: points.filter((p) => p.group === g).map((p) => ({ x: p.x, y: p.y })),
        })),
      },
      options: { animation: false, responsive: true, aspectRatio: 1.4, scales: { x: { display: false }, y: { display: false } } },
    },
  };
}

function saliencySection(d: ReportData, name: (label: number) => string, biasName: (bias: number) => string, chart: string): string {
  const a = d.analysis;
  if (!a) return '';
  const what = a.saliency.kind === 'grad-cam' ? 'Grad-CAM on the last convolutional block' : "input-gradient saliency (|d score / d pixel|; the MLP has no convolution for Grad-CAM)";
  const rows = a.saliency.images.map((s) => `<tr><td>${esc(name(s.label))}, ${esc(biasName(s.bias))}</td><td><img class="sal" src="${s.image}" alt=""></td><td><img class="sal" src="${s.biased}" alt=""></td><td><img class="sal" src="${s.debiased}" alt=""></td></tr>`).join('');
  return `<h2>What the models look at, and how f_D sees the data</h2><p>${esc(what)}, for the true class, on the same bias-conflicting test images.</p>`
    + `<div class="wide"><table class="saliency"><tr><th>class, colour</th><th>image</th><th>f_B</th><th>f_D (DiffuBias)</th></tr>${rows}</table></div>${chart}`;
}

export function chartFigure(spec: ChartSpec): string {
  return `<figure class="chart"><figcaption>${esc(spec.label)}</figcaption><canvas id="${spec.id}" role="img" aria-label="${esc(spec.label)}"></canvas></figure>`;
}

/** The library and what draws each chart: the end of a page's body. */
export function chartScripts(charts: readonly ChartSpec[], assets: ReportAssets): string {
  return `<script type="application/json" id="chart-specs">${scriptJson(charts.map(({ id, config }) => ({ id, config })))}</script>
<script>${assets.chartScript}</script>
<script>for (const spec of JSON.parse(document.getElementById('chart-specs').textContent)) new Chart(document.getElementById(spec.id), spec.config);</script>`;
}

/** JSON safe inside a script element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function verdict(r: ExperimentResult): string {
  const d = r.accuracy.debiased?.unbiased;
  const v = r.accuracy.vanilla?.unbiased;
  if (d === undefined && v !== undefined && r.topK === undefined) {
    return `Vanilla baseline alone: ${pct(v)}% on the unbiased test set (seed ${r.seed}). ${budgetNote(r)}`;
  }
  if (d === undefined || !Number.isFinite(d)) return 'No DiffuBias accuracy: the run did not evaluate f_D.';
  if (v === undefined || !Number.isFinite(v)) return `DiffuBias reaches ${pct(d)}% on the unbiased test set (no vanilla model to compare).`;
  const gain = d - v;
  return `DiffuBias ${pct(d)}% vs vanilla ${pct(v)}% on the unbiased test set: ${gain >= 0 ? '+' : ''}${gain.toFixed(2)} points `
    + `(one experiment, seed ${r.seed}; a sweep over seeds gives error bars). ${budgetNote(r)}`;
}

/** The paper's training length (§4.1): below it vanilla is undertrained and a gain says little. */
const PAPER_EPOCHS = 50;

/** At which budget the gain was measured, and what that budget means for it. */
export function budgetNote(r: ExperimentResult): string {
  const epochs = r.training?.debiased?.protocol.epochs ?? r.training?.vanilla?.protocol.epochs;
  if (epochs === undefined) return '';
  const budget = `Measured at ${epochs} epochs${r.generated === undefined ? '' : ` with ${r.generated.toLocaleString('en-US')} generated images`}.`;
  if (epochs >= PAPER_EPOCHS) return budget;
  const undertrained = `${budget} Below the paper's ${PAPER_EPOCHS} epochs vanilla is undertrained, so this gain overstates the method: compare at the paper's budget`;
  const own = ownReproduction(r.dataset);
  if (!own) return `${undertrained} (docs/results.md).`;
  const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
  const gains = own.rows.map((c) => `${signed(c.gain[0])} ± ${c.gain[1].toFixed(2)} at ${c.ratio}%`).join(', ');
  return `${undertrained}. There (${own.protocol}; recipe ${own.recipe}; n = ${own.rows[0]?.n ?? 0} seeds per ratio), DiffuBias - vanilla was ${gains} (docs/results.md).`;
}

function judgeSection(d: ReportData, name: (label: number) => string): string {
  const j = d.analysis?.judge;
  if (!j) return '';
  const share = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)}%` : 'n/a');
  const rows = j.perClass.filter((c) => c.generated > 0).map((c) => `<tr><td>${esc(name(c.label))}</td><td>${c.generated}</td><td>${c.recognised}</td><td>${share(c.recognised, c.generated)}</td></tr>`).join('');
  return `<h3>Do they show the prompted digit?</h3><p>A reference classifier (${esc(j.method)}; ${j.testAccuracy.toFixed(2)}% on MNIST's test set) recognises the prompted digit in `
    + `<b>${j.recognised} of ${j.generated} generated images (${share(j.recognised, j.generated)})</b>.</p>`
    + `<div class="wide"><table><tr><th>class</th><th>generated</th><th>recognised</th><th>share</th></tr>${rows}</table></div>`;
}

function generatedGridSection(m: MethodReport, biasNames: ReportData['biasNames'], name: (label: number) => string): string {
  const g = m.generatedGrid;
  if (!g) return '';
  const colours = biasNames ?? g.cells[0]!.map((_, i) => `bias ${i}`);
  const head = `<tr><th>class</th><th>real bias-conflicting</th>${colours.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
  const rows = g.cells.map((row, label) => `<tr><th>${esc(name(label))}</th><td>${(g.realConflicting[label] ?? []).map((i) => `<img src="${i.src}" alt="" title="${esc(i.caption)}">`).join('')}</td>`
    + row.map((c, colour) => `<td class="${colour === label ? 'own' : ''}">${c.example ? `<img src="${c.example.src}" alt="" title="${esc(c.example.caption)}">` : ''}<br><small>${c.count || ''}</small></td>`).join('') + '</tr>').join('');
  const share = g.measured ? ((100 * g.ownColour) / g.measured).toFixed(1) : 'n/a';
  return `<h3>By class and measured colour</h3><p>Each generated image's colour is measured (its digit's mean colour, nearest bias colour). `
    + `<b>${g.ownColour} of ${g.measured} (${share}%)</b> carry their own class's bias colour (the shaded diagonal): those are bias-aligned, not what DiffuBias asks for.`
    + `${g.noForeground ? ` ${g.noForeground} had no digit to measure.` : ''} Counts are images; one example per cell.</p>`
    + `<div class="wide"><table class="colours">${head}${rows}</table></div>`;
}

function lossSection(m: MethodReport, chart: string): string {
  const h = m.losses;
  if (!h) return '';
  const fitted = h.conflictingTotal ? ` ${h.fittedConflicting} of the ${h.conflictingTotal} bias-conflicting images (${((100 * h.fittedConflicting) / h.conflictingTotal).toFixed(1)}%) have ${h.score.toUpperCase()} ≤ 0.001: f_B fitted them, and no K reaches them before the bias-aligned images above them.` : '';
  const lowest = h.lowestSelected === undefined ? '' : ` The lowest selected ${h.score.toUpperCase()} is ${h.lowestSelected.toPrecision(3)}.`;
  return `<h2>f_B's loss on the training set</h2>${chart}<p>${fitted}${lowest}</p>`;
}

function selectionTable(m: MethodReport, name: (label: number) => string): string {
  if (!m.perClass?.length) return '';
  const pct1 = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');
  const rows = m.perClass.map((c) => (c.labelled === false
    ? `<tr><td>${esc(name(c.label))}</td><td>${c.selected}</td><td>n/a</td><td>n/a</td><td>n/a</td><td>n/a</td><td>n/a</td></tr>`
    : `<tr><td>${esc(name(c.label))}</td><td>${c.selected}</td><td>${c.conflictingSelected}</td><td>${c.selected - c.conflictingSelected}</td><td>${pct1(c.precision)}</td><td>${c.conflictingInClass}</td><td>${pct1(c.recall)}</td></tr>`)).join('');
  return `<div class="wide"><table><tr><th>class</th><th>selected (K)</th><th>bias-conflicting</th><th>bias-aligned (wrong)</th><th>precision</th><th>bias-conflicting in class</th><th>recall</th></tr>${rows}</table></div>`;
}

/** Activity time, reuse and energy per stage, from what the workers measured. */
function stagesTable(r: ExperimentResult): string {
  if (!r.energy) return '';
  const reuse = new Map((r.reuse ?? []).map((x) => [x.stage, x]));
  const rows = r.energy.stages.map((s) => {
    const re = reuse.get(s.stage);
    return `<tr><td>${esc(s.stage)}</td><td>${s.units}</td><td>${re ? re.reused : ''}</td><td>${s.energy.wallSeconds.toFixed(1)}</td><td>${s.energy.cpuSeconds.toFixed(1)}</td>`
      + `<td>${(s.energy.kwh.total * 1000).toFixed(3)}</td><td>${s.energy.gCo2eq.toFixed(3)}</td></tr>`;
  }).join('');
  const t = r.energy.total;
  return `<div class="wide"><table><tr><th>stage</th><th>units</th><th>reused</th><th>activity s</th><th>CPU s</th><th>Wh</th><th>gCO<sub>2</sub>eq</th></tr>${rows}`
    + `<tr><th>total</th><th></th><th></th><th>${t.wallSeconds.toFixed(1)}</th><th>${t.cpuSeconds.toFixed(1)}</th><th>${(t.kwh.total * 1000).toFixed(3)}</th><th>${t.gCo2eq.toFixed(3)}</th></tr></table></div>`
    + `<p class="note">Activity seconds add up units run side by side. Energy by CodeCarbon's method, measured by the workers (docs/energy.md): ${r.energy.models.map(esc).join('; ') || 'no power model recorded'}.</p>`;
}

const ROLE_NAMES: Record<ClassifierRole, string> = { vanilla: 'Vanilla (CE)', biased: 'f_B (GCE, biased on purpose)', debiased: 'DiffuBias (f_D)' };

/** How each classifier's epoch was chosen, and its validation curve (docs/protocol.md). */
function trainingTable(training: ExperimentResult['training']): string {
  const roles = (Object.keys(ROLE_NAMES) as ClassifierRole[]).filter((role) => training?.[role]?.protocol);
  if (roles.length === 0) return '';
  const rows = roles.map((role) => {
    const t = training![role]!;
    const p = t.protocol;
    return `<tr><td>${esc(ROLE_NAMES[role])}</td><td>${p.selection === 'last' ? 'last epoch' : 'best on validation'}</td><td>${t.bestEpoch} of ${p.epochs}</td>`
      + `<td>${esc(p.valid.bias)}, ${p.valid.images} (${Number.isFinite(p.valid.conflicting) ? p.valid.conflicting : 'n/a'} conflicting)</td><td>${esc(p.init)}</td><td>${t.validCurve.map((v) => v.toFixed(1)).join(' · ')}</td></tr>`;
  });
  return `<table><tr><th>model</th><th>epoch kept</th><th>epoch</th><th>validation split</th><th>init</th><th>validation accuracy per epoch (%)</th></tr>${rows.join('')}</table>`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const pct = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');

/** Accuracy per model: overall, by bias subset (n/a without bias labels), the worst class and group; then per class. */
function accuracyTable(accuracy: Partial<Record<ClassifierRole, Accuracy>>, name: (label: number) => string): string {
  const roles = (['vanilla', 'biased', 'debiased'] as const).filter((r) => accuracy[r]);
  const worst = roles.some((r) => accuracy[r]!.worstClass !== undefined);
  const group = roles.some((r) => accuracy[r]!.worstGroup !== undefined);
  const rows = roles.map((r) => {
    const a = accuracy[r]!;
    return `<tr><td>${ROLE_NAMES[r]}</td><td>${pct(a.unbiased)}</td><td>${pct(a.aligned)}</td><td>${pct(a.conflicting)}</td>${worst ? `<td>${pct(a.worstClass ?? Number.NaN)}</td>` : ''}${group ? `<td>${pct(a.worstGroup ?? Number.NaN)}</td>` : ''}</tr>`;
  });
  const table = `<table><tr><th>model</th><th>unbiased</th><th>bias-aligned</th><th>bias-conflicting</th>${worst ? '<th>worst class</th>' : ''}${group ? '<th>worst group (class x bias)</th>' : ''}</tr>${rows.join('')}</table>`;
  const classes = Math.max(0, ...roles.map((r) => accuracy[r]!.perClass?.length ?? 0));
  if (classes === 0) return table;
  const head = `<tr><th>model</th>${Array.from({ length: classes }, (_, c) => `<th>${esc(name(c))}</th>`).join('')}</tr>`;
  const perClass = roles.map((r) => `<tr><td>${ROLE_NAMES[r]}</td>${Array.from({ length: classes }, (_, c) => `<td>${pct(accuracy[r]!.perClass?.[c] ?? Number.NaN)}</td>`).join('')}</tr>`);
  return `${table}<h3>Per class</h3><table>${head}${perClass.join('')}</table>`;
}

function figure(img: ReportImage, extra = ''): string {
  return `<figure><img src="${img.src}" alt=""><figcaption>${esc(img.caption)}${extra}</figcaption></figure>`;
}

/** The method's own stages: f_B's losses and selection, the captions, the generated set. */
function methodSections(d: ReportData, m: MethodReport, name: (label: number) => string, biasName: (bias: number) => string, chart: (id: string) => string): string {
  const topKFigure = (row: MethodReport['topK']['rows'][number]) => {
    const wrong = row.label === row.bias;
    return `<figure class="${wrong ? 'wrong' : ''}"><img src="${row.image.src}" alt=""><figcaption>CE ${row.ce.toFixed(2)} · ${esc(biasName(row.bias))}${wrong ? '<br><b>aligned: wrongly selected</b>' : ''}</figcaption></figure>`;
  };
  const topKByClass = [...new Set(m.topK.rows.map((x) => x.label))].sort((a, b) => a - b)
    .map((label) => `<h3>${esc(name(label))}</h3><div class="grid">${m.topK.rows.filter((x) => x.label === label).map(topKFigure).join('')}</div>`).join('');
  const words = m.captions.topWords.map((w) => `<span class="word">${esc(w.word)} <small>${w.count}</small></span>`).join(' ');
  const captionRows = (list: { text: string; label: number; reason?: string; thumb?: string }[]) =>
    list.map((c) => `<tr><td>${c.thumb ? `<img class="thumb" src="${c.thumb}" alt="">` : ''}</td><td>${esc(name(c.label))}</td><td>${esc(c.text)}</td>${c.reason !== undefined ? `<td>${esc(c.reason)}</td>` : ''}</tr>`).join('');
  const perImage = m.captions.keptTotal + m.captions.droppedTotal > 0 && m.captions.images > 0 ? (m.captions.keptTotal + m.captions.droppedTotal) / m.captions.images : undefined;
  const generated = m.generated.map((g) => `<h3>${esc(name(g.label))}</h3><div class="grid">${g.images.map((i) => figure(i)).join('')}</div>`).join('');
  return `${lossSection(m, chart('chart-losses'))}
<h2>Top-${m.topK.k} highest-loss training images ${m.topK.mode === 'per-class' ? 'per class' : `(${esc(m.topK.mode)})`}</h2>
<p>${m.topK.precision === null || m.topK.recall === null ? `${m.topK.selected} selected; the dataset has no bias labels, so how many are bias-conflicting is n/a.` : `${m.topK.selected} selected; ${(100 * m.topK.precision).toFixed(1)}% are bias-conflicting; they hold ${(100 * m.topK.recall).toFixed(1)}% of all bias-conflicting training images.`}
Showing ${m.topK.rows.length}, the highest losses of each class; a red frame marks a bias-aligned image selected by mistake.</p>
${selectionTable(m, name)}${topKByClass}
<h2>Captions</h2>
<p>Counts are captions: ${m.captions.keptTotal + m.captions.droppedTotal} captions of ${m.captions.images} images${perImage ? ` (${Number(perImage.toFixed(2))} per image)` : ''}; ${m.captions.keptTotal} kept, ${m.captions.droppedTotal} dropped by the text filter. Top-${m.captions.f} words (times they occur in the captions): ${words || '(none)'}</p>
<h3>Kept (first ${m.captions.kept.length} captions)</h3><div class="scroll"><table><tr><th>image</th><th>class</th><th>caption</th></tr>${captionRows(m.captions.kept)}</table></div>
<h3>Dropped (first ${m.captions.dropped.length} captions)</h3><div class="scroll"><table><tr><th>image</th><th>class</th><th>caption</th><th>why</th></tr>${captionRows(m.captions.dropped)}</table></div>
<h2>Generated samples (${m.generatedTotal} in all)</h2>${generatedGridSection(m, d.biasNames, name)}${judgeSection(d, name)}<h3>First of each class</h3>${generated || '<p>None.</p>'}`;
}

/** What each side stage (stages/activity-table.ts) found: a stage declared there shows here unasked. */
function sideStagesSection(r: ExperimentResult): string {
  const lines = describeSideStages(r.sideStages).map(({ name, line }) => `<li><code>${esc(name)}</code>: ${esc(line)}</li>`);
  return lines.length === 0 ? '' : `<h2>Side stages</h2><p>Stages that look at the run without changing it.</p><ul>${lines.join('')}</ul>`;
}

/** A self-contained HTML report of one experiment (images inlined), readable offline. */
export function renderReport(d: ReportData, assets: ReportAssets): string {
  const r = d.result;
  const charts = [accuracyChart(r.accuracy), curvesChart(r.training), lossCurvesChart(r.training), lossChart(d.method?.losses), embeddingChart(d.analysis), energyChart(r.energy)].filter((c): c is ChartSpec => c !== undefined);
  const chart = (id: string) => { const c = charts.find((x) => x.id === id); return c ? chartFigure(c) : ''; };
  const name = (label: number) => d.classNames[label] ?? String(label);
  const biasName = (bias: number) => d.biasNames?.[bias] ?? `bias ${bias}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>DiffuBias ${esc(r.experimentId)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1rem auto;padding:0 1rem;max-width:75rem;color:#222}
.verdict{font-size:1.15rem;font-weight:600;background:#eef6ee;border-left:.3rem solid #2ca02c;padding:.5rem .8rem}
.chart{margin:1rem 0;width:auto;max-width:48rem;text-align:left;font-size:1rem}.chart figcaption{font-size:.85rem;color:#555;text-align:left}.chart canvas{width:100%}
.wide{overflow-x:auto;max-width:100%}.note{font-size:.85rem;color:#555}pre{background:#f6f6f6;padding:.5rem;font-size:.8rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}
th{background:#f3f3f3}.grid{display:flex;flex-wrap:wrap;gap:.4rem}
figure{margin:0;width:6.5rem;font-size:.7rem;text-align:center}img{width:56px;height:56px;image-rendering:pixelated;background:#000}
.word{display:inline-block;background:#eef;border-radius:.3rem;padding:.1rem .4rem;margin:.1rem}
.scroll{max-height:22rem;overflow:auto}
figure.wrong img{outline:3px solid #d62728}
table.colours td,table.colours th{text-align:center;padding:.15rem}table.colours img{width:28px;height:28px;margin:1px}td.own{background:#fde0e0}img.thumb{width:28px;height:28px}img.sal{width:84px;height:84px;image-rendering:pixelated}
</style></head><body>
<h1>${d.method ? 'DiffuBias' : 'Vanilla baseline'}: ${esc(r.dataset)} at ${r.ratio}% bias-conflicting, seed ${r.seed}</h1>
<p class="verdict">${esc(verdict(r))}</p>
<p>Experiment <code>${esc(r.experimentId)}</code> (config ${esc(r.configHash)})${d.uiLink ? ` · <a href="${esc(d.uiLink)}">Temporal Web UI</a>` : ''}</p>
<h2>Test accuracy (%)</h2>${chart('chart-accuracy')}<div class="wide">${accuracyTable(r.accuracy, name)}</div>
${r.training ? `<h2>Training</h2>${chart('chart-curves')}${chart('chart-train-loss')}<div class="wide">${trainingTable(r.training)}</div>` : ''}
${d.method ? methodSections(d, d.method, name, biasName, chart) : ''}
${saliencySection(d, name, biasName, chart('chart-embedding'))}
${sideStagesSection(r)}
${r.energy ? `<h2>Stages: time, reuse, energy and CO<sub>2</sub></h2>${chart('chart-energy')}${stagesTable(r)}` : ''}
${d.config === undefined ? '' : `<h2>Config</h2><pre class="wide">${esc(JSON.stringify(d.config, null, 2))}</pre>`}
${chartScripts(charts, assets)}
</body></html>
`;
}
