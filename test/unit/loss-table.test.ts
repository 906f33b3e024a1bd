import { describe, expect, it } from 'vitest';
import { sampleLosses } from '../../engines/classifier/losses';
import { lossTableFromCsv, lossTableToCsv } from '../../engines/selection/loss-table';
import type { LossRow } from '../../engines/selection/top-k';

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

describe('per-sample losses behind the table (sampleLosses, float64)', () => {
  it('CE is -log softmax and GCE (1 - p^q) / q of the label', () => {
    const logits = Float32Array.from([0, 0, 1, 2, 3, 4]);
    expect(sampleLosses(logits, 2, 0, 0, 0.7).ce).toBeCloseTo(Math.LN2, 12);
    expect(sampleLosses(logits, 2, 0, 1, 0.7).gce).toBeCloseTo((1 - 0.5 ** 0.7) / 0.7, 12);
    // Row 1 of a [3, 2] batch: logits (1, 2); p_0 = 1 / (1 + e).
    const p0 = 1 / (1 + Math.E);
    expect(sampleLosses(logits, 2, 1, 0, 0.7).ce).toBeCloseTo(-Math.log(p0), 12);
    expect(sampleLosses(logits, 2, 1, 0, 0.5).gce).toBeCloseTo((1 - Math.sqrt(p0)) / 0.5, 12);
  });

  it('stays finite and exact for logits float32 exp would overflow', () => {
    const { ce, gce } = sampleLosses(Float32Array.from([1000, 0]), 2, 0, 1, 0.7);
    expect(ce).toBeCloseTo(1000, 9);
    expect(gce).toBeCloseTo(1 / 0.7, 12);
    expect(sampleLosses(Float32Array.from([1000, 0]), 2, 0, 0, 0.7).ce).toBeCloseTo(0, 12);
  });

  it('ranks as CE does: a lower p_y means a higher GCE', () => {
    const logits = Float32Array.from([3, 0, 0, 0, 1, 0, 0, 0, -2, 0, 0, 0]);
    const rows = [0, 1, 2].map((r) => sampleLosses(logits, 4, r, 0, 0.7));
    expect(rows.map((r) => r.ce)).toEqual([...rows.map((r) => r.ce)].sort((a, b) => a - b));
    expect(rows.map((r) => r.gce)).toEqual([...rows.map((r) => r.gce)].sort((a, b) => a - b));
  });
});
