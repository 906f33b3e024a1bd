/**
 * What `--follow` and the demo draw in a terminal: one bar per running unit of work (a role's
 * training over all its epochs, a fan-out's images or batches) with its rate and ETA, under a line
 * naming the stage; cli-progress draws them. Not a terminal (CI, a pipe): the plain status lines.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Client } from '@temporalio/client';
import { formatSnapshot, snapshot, type Snapshot } from './progress';
import { formatSeconds } from './durations';

export interface ProgressView {
  update(s: Snapshot): void;
  stop(): void;
}

interface HeartbeatDetails {
  unit?: string;
  epoch?: number;
  epochs?: number;
  step?: number;
  total?: number;
  done?: number;
  validAccuracy?: number;
}

/** A running unit as a bar: what it is called, how far along, and a word on where it is. */
export interface UnitBar {
  key: string;
  name: string;
  value: number;
  total: number;
  detail: string;
}

/** The bars a snapshot shows: each running activity with progress, and a fan-out's overall count. */
export function unitBars(s: Snapshot): UnitBar[] {
  const bars: UnitBar[] = [];
  const counts = s.child ?? s.progress;
  if (counts && counts.total > 0 && s.child) {
    bars.push({ key: `${counts.stage}:all`, name: `${counts.stage} (all)`, value: counts.done, total: counts.total, detail: `${counts.done}/${counts.total} done` });
  }
  for (const a of s.activities) {
    const d = (a.details ?? {}) as HeartbeatDetails;
    const name = `${a.type}${d.unit ? ` ${d.unit}` : ''}${a.attempt > 1 ? ` (attempt ${a.attempt})` : ''}`;
    const key = `${a.type}:${d.unit ?? ''}`;
    if (d.epoch !== undefined && d.epochs !== undefined && d.total !== undefined && d.step !== undefined) {
      // Training: steps over all epochs, so the rate and ETA cover the whole run.
      const acc = d.validAccuracy !== undefined ? `, valid ${d.validAccuracy.toFixed(1)}%` : '';
      bars.push({ key, name, value: (d.epoch - 1) * d.total + d.step, total: d.epochs * d.total, detail: `epoch ${d.epoch}/${d.epochs}${acc}` });
    } else if (d.done !== undefined && d.total !== undefined && d.total > 0) {
      bars.push({ key, name, value: d.done, total: d.total, detail: `${d.done}/${d.total}` });
    }
  }
  return bars;
}

function stageLine(s: Snapshot): string {
  const p = s.progress;
  if (!p) return formatSnapshot(s);
  const done = p.stagesDone.length ? ` · done: ${p.stagesDone.join(', ')}` : '';
  return `${s.workflowId}: ${s.experiments ? `experiments ${p.done}/${p.total}` : `stage ${p.stage}`}${p.paused ? ' (PAUSED)' : ''}${done}`;
}

export function progressView(stream: NodeJS.WriteStream, write: (line: string) => void): ProgressView {
  if (!stream.isTTY) {
    let last = '';
    return {
      update(s) {
        const line = formatSnapshot(s);
        if (line !== last) write(line);
        last = line;
      },
      stop() {},
    };
  }
  const multi = new MultiBar({
    stream,
    format: ' {name} |{bar}| {percentage}% | {detail} | {rate} | ETA {left}',
    hideCursor: true,
    clearOnComplete: false,
    etaBuffer: 30,
    autopadding: true,
  }, Presets.shades_classic);
  const header = multi.create(1, 0, { line: '', name: '', detail: '', rate: '', left: '' }, { format: ' {line}' });
  const bars = new Map<string, { bar: SingleBar; first: { value: number; at: number }; moved: { value: number; at: number } }>();
  return {
    update(s) {
      header.update(0, { line: stageLine(s) });
      const now = Date.now();
      const seen = new Set<string>();
      for (const u of unitBars(s)) {
        seen.add(u.key);
        let entry = bars.get(u.key);
        if (!entry) {
          entry = { bar: multi.create(u.total, u.value, { name: u.name, detail: u.detail, rate: '', left: '?' }), first: { value: u.value, at: now }, moved: { value: u.value, at: now } };
          bars.set(u.key, entry);
        }
        // Rate and ETA from what this view saw, between the first and the latest change: heartbeats
        // come every 10 s, so the value stands still between them (cli-progress's own need steady updates).
        if (u.value !== entry.moved.value) entry.moved = { value: u.value, at: now };
        const seconds = (entry.moved.at - entry.first.at) / 1000;
        const perSecond = seconds > 0 ? (entry.moved.value - entry.first.value) / seconds : 0;
        const rate = perSecond > 0 ? `${perSecond.toFixed(1)}/s` : '';
        const eta = perSecond > 0 ? formatSeconds((u.total - u.value) / perSecond) : '?';
        entry.bar.setTotal(u.total);
        entry.bar.update(u.value, { name: u.name, detail: u.detail, rate, left: eta });
      }
      for (const [key, entry] of bars) {
        if (seen.has(key)) continue;
        multi.remove(entry.bar);
        bars.delete(key);
      }
    },
    stop() {
      multi.stop();
    },
  };
}

/** Shows progress until the workflow closes (bars in a terminal, lines otherwise); returns its final status. */
export async function followProgress(
  client: Client, workflowId: string, write: (line: string) => void, intervalMs = 2000, stream: NodeJS.WriteStream = process.stderr,
): Promise<string> {
  const view = progressView(stream, write);
  try {
    for (;;) {
      const s = await snapshot(client, workflowId);
      view.update(s);
      if (s.status !== 'RUNNING') return s.status;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  } finally {
    view.stop();
  }
}
