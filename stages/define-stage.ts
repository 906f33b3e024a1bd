import type { S3Settings } from '../core/store';
import type { StageEngine } from './context';

/**
 * What a stage computes, beside its engine: its declaration (stages/activity-table.ts) says where
 * it runs, its version and what goes in and out; this says how one activity call becomes a cached
 * unit. From the two come the activity (activities/index.ts), its cache key
 * (stages/runner/stage-runner.ts) and the types a test double must meet (Engines). The registry
 * (stages/product-stages.ts) checks that each definition takes and returns what its declaration
 * says, so a stage module need not import the table: its own types can live beside its engine.
 *
 * `Accepted` is what the activity takes, when older workflows scheduled it with another input
 * shape: `accept` turns that into today's input, so recorded histories still replay.
 */
export interface StageDefinition<N extends string, I, O, Accepted = I> {
  name: N;
  /** The unit this input computes (a role, a batch): part of the cache key and of progress lines. */
  unit(input: Accepted): string;
  accept(input: Accepted): I;
  /**
   * What the input names but does not contain, added to the cache key: a model bundle's or a
   * dataset's content identity, so that a model replaced under the same path is not reused.
   */
  identify?(input: Accepted, s3: S3Settings): Promise<unknown>;
  run: StageEngine<I, O>;
}

type StageParts<I, O, Accepted> = {
  unit: string | ((input: Accepted) => string);
  identify?: (input: Accepted, s3: S3Settings) => Promise<unknown>;
  run: StageEngine<I, O>;
} & ([Accepted] extends [I]
  ? { accept?: (input: Accepted) => I }
  // An activity that takes other shapes than today's input must say how it reads them.
  : { accept: (input: Accepted) => I });

/** Declares a stage's unit plan, cache identity and engine (see StageDefinition). */
export function defineStage<N extends string, I, O, Accepted = I>(name: N, parts: StageParts<I, O, Accepted>): StageDefinition<N, I, O, Accepted> {
  const { unit, accept, identify, run } = parts;
  return {
    name,
    unit: typeof unit === 'string' ? () => unit : unit,
    accept: accept ?? ((input) => input as unknown as I),
    ...(identify ? { identify } : {}),
    run,
  };
}
