/**
 * An experiment config as its run used it. A run started under an older schema recorded a config
 * without the keys added since; this fills each with the value that run computed with (not today's
 * default), in one place, so the workflow reads one shape. Pure: workflow code calls it.
 */
import type { ExperimentConfig, SelectionConfig } from './schema';

/** Before `selection` (2026-11): every classifier kept its best epoch on the unbiased validation split. */
const BEFORE_SELECTION: SelectionConfig = { classifiers: 'valid', biased: 'valid', valid: { bias: 'unbiased' } };

export function configAsRun(recorded: ExperimentConfig): ExperimentConfig {
  // Typed as today's config, but a recorded one may lack any key added after it was started.
  const c = recorded as Partial<ExperimentConfig> & ExperimentConfig;
  return {
    ...c,
    selection: c.selection ?? BEFORE_SELECTION,
    // Before `classifier.init`: Keras' glorot initialisation.
    classifier: { ...c.classifier, init: c.classifier?.init ?? 'glorot' },
    // Before caption units were sized by their work: `auto` is what such a run's units were planned with.
    caption: { ...c.caption, batchSize: c.caption.batchSize ?? 'auto' },
    // Before the filter could be turned off, and before generated images could repeat.
    filter: { ...c.filter, enabled: c.filter.enabled ?? true },
    generate: { ...c.generate, repeat: c.generate.repeat ?? 1 },
  };
}
