/**
 * The workflow's current details in the Temporal Web UI (markdown): stage, paused, counts, the
 * running units' epochs and validation accuracy (signalled by their activities), and results so
 * far, so that the UI alone tells what an experiment is doing.
 */
import { setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { Control } from './control';
import { unitProgressSignal } from './definitions';
import type { UnitProgress } from '../stages/context';

export interface LiveDetails {
  /** A result line kept under "so far" (a trained model's accuracy, a selection's precision). */
  note(line: string): void;
  /** Redraws; call after the control's progress changed. */
  render(): void;
}

export function installLiveDetails(control: Control, title: string): LiveDetails {
  const units = new Map<string, UnitProgress>();
  const notes: string[] = [];
  const render = () => {
    const p = control.progress;
    const lines = [`**${title}**`, '', `stage: **${p.stage}**${control.isPaused() ? ' (paused)' : ''}${p.total > 0 ? ` · ${p.done}/${p.total}` : ''} · done: ${p.stagesDone.join(', ') || 'none yet'}`];
    const running = [...units.values()].filter((u) => u.stage === p.stage);
    if (running.length) {
      lines.push('', '| unit | epoch | validation accuracy |', '|---|---|---|');
      for (const u of running) lines.push(`| ${u.unit} | ${u.epoch ?? '?'}${u.epochs ? `/${u.epochs}` : ''} | ${u.validAccuracy === undefined ? '' : `${u.validAccuracy.toFixed(2)}%`} |`);
    }
    if (notes.length) lines.push('', 'so far:', ...notes.map((n) => `- ${n}`));
    setCurrentDetails(lines.join('\n'));
  };
  setHandler(unitProgressSignal, (u) => {
    units.set(`${u.stage}/${u.unit}`, u);
    render();
  });
  render();
  return {
    note(line) {
      notes.push(line);
      render();
    },
    render,
  };
}
