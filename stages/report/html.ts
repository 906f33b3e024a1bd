import type { Accuracy, ClassifierRole, ExperimentResult } from '../contracts';

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
  topK: { k: number; mode: string; precision: number; recall: number; rows: { image: ReportImage; label: number; bias: number; ce: number; gce: number }[] };
  captions: { f: number; topWords: { word: string; count: number }[]; kept: { text: string; label: number }[]; dropped: { text: string; label: number; reason: string }[]; keptTotal: number; droppedTotal: number };
  generated: { label: number; images: ReportImage[] }[];
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
      + `<td>${esc(p.valid.bias)}, ${p.valid.images} (${p.valid.conflicting} conflicting)</td><td>${esc(p.init)}</td><td>${t.validCurve.map((v) => v.toFixed(1)).join(' · ')}</td></tr>`;
  });
  return `<h2>Training protocol</h2><table><tr><th>model</th><th>epoch kept</th><th>epoch</th><th>validation split</th><th>init</th><th>validation accuracy per epoch (%)</th></tr>${rows.join('')}</table>`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const pct = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');

function accuracyTable(accuracy: Partial<Record<ClassifierRole, Accuracy>>): string {
  const rows = (['vanilla', 'biased', 'debiased'] as const)
    .filter((r) => accuracy[r])
    .map((r) => `<tr><td>${ROLE_NAMES[r]}</td><td>${pct(accuracy[r]!.unbiased)}</td><td>${pct(accuracy[r]!.aligned)}</td><td>${pct(accuracy[r]!.conflicting)}</td></tr>`);
  return `<table><tr><th>model</th><th>unbiased</th><th>bias-aligned</th><th>bias-conflicting</th></tr>${rows.join('')}</table>`;
}

function figure(img: ReportImage, extra = ''): string {
  return `<figure><img src="${img.src}" alt=""><figcaption>${esc(img.caption)}${extra}</figcaption></figure>`;
}

/** A self-contained HTML report of one experiment (images inlined), readable offline. */
export function renderReport(d: ReportData): string {
  const r = d.result;
  const name = (label: number) => d.classNames[label] ?? String(label);
  const topK = d.topK.rows.map((row) => figure(row.image, `<br>CE ${row.ce.toFixed(2)} · ${row.label === row.bias ? 'aligned' : `bias ${row.bias}`}`)).join('');
  const words = d.captions.topWords.map((w) => `<span class="word">${esc(w.word)} <small>${w.count}</small></span>`).join(' ');
  const captionRows = (list: { text: string; label: number; reason?: string }[]) =>
    list.map((c) => `<tr><td>${esc(name(c.label))}</td><td>${esc(c.text)}</td>${c.reason !== undefined ? `<td>${esc(c.reason)}</td>` : ''}</tr>`).join('');
  const generated = d.generated.map((g) => `<h3>${esc(name(g.label))}</h3><div class="grid">${g.images.map((i) => figure(i)).join('')}</div>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DiffuBias ${esc(r.experimentId)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:75rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}
th{background:#f3f3f3}.grid{display:flex;flex-wrap:wrap;gap:.4rem}
figure{margin:0;width:6.5rem;font-size:.7rem;text-align:center}img{width:56px;height:56px;image-rendering:pixelated;background:#000}
.word{display:inline-block;background:#eef;border-radius:.3rem;padding:.1rem .4rem;margin:.1rem}
.scroll{max-height:22rem;overflow:auto}
</style></head><body>
<h1>DiffuBias: ${esc(r.dataset)} at ${r.ratio}% bias-conflicting, seed ${r.seed}</h1>
<p>Experiment <code>${esc(r.experimentId)}</code> (config ${esc(r.configHash)})${d.uiLink ? ` · <a href="${esc(d.uiLink)}">Temporal Web UI</a>` : ''}</p>
<h2>Test accuracy (%)</h2>${accuracyTable(r.accuracy)}${trainingTable(r.training)}
<h2>Top-${d.topK.k} highest-loss training images (${esc(d.topK.mode)})</h2>
<p>${r.topK.selected} selected; precision ${(100 * d.topK.precision).toFixed(1)}% are bias-conflicting; they hold ${(100 * d.topK.recall).toFixed(1)}% of all bias-conflicting training images.
Showing ${d.topK.rows.length}.</p><div class="grid">${topK}</div>
<h2>Captions</h2>
<p>${d.captions.keptTotal} kept, ${d.captions.droppedTotal} dropped. Top-${d.captions.f} words: ${words || '(none)'}</p>
<h3>Kept (first ${d.captions.kept.length})</h3><div class="scroll"><table><tr><th>class</th><th>caption</th></tr>${captionRows(d.captions.kept)}</table></div>
<h3>Dropped (first ${d.captions.dropped.length})</h3><div class="scroll"><table><tr><th>class</th><th>caption</th><th>why</th></tr>${captionRows(d.captions.dropped)}</table></div>
<h2>Generated samples (${r.generated} in all)</h2>${generated || '<p>None.</p>'}
</body></html>
`;
}
