/** Signals, queries and search attributes of the workflows, shared with the client side. */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { UNIT_PROGRESS_SIGNAL, type UnitProgress } from '../stages/context';

export interface Progress {
  /** The stage running now, or done / failed / cancelled. */
  stage: string;
  stagesDone: string[];
  /** Units finished and planned in the current stage (images captioned, batches generated, cells run). */
  done: number;
  total: number;
  paused: boolean;
  /** Child workflows running now (fan-out chunks, sweep cells): query them for finer progress. */
  children: string[];
}

export const progressQuery = defineQuery<Progress>('progress');

export const unitProgressSignal = defineSignal<[UnitProgress]>(UNIT_PROGRESS_SIGNAL);
/** Honoured between units of work: nothing new starts until `resume`; running units finish. */
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');

export const SEARCH_ATTRIBUTES = {
  dataset: defineSearchAttributeKey('Dataset', SearchAttributeType.KEYWORD),
  biasRatio: defineSearchAttributeKey('BiasRatio', SearchAttributeType.DOUBLE),
  seed: defineSearchAttributeKey('Seed', SearchAttributeType.INT),
  stage: defineSearchAttributeKey('Stage', SearchAttributeType.KEYWORD),
} as const;

export const ALL_SEARCH_ATTRIBUTE_KEYS = Object.values(SEARCH_ATTRIBUTES);

/** What an experiment workflow starts with, whoever starts it (the CLI or a sweep). */
export function queuedExperimentAttributes(cell: { dataset: string; ratio: number; seed: number }): SearchAttributePair[] {
  return [
    { key: SEARCH_ATTRIBUTES.dataset, value: cell.dataset },
    { key: SEARCH_ATTRIBUTES.biasRatio, value: cell.ratio },
    { key: SEARCH_ATTRIBUTES.seed, value: cell.seed },
    { key: SEARCH_ATTRIBUTES.stage, value: 'queued' },
  ];
}
