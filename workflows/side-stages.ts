import { patched } from '@temporalio/workflow';
import { SIDE_STAGE_NAMES, sideStageOf, type SideStageName } from '../stages/activity-table';
import type { SidePoints, SideStageOutputs } from '../stages/contracts';
import { callActivity, type ActivityInput, type ActivityOutput } from './call-activity';

/** One side stage's finished activity: its name and what it returned. */
export interface SideRun<S extends SideStageName = SideStageName> {
  name: S;
  output: ActivityOutput<S>;
}

/**
 * Starts every side stage declared for `point` (stages/activity-table.ts), side by side, each behind
 * a patch named after it: a history recorded before a side stage existed replays without it.
 * Returns at once; the promise settles when all have finished, and fails with the first that fails.
 */
export function startSideStages<P extends keyof SidePoints>(point: P, known: SidePoints[P]): Promise<SideRun[]> {
  const runs = SIDE_STAGE_NAMES.filter((name) => sideStageOf(name).at === point && patched(`side-stage-${name}`)).map(async (name) => {
    const side = sideStageOf(name) as unknown as { input(k: SidePoints[P]): ActivityInput<typeof name>; summary(i: ActivityInput<typeof name>): string };
    const input = side.input(known);
    return { name, output: await callActivity(name, side.summary(input), input) };
  });
  const all = Promise.all(runs);
  all.catch(() => undefined); // awaited by the caller; this only keeps an early failure from going unobserved
  return all;
}

/** The side stages' outputs by name, for ExperimentResult.sideStages (the manifest fields left out). */
export function sideStageOutputs(runs: readonly SideRun[]): SideStageOutputs {
  return Object.fromEntries(runs.map(({ name, output }) => {
    const { manifestKey: _key, reused: _reused, energy: _energy, seconds: _seconds, ...own } = output as unknown as Record<string, unknown>;
    return [name, own];
  })) as SideStageOutputs;
}
