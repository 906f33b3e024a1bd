import { describe, expect, it } from 'vitest';
import { ProcessCache } from '../../core/process-cache';

describe('ProcessCache', () => {
  it('loads a key once, even for concurrent asks', async () => {
    let loads = 0;
    const cache = new ProcessCache<number>({ capacity: 2 });
    const load = async () => ++loads;
    const [a, b] = await Promise.all([cache.get('k', load), cache.get('k', load)]);
    expect([a, b, loads]).toEqual([1, 1, 1]);
  });

  it('releases the least recently used entry past its capacity', async () => {
    const released: string[] = [];
    const cache = new ProcessCache<string>({ capacity: 2, release: (v) => released.push(v) });
    await cache.get('a', async () => 'a');
    await cache.get('b', async () => 'b');
    await cache.get('a', async () => 'a again'); // a is now the most recent
    await cache.get('c', async () => 'c');
    await new Promise((r) => setImmediate(r));
    expect(released).toEqual(['b']);
    expect(cache.size).toBe(2);
    expect(await cache.get('a', async () => 'reloaded')).toBe('a');
    await cache.clear();
    expect(released.sort()).toEqual(['a', 'b', 'c']);
    expect(cache.size).toBe(0);
  });

  it('forgets a failed load so that the next ask loads again', async () => {
    const cache = new ProcessCache<number>({ capacity: 1 });
    await expect(cache.get('k', () => Promise.reject(new Error('disk full')))).rejects.toThrow('disk full');
    expect(await cache.get('k', async () => 7)).toBe(7);
  });
});
