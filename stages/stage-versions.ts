import type { StageName } from './stage-engines';

/**
 * The code version of each stage, part of every unit's cache key (flytekit's `Cache(version=…)`).
 * Bump a stage's number in the same commit that changes what it computes (its engine's arithmetic, a
 * scheduler, a loss, beam search, a file it writes): every stored unit of that stage is then computed
 * again on its next use, and so is everything downstream, whose inputs name the recomputed outputs by
 * their stored keys. Stages upstream keep their stored units. A change that cannot change any output
 * (a log line, a speed-up with bit-identical results) needs no bump.
 */
export type StageVersions = Readonly<Record<StageName, number>>;

export const STAGE_VERSIONS: StageVersions = {
  prepareDataset: 1,
  // 2: the dense stack's products are BatchMatMulV2 (tensorflow-ops.ts): same arithmetic, other rounding.
  // 3: the MLP's Adam step is one TensorFlow graph (dense-graph-step.ts): same arithmetic, other rounding.
  trainClassifier: 3,
  scoreLosses: 1,
  selectTopK: 1,
  captionImage: 1,
  filterCaptions: 1,
  generateBatch: 1,
  evaluate: 1,
  // 2: UMAP at 200 layout epochs; the output names the judge's verdict on the generated set.
  analyzeModels: 2,
};
