/**
 * Runs task(0), task(1), … task(count - 1) in that order, at most `width` at a time: a lane takes
 * the next index when its task ends, after waiting for `gate` (a pause holds every lane there).
 * Deterministic in workflow code: indices are taken in order, whatever order tasks end in.
 */
export async function slidingWindow(count: number, width: number, gate: () => Promise<void>, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (;;) {
      await gate();
      if (next >= count) return;
      await task(next++);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, count)) }, lane));
}
