import type { DataSource } from '../core/data-source';
import { BadInputError } from '../core/errors';
import { listSplit, type ListOptions, type Split, type SplitListing } from './disent/layout';
import { listImageFolderSplit, type ImageFolderSpec } from './imagefolder/layout';
import { listCsvSplit, type CsvLayout } from './csv/layout';

export type DatasetLayout = 'disent' | 'imagefolder' | 'csv';

/** What listing a dataset needs of its spec. */
export interface LayoutSpec extends ImageFolderSpec {
  /** Absent: the DisEnt layout (the built-ins'). */
  layout?: DatasetLayout;
  /** The metadata-CSV layout's file and columns. */
  csv?: CsvLayout;
}

/**
 * A split's samples in the dataset's layout: DisEnt's (`<pct>/{align,conflict}`, labels and bias in
 * the file names; `ratio` picks the folder), ImageFolder's (class folders, no bias labels; one
 * folder whatever the ratio) or a metadata CSV's (a row per image; the ratio is what the data holds).
 */
export function listDatasetSplit(source: DataSource, spec: LayoutSpec, ratio: number, split: Split, options: ListOptions = {}): Promise<SplitListing> {
  if (spec.layout === 'imagefolder') return listImageFolderSplit(source, spec, split, options);
  if (spec.layout === 'csv') {
    if (!spec.csv) throw new BadInputError(spec.name, 'layout csv needs a csv section (file, columns)');
    return listCsvSplit(source, { ...spec, csv: spec.csv }, split, options);
  }
  return listSplit(source, spec.name, ratio, split, spec.classNames.length, options);
}
