/**
 * The metadata-CSV layout: images anywhere under `<root>/<name>/`, one CSV row each naming its path,
 * its label and, where known, its bias attribute (Waterbirds' `place`, a CelebA attribute) and split.
 * Column names and split values are the spec's (Waterbirds: img_filename, y, place, split 0/1/2);
 * labels and bias values are class indices, class names, or the spec's `classValues`. A second CSV can give the splits
 * (CelebA's list_eval_partition.csv beside its attribute file). Without a split column, valid and
 * test are carved from the rows as an ImageFolder's are.
 */
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { biasKnown, UNKNOWN_BIAS } from '../../core/bias';
import type { DataSource } from '../../core/data-source';
import { BadInputError } from '../../core/errors';
import type { ListOptions, Sample, Split, SplitListing } from '../disent/layout';
import { carveSplits, type ImageFolderSpec } from '../imagefolder/layout';

export interface CsvLayout {
  /** The metadata file, relative to `<root>/<name>/`. */
  file: string;
  columns: { path: string; label: string; bias?: string; split?: string };
  /** What the split column holds for each split (Waterbirds: 0, 1, 2). */
  splitValues?: { train: string; valid: string; test: string };
  /** Splits from another file (CelebA): its path column and split column, joined on the path. */
  splitFile?: { file: string; path: string; split: string };
  /** What label and bias cells hold for each class, in class order (CelebA's attributes: -1, 1); absent: indices or names. */
  classValues?: string[];
}

export const DEFAULT_SPLIT_VALUES = { train: '0', valid: '1', test: '2' };

/** The columns of the metadata files this project writes (`diffubias dataset export --layout csv`). */
export const CSV_METADATA_COLUMNS = { path: 'path', label: 'label', bias: 'bias', split: 'split' } as const;

/** A metadata file in CSV_METADATA_COLUMNS, splits as DEFAULT_SPLIT_VALUES, rows in the order given. */
export function metadataCsv(rows: readonly { path: string; label: number; bias: number; split: Split }[]): string {
  // An unknown bias is an empty cell.
  return stringify(rows.map((r) => [r.path, r.label, biasKnown(r.bias) ? r.bias : '', DEFAULT_SPLIT_VALUES[r.split]]), { header: true, columns: Object.values(CSV_METADATA_COLUMNS) });
}

export interface CsvSpec extends ImageFolderSpec {
  csv: CsvLayout;
}

type Row = Record<string, string>;

async function readCsv(source: DataSource, path: string): Promise<Row[]> {
  const text = (await source.read(path)).toString('utf8');
  try {
    return parse(text, { columns: true, skip_empty_lines: true, trim: true, bom: true }) as Row[];
  } catch (err) {
    throw new BadInputError(source.describe(path), `not a CSV file (${(err as Error).message})`);
  }
}

/** A label or bias cell as a class index: the spec's value for a class, else the index itself or a class's name. */
function classIndex(cell: string, classNames: readonly string[], classValues: readonly string[] | undefined): number | undefined {
  if (classValues) {
    const i = classValues.indexOf(cell);
    return i >= 0 ? i : undefined;
  }
  if (/^\d+$/.test(cell)) {
    const i = Number(cell);
    return i < classNames.length ? i : undefined;
  }
  const i = classNames.indexOf(cell);
  return i >= 0 ? i : undefined;
}

/** Every row as a sample with its split (or none, to be carved), checked against the spec. */
async function readRows(source: DataSource, spec: CsvSpec, options: ListOptions): Promise<{ rows: (Sample & { split?: Split })[]; skipped: SplitListing['skipped'] }> {
  const { csv } = spec;
  const file = `${spec.name}/${csv.file}`;
  const rows = await readCsv(source, file);
  const where = source.describe(file);
  const header = rows[0] ? Object.keys(rows[0]) : [];
  for (const [role, column] of Object.entries(csv.columns)) {
    if (column !== undefined && !header.includes(column)) throw new BadInputError(where, `no column ${JSON.stringify(column)} (csv.columns.${role}); the header has ${header.join(', ')}`);
  }
  let splitOf: Map<string, string> | undefined;
  if (csv.splitFile) {
    const splitRows = await readCsv(source, `${spec.name}/${csv.splitFile.file}`);
    splitOf = new Map(splitRows.map((r) => [r[csv.splitFile!.path]!, r[csv.splitFile!.split]!]));
  }
  const values = csv.splitValues ?? DEFAULT_SPLIT_VALUES;
  const splitByValue = new Map<string, Split>([[values.train, 'train'], [values.valid, 'valid'], [values.test, 'test']]);
  const out: (Sample & { split?: Split })[] = [];
  const skipped: SplitListing['skipped'] = [];
  rows.forEach((row, i) => {
    const line = `${where} line ${i + 2}`;
    const path = row[csv.columns.path] ?? '';
    const label = classIndex(row[csv.columns.label] ?? '', spec.classNames, csv.classValues);
    const biasCell = csv.columns.bias === undefined ? undefined : row[csv.columns.bias] ?? '';
    const bias = biasCell === undefined || biasCell === '' ? UNKNOWN_BIAS : classIndex(biasCell, spec.classNames, csv.classValues);
    const splitCell = csv.columns.split !== undefined ? row[csv.columns.split] : splitOf?.get(path);
    const split = splitCell === undefined ? undefined : splitByValue.get(splitCell);
    const problem = path === '' || path.startsWith('/') || path.split('/').includes('..') ? `path ${JSON.stringify(path)} is not a file under the dataset's folder`
      : label === undefined ? `label ${JSON.stringify(row[csv.columns.label])} is not a class index or one of the classNames`
        : bias === undefined ? `bias ${JSON.stringify(biasCell)} is not a class index or one of the classNames`
          : splitCell !== undefined && split === undefined ? `split ${JSON.stringify(splitCell)} is none of ${[...splitByValue.keys()].join(', ')}`
            : (csv.columns.split !== undefined || splitOf) && splitCell === undefined ? `no split for ${JSON.stringify(path)}` : undefined;
    if (problem) {
      if (!options.skipInvalid) throw new BadInputError(line, problem);
      skipped.push({ path: line, reason: problem });
      return;
    }
    out.push({ path: `${spec.name}/${path}`, label: label!, bias: bias!, ...(split ? { split } : {}) });
  });
  return { rows: out, skipped };
}

/** Lists a split from the metadata; a split with no row fails naming the file. */
export async function listCsvSplit(source: DataSource, spec: CsvSpec, split: Split, options: ListOptions = {}): Promise<SplitListing> {
  const { rows, skipped } = await readRows(source, spec, options);
  const withSplit = rows.filter((r) => r.split !== undefined);
  const strip = ({ path, label, bias }: Sample): Sample => ({ path, label, bias });
  let samples: Sample[];
  if (withSplit.length > 0) {
    samples = withSplit.filter((r) => r.split === split).map(strip);
  } else {
    samples = carveSplits(rows.map(strip), spec, { valid: true, test: true })[split];
  }
  if (samples.length === 0) throw new BadInputError(source.describe(`${spec.name}/${spec.csv.file}`), `no rows of the ${split} split`);
  return { samples, skipped: split === 'train' ? skipped : [] };
}
