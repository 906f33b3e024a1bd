import type { ClassifierRole, TrainingProtocol } from '../contracts';
import type { SweepRow } from './sweep-aggregate';
import { chartFigure, chartScripts, type ChartSpec, type ReportAssets } from './html';
import type { Stat } from './stats';

/** What a sweep's table is made from: its rows and how each experiment ended. */
export interface SweepTableInput {
  sweepId: string;
  rows: readonly SweepRow[];
  experiments: readonly { workflowId: string; status: 'completed' | 'failed'; error?: string }[];
}

const ROLES: [ClassifierRole, string][] = [['vanilla', 'Vanilla'], ['biased', 'f_B'], ['debiased', 'DiffuBias']];

/** `mean ± std`, `mean ± n/a` for a single run, `n/a` when nothing finished. */
export function formatStat(stat: Stat | undefined): string {
  if (!stat || stat.mean === null) return 'n/a';
  return `${stat.mean.toFixed(2)} ± ${stat.std === null ? 'n/a' : stat.std.toFixed(2)}`;
}

/** Energy of one experiment of the cell (docs/energy.md), with its emissions. */
function formatEnergy(row: SweepRow): string {
  if (!row.energy || row.energy.wh.mean === null) return 'n/a';
  return `${formatStat(row.energy.wh)} (${row.energy.gCo2eq.mean!.toFixed(2)} gCO2eq)`;
}

/** DiffuBias minus vanilla, mean ± std of the per-seed differences. */
function gain(row: SweepRow): string {
  const g = row.gain;
  if (!g || g.mean === null) return 'n/a';
  return `${g.mean >= 0 ? '+' : ''}${formatStat(g)}`;
}

/** Does DiffuBias beat vanilla by more than twice the seeds' spread of the gain? Needs two seeds. */
function beyondSpread(row: SweepRow): string {
  const g = row.gain;
  if (!g || g.mean === null || g.std === null) return 'n/a';
  return g.mean > 2 * g.std ? 'yes' : 'no';
}

/** Minutes, mean ± std over seeds. */
function formatMinutes(w: Stat | undefined): string {
  if (!w || w.mean === null) return 'n/a';
  return `${(w.mean / 60).toFixed(1)} min${w.std === null ? '' : ` ± ${(w.std / 60).toFixed(1)}`}`;
}

/** The paper's DiffuBias, then each peer's rows under its name (`ERM 50.34` means nothing without whose). */
function reference(row: SweepRow): string {
  const paper = row.paper?.DiffuBias;
  const parts = paper === undefined ? [] : [`paper DiffuBias ${paper.toFixed(2)}`];
  for (const source of new Set(row.published.map((p) => p.source))) {
    const numbers = row.published.filter((p) => p.source === source)
      .map((p) => `${p.method} ${p.value.toFixed(2)}${p.subset === 'conflicting' ? ' (conflicting)' : ''}`);
    parts.push(`${SOURCE_NAMES[source] ?? source}: ${numbers.join(', ')}`);
  }
  return parts.join('; ') || '-';
}

/** Short names of the published sources in the table cell (their citations are under the table). */
const SOURCE_NAMES: Record<string, string> = { denetdm: 'DeNetDM', disent: 'DisEnt' };

function protocolText(protocol: SweepRow['protocol']): string | undefined {
  const roles = ROLES.filter(([role]) => protocol?.[role]);
  if (roles.length === 0) return undefined;
  const p0 = protocol![roles[0]![0]] as TrainingProtocol;
  const kept = roles.map(([role, name]) => {
    const p = protocol![role]!;
    return `${name} ${p.epochs !== p0.epochs ? `${p.epochs} epochs, ` : ''}${p.startedFrom ? 'from f_B, ' : ''}${p.selection === 'last' ? 'last epoch' : 'best on validation'}`;
  }).join(', ');
  return `${p0.epochs} epochs; ${kept}; validation ${p0.valid.bias} (${p0.valid.images} images); init ${p0.init}`;
}

/** The columns a sweep's rows fill: a vanilla-only sweep (the peers' protocol) has no f_B, DiffuBias or gain. */
function columns(rows: readonly SweepRow[]): { roles: typeof ROLES; gain: boolean; head: string[] } {
  const roles = ROLES.filter(([role]) => rows.length === 0 || rows.some((r) => r.ours[role]));
  const gain = rows.length === 0 || rows.some((r) => r.ours.debiased);
  return { roles, gain, head: ['dataset', 'ratio', 'n', ...roles.map(([, name]) => name), ...(gain ? ['gain', 'gain > 2 std'] : []), 'published (%)', 'wall per run', 'unit time per run', 'Wh per run'] };
}

function tableCells(row: SweepRow, cols: ReturnType<typeof columns>): string[] {
  return [
    row.dataset, `${row.ratio}%`, String(row.seeds.length), ...cols.roles.map(([role]) => formatStat(row.ours[role]?.unbiased)),
    ...(cols.gain ? [gain(row), beyondSpread(row)] : []), reference(row), formatMinutes(row.wallSeconds), formatMinutes(row.unitSeconds), formatEnergy(row),
  ];
}

/**
 * The worst-class and worst-group accuracies of each model, where any cell measured them: the figure
 * datasets without a bias-conflicting subset (or with Waterbirds-style groups) are judged by. One
 * cell per model: `worst class / worst group`, n/a where the dataset has no bias labels.
 */
