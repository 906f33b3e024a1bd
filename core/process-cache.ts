/**
 * What a worker process keeps loaded between activities: decoded dataset splits, ONNX sessions,
 * captioners. One policy for all of them: a bounded number of entries, least recently used out
 * first (released if it holds native memory), concurrent asks for one key share one load, and a
 * failed load is forgotten so that the activity's retry loads again.
 */
export class ProcessCache<V> {
  private readonly entries = new Map<string, Promise<V>>();

  constructor(private readonly options: { capacity: number; release?: (value: V) => unknown }) {
    if (!(options.capacity >= 1)) throw new Error(`ProcessCache capacity must be at least 1, got ${options.capacity}`);
  }

  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const loading = load();
    this.entries.set(key, loading);
    loading.catch(() => {
      if (this.entries.get(key) === loading) this.entries.delete(key);
    });
    while (this.entries.size > this.options.capacity) {
      const [oldest, value] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.releaseLater(value);
    }
    return loading;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drops every entry, releasing those that loaded. */
  async clear(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((p) => this.releaseLater(p)));
  }

  private async releaseLater(value: Promise<V>): Promise<void> {
    const { release } = this.options;
    if (!release) return;
    try {
      await release(await value);
    } catch {
      // A load that failed has nothing to release; a release that fails leaves nothing to retry.
    }
  }
}
