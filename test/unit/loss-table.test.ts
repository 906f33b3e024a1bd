import { describe, expect, it } from 'vitest';
import { lossTableFromCsv, lossTableToCsv } from '../../lib/selection/loss-table';
import type { LossRow } from '../../lib/selection/top-k';

const rows: LossRow[] = [
  { file: '/data/cmnist/1pct/align/3/12_3_3.png', label: 3, bias: 3, predicted: 3, ce: 0.1 + 0.2, gce: 1e-17 },
  { file: 's3://bucket/odd "name", with comma.png', label: 0, bias: 7, predicted: 7, ce: 12.345678901234567, gce: 1.4285714285714286 },
  { file: 'tiny.png', label: 9, bias: 1, predicted: 9, ce: 5e-324, gce: 0 },
];

describe('per-sample loss table (the CSV top-K reads)', () => {
  it('round-trips every row exactly: float64 losses, quotes and commas in file names', () => {
    // Top-K ranks by these numbers: a rounded loss could reorder ties and change the selection.
    expect(lossTableFromCsv(lossTableToCsv(rows), 't.csv')).toEqual(rows);
  });

  it('keeps the row order it was written in', () => {
    const back = lossTableFromCsv(lossTableToCsv([...rows].reverse()), 't.csv');
    expect(back.map((r) => r.file)).toEqual([...rows].reverse().map((r) => r.file));
  });

  it('refuses a file that is not a loss table, naming it', () => {
    expect(() => lossTableFromCsv('a,b,c\n1,2,3\n', 's3://b/runs/x/table.csv')).toThrow(/^s3:\/\/b\/runs\/x\/table\.csv: not a loss table/);
  });

  it('names the line of a malformed row', () => {
    const csv = lossTableToCsv(rows).replace('"tiny.png",9,', '"tiny.png",nine,');
    expect(() => lossTableFromCsv(csv, 't.csv')).toThrow('t.csv: line 4 is malformed');
  });
});
