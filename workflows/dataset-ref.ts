import type { ExperimentConfig } from '../stages/config/schema';
import type { DatasetRef } from '../stages/contracts';

/**
 * The dataset a config names, as stages receive it. A configured dataset carries its spec to every
 * stage; a built-in's inputs stay as they were (and so do their stored units' keys).
 */
export function datasetRefOf(config: Pick<ExperimentConfig, 'dataset' | 'ratio' | 'seed' | 'datasetRoot' | 'datasetSpec'>): DatasetRef {
  return { name: config.dataset, ratio: config.ratio, seed: config.seed, root: config.datasetRoot, ...(config.datasetSpec ? { spec: config.datasetSpec } : {}) };
}