function worstTable(rows: readonly SweepRow[], cols: ReturnType<typeof columns>): { head: string[]; cells: string[][] } | undefined {
  const measured = rows.some((r) => cols.roles.some(([role]) => r.ours[role]?.worstClass.mean != null));
  if (!measured) return undefined;
  return {
    head: ['dataset', 'ratio', 'n', ...cols.roles.map(([, name]) => `${name} worst class / worst group`)],
    cells: rows.map((row) => [row.dataset, `${row.ratio}%`, String(row.seeds.length),
      ...cols.roles.map(([role]) => `${formatStat(row.ours[role]?.worstClass)} / ${formatStat(row.ours[role]?.worstGroup)}`)]),
  };
}

/** The table a sweep ends with, in Markdown: one line per (dataset, ratio), unbiased test accuracy (%). */
export function sweepMarkdown(input: SweepTableInput): string {
  const cols = columns(input.rows);
  const header = cols.head;
  const lines = [
    `Sweep ${input.sweepId}: unbiased test accuracy (%), mean ± sample std over seeds (n = seeds finished)${cols.gain ? '; gain = DiffuBias - vanilla per seed' : ''}.`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...input.rows.map((row) => `| ${tableCells(row, cols).join(' | ')} |`),
  ];
  lines.push('', 'Wall per run: from an experiment\'s start to its result, queueing and pauses included. Unit time per run: the wall seconds its units record, summed (units found stored count what they took when computed; units run side by side add up).');
  const worst = worstTable(input.rows, cols);
  if (worst) {
    lines.push('', 'Worst-class and worst-group (class x bias attribute) test accuracy (%), mean ± sample std over seeds:', '',
      `| ${worst.head.join(' | ')} |`, `|${worst.head.map(() => '---').join('|')}|`, ...worst.cells.map((c) => `| ${c.join(' | ')} |`));
  }
  const protocols = [...new Set(input.rows.map((r) => protocolText(r.protocol)).filter((p): p is string => p !== undefined))];
  if (protocols.length > 0) lines.push('', ...protocols.map((p) => `Protocol: ${p}.`));
  const sources = [...new Map(input.rows.flatMap((r) => r.published).map((p) => [p.cite, p.protocol])).entries()];
  if (sources.length > 0) lines.push('', ...sources.map(([cite, protocol]) => `Published: ${cite} (${protocol}).`));
  const failed = input.experiments.filter((e) => e.status === 'failed');
  if (failed.length > 0) lines.push('', `${failed.length} of ${input.experiments.length} experiments failed:`, ...failed.map((e) => `- ${e.workflowId}: ${e.error ?? 'failed'}`));
  return `${lines.join('\n')}\n`;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const ROLE_COLORS: Record<ClassifierRole, string> = { vanilla: '#7f7f7f', biased: '#d62728', debiased: '#1f77b4' };

/** Mean unbiased accuracy per cell and model, the paper's DiffuBias beside it where it has one. */
function sweepChart(input: SweepTableInput): ChartSpec {
  const labels = input.rows.map((r) => `${r.dataset} ${r.ratio}%`);
  const datasets = ROLES.filter(([role]) => input.rows.some((r) => r.ours[role])).map(([role, name]) => ({
    label: name, backgroundColor: ROLE_COLORS[role], data: input.rows.map((r) => r.ours[role]?.unbiased.mean ?? null),
  }));
  if (input.rows.some((r) => r.paper?.DiffuBias !== undefined)) {
    datasets.push({ label: 'DiffuBias (paper)', backgroundColor: '#aec7e8', data: input.rows.map((r) => r.paper?.DiffuBias ?? null) });
  }
  return {
    id: 'chart-sweep', label: 'Unbiased test accuracy (%), mean over seeds (the table gives ± std and n)',
    config: { type: 'bar', data: { labels, datasets }, options: { animation: false, responsive: true, scales: { y: { min: 0, max: 100 } } } },
  };
}

/** The same table as a self-contained HTML page; with the chart library given, a chart above it. */
export function sweepHtml(input: SweepTableInput, assets?: ReportAssets): string {
  const chart = assets && input.rows.length > 0 ? sweepChart(input) : undefined;
  const cols = columns(input.rows);
  const head = cols.head;
  const rows = input.rows.map((row) => `<tr>${tableCells(row, cols).map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`);
  const worst = worstTable(input.rows, cols);
  const notes = sweepMarkdown(input).split('\n').filter((l) => l.startsWith('Protocol:') || l.startsWith('Wall per run:') || l.startsWith('Published:') || l.includes('experiments failed:') || l.startsWith('- '));
  return `<!doctype html><html><head><meta charset="utf-8"><title>Sweep ${esc(input.sweepId)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;margin:1rem auto;padding:0 1rem;max-width:75rem}.wide{overflow-x:auto}.chart{margin:1rem 0;max-width:48rem}.chart figcaption{font-size:.85rem;color:#555}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}td:first-child,th:first-child{text-align:left}</style></head>
<body><h1>Sweep ${esc(input.sweepId)}</h1>${chart ? chartFigure(chart) : ''}<p>Unbiased test accuracy (%), mean ± sample std over seeds (n = seeds finished).</p>
<div class="wide"><table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.join('')}</table></div>
${worst ? `<p>Worst-class and worst-group (class x bias attribute) test accuracy (%), mean ± sample std over seeds.</p>
<div class="wide"><table><tr>${worst.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${worst.cells.map((c) => `<tr>${c.map((v) => `<td>${esc(v)}</td>`).join('')}</tr>`).join('')}</table></div>` : ''}
${notes.map((n) => `<p>${esc(n)}</p>`).join('\n')}
${chart && assets ? chartScripts([chart], assets) : ''}
</body></html>
`;
}
