import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A caption and where it came from. */
export interface Caption {
  text: string;
  label: number;
  /** The extracted training image it describes. */
  image: string;
}

export interface FilterOptions {
  numClasses: number;
  /** Top words kept; absent = 2 x number of classes (§3.4.2). */
  topF?: number;
  /** word: a top word must appear as a whole word (the paper); substring: anywhere (the official code). */
  match: 'word' | 'substring';
  stopwords: ReadonlySet<string>;
}

export interface FilterResult {
  f: number;
  topWords: { word: string; count: number }[];
  kept: Caption[];
  dropped: (Caption & { reason: string })[];
}

let nltk: ReadonlySet<string> | undefined;

/** NLTK's English stopword list (179 words), shipped as data: NLTK's downloader is not reachable offline. */
export function nltkStopwords(): ReadonlySet<string> {
  nltk ??= new Set(readFileSync(join(__dirname, '..', '..', 'data', 'nltk-english-stopwords.txt'), 'utf8').split('\n').map((w) => w.trim()).filter(Boolean));
  return nltk;
}

/** Lowercased tokens, punctuation split off as NLTK's word_tokenize does, in order. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+(?:['’][\p{L}]+)*|[^\s\p{L}\p{N}]/gu) ?? [];
}

/** The words that count: alphabetic tokens that are not stopwords. */
export function contentWords(text: string, stopwords: ReadonlySet<string>): string[] {
  return tokenize(text).filter((t) => /^\p{L}+$/u.test(t) && !stopwords.has(t));
}

/**
 * §3.4.2: count content words over all captions, take the top F, keep a caption when it holds one
 * of them. Ties in counts are broken alphabetically so the same captions always give the same list.
 */
export function filterCaptions(captions: readonly Caption[], options: FilterOptions): FilterResult {
  const f = options.topF ?? 2 * options.numClasses;
  const counts = new Map<string, number>();
  for (const c of captions) for (const w of contentWords(c.text, options.stopwords)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const topWords = [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, f)
    .map(([word, count]) => ({ word, count }));
  const top = new Set(topWords.map((t) => t.word));
  const kept: Caption[] = [];
  const dropped: FilterResult['dropped'] = [];
  for (const c of captions) {
    const lower = c.text.toLowerCase();
    const hit = options.match === 'word'
      ? tokenize(c.text).some((t) => top.has(t))
      : topWords.some((t) => lower.includes(t.word));
    if (hit) kept.push(c);
    else dropped.push({ ...c, reason: c.text.trim() === '' ? 'empty caption' : `contains none of the top-${f} words` });
  }
  return { f, topWords, kept, dropped };
}
