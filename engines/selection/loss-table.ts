import type { LossRow } from './top-k';

const HEADER = 'file,label,bias,predicted,ce,gce';

/** The per-sample loss table as CSV (opens in any spreadsheet); file names are always quoted. */
export function lossTableToCsv(rows: readonly LossRow[]): string {
  const lines = rows.map((r) => `"${r.file.replace(/"/g, '""')}",${r.label},${r.bias},${r.predicted},${r.ce},${r.gce}`);
  return `${HEADER}\n${lines.join('\n')}\n`;
}

export function lossTableFromCsv(text: string, where: string): LossRow[] {
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines[0] !== HEADER) throw new Error(`${where}: not a loss table (header ${JSON.stringify(lines[0])})`);
  return lines.slice(1).map((line, i) => {
    const m = /^"((?:[^"]|"")*)",(-?\d+),(-?\d+),(-?\d+),([^,]+),([^,]+)$/.exec(line);
    if (!m) throw new Error(`${where}: line ${i + 2} is malformed`);
    return { file: m[1]!.replace(/""/g, '"'), label: Number(m[2]), bias: Number(m[3]), predicted: Number(m[4]), ce: Number(m[5]), gce: Number(m[6]) };
  });
}
