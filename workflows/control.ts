/**
 * Pause / resume and the progress query, shared by every workflow. A pause is honoured between units
 * of work and passed on to running child workflows, so a fan-out of thousands stops promptly too.
 */
import {
  condition, getExternalWorkflowHandle, setHandler, startChild, type ChildWorkflowOptions, type SignalDefinition,
} from '@temporalio/workflow';
import { pauseSignal, progressQuery, resumeSignal, type Progress } from './definitions';

export interface Control {
  readonly progress: Omit<Progress, 'paused' | 'children'>;
  isPaused(): boolean;
  /** Resolves when not paused: call before starting each unit of work. */
  whenRunning(): Promise<void>;
  /** Starts a child that is told of pauses while it runs; resolves to its result. */
  runChild<R>(
    workflowType: string,
    options: Omit<ChildWorkflowOptions, 'args'> & { workflowId: string },
    args: (startPaused: boolean) => unknown[],
  ): Promise<R>;
}

export function installControl(startPaused = false): Control {
  const progress: Control['progress'] = { stage: 'starting', stagesDone: [], done: 0, total: 0 };
  const children = new Set<string>();
  let paused = startPaused;

  const tellChildren = (signal: SignalDefinition<[]>) => {
    for (const id of children) {
      // A child may finish while the signal is in flight; that is not an error for the parent.
      getExternalWorkflowHandle(id).signal(signal).catch(() => undefined);
    }
  };
  setHandler(pauseSignal, () => {
    paused = true;
    tellChildren(pauseSignal);
  });
  setHandler(resumeSignal, () => {
    paused = false;
    tellChildren(resumeSignal);
  });
  setHandler(progressQuery, (): Progress => ({ ...progress, stagesDone: [...progress.stagesDone], paused, children: [...children] }));

  return {
    progress,
    isPaused: () => paused,
    whenRunning: () => condition(() => !paused),
    async runChild<R>(workflowType: string, options: Omit<ChildWorkflowOptions, 'args'> & { workflowId: string }, args: (startPaused: boolean) => unknown[]) {
      const pausedAtStart = paused;
      const handle = await startChild<(...a: unknown[]) => Promise<R>>(workflowType, { ...options, args: args(pausedAtStart) });
      children.add(options.workflowId);
      if (paused !== pausedAtStart) tellChildren(paused ? pauseSignal : resumeSignal);
      try {
        return await handle.result();
      } finally {
        children.delete(options.workflowId);
      }
    },
  };
}
