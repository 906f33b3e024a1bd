import type { DataSource } from '../core/data-source';
import { listSplit, type ListOptions, type Split, type SplitListing } from './disent/layout';
import { listImageFolderSplit, type ImageFolderSpec } from './imagefolder/layout';

export type DatasetLayout = 'disent' | 'imagefolder';

/** What listing a dataset needs of its spec. */
export interface LayoutSpec extends ImageFolderSpec {
  /** Absent: the DisEnt layout (the built-ins'). */
  layout?: DatasetLayout;
}

/**
 * A split's samples in the dataset's layout: DisEnt's (`<pct>/{align,conflict}`, labels and bias in
 * the file names; `ratio` picks the folder) or ImageFolder's (class folders, no bias labels; one
 * folder whatever the ratio).
 */
export function listDatasetSplit(source: DataSource, spec: LayoutSpec, ratio: number, split: Split, options: ListOptions = {}): Promise<SplitListing> {
  return spec.layout === 'imagefolder'
    ? listImageFolderSplit(source, spec, split, options)
    : listSplit(source, spec.name, ratio, split, spec.classNames.length, options);
}
