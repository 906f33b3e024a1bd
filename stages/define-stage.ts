import type { S3Settings } from '../core/store';
import type { StageInput, StageName, StageOutput } from './activity-table';
import type { StageEngine } from './context';

/** The engine of every stage, typed by its declaration (stages/activity-table.ts). */
export type Engines = { [S in StageName]: StageEngine<StageInput<S>, StageOutput<S>> };

/**
 * What a stage computes, beside its engine: the declaration in stages/activity-table.ts says where
 * it runs and what goes in and out; this says how one activity call becomes a cached unit. From
 * the two come the activity (activities/index.ts), its cache key (stages/runner/stage-runner.ts)
 * and the types a test double must meet (Engines).
 *
 * `Accepted` is what the activity takes, when older workflows scheduled it with another input
 * shape: `accept` turns that into today's input, so recorded histories still replay.
 */
export interface StageDefinition<S extends StageName, Accepted = StageInput<S>> {
  name: S;
  /** The unit this input computes (a role, a batch): part of the cache key and of progress lines. */
  unit(input: Accepted): string;
  accept(input: Accepted): StageInput<S>;
  /**
   * What the input names but does not contain, added to the cache key: a model bundle's or a
   * dataset's content identity, so that a model replaced under the same path is not reused.
   */
  identify?(input: Accepted, s3: S3Settings): Promise<unknown>;
  run: Engines[S];
}

type StageParts<S extends StageName, Accepted> = {
  unit: string | ((input: Accepted) => string);
  identify?: (input: Accepted, s3: S3Settings) => Promise<unknown>;
  run: Engines[S];
} & ([Accepted] extends [StageInput<S>]
  ? { accept?: (input: Accepted) => StageInput<S> }
  // An activity that takes other shapes than today's input must say how it reads them.
  : { accept: (input: Accepted) => StageInput<S> });

/** Declares a stage's unit plan, cache identity and engine (see StageDefinition). */
export function defineStage<S extends StageName, Accepted = StageInput<S>>(name: S, parts: StageParts<S, Accepted>): StageDefinition<S, Accepted> {
  const { unit, accept, identify, run } = parts;
  return {
    name,
    unit: typeof unit === 'string' ? () => unit : unit,
    accept: accept ?? ((input) => input as unknown as StageInput<S>),
    ...(identify ? { identify } : {}),
    run,
  };
}
