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
  /** false = keep captions without a top word too (the paper's Table 4, "w/o text filter"); default true. */
  topWordFilter?: boolean;
  stopwords: ReadonlySet<string>;
  /**
   * Per class, the words or phrases that name it. When given, a caption that names a class other
   * than its image's label is dropped: the generated image would carry the image's label but show
   * the class the caption names (the demo captioner reads some sevens as "two").
   */
  classWords?: readonly (readonly string[])[];
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

function containsPhrase(tokens: readonly string[], phrase: readonly string[]): boolean {
  for (let i = 0; i + phrase.length <= tokens.length; i++) {
    if (phrase.every((w, k) => tokens[i + k] === w)) return true;
  }
  return false;
}

/** The classes a caption names, by the words of `classWords` (whole words, phrases in order). */
export function namedClasses(text: string, classWords: readonly (readonly string[])[]): number[] {
  const tokens = tokenize(text);
  const phrases = classWords.map((words) => words.map((w) => tokenize(w)));
  return phrases.flatMap((forClass, c) => (forClass.some((p) => p.length > 0 && containsPhrase(tokens, p)) ? [c] : []));
}

/**
 * §3.4.2: count content words over all captions, take the top F, keep a caption when it holds one
 * of them (and, with `classWords`, names no class but its own). Ties in counts are broken
 * alphabetically so the same captions always give the same list.
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
    const hit = options.topWordFilter === false || (options.match === 'word'
      ? tokenize(c.text).some((t) => top.has(t))
      : topWords.some((t) => lower.includes(t.word)));
    const others = options.classWords ? namedClasses(c.text, options.classWords).filter((k) => k !== c.label) : [];
    if (!hit || (options.topWordFilter === false && c.text.trim() === '')) dropped.push({ ...c, reason: c.text.trim() === '' ? 'empty caption' : `contains none of the top-${f} words` });
    else if (others.length > 0) {
      const name = (k: number) => `"${options.classWords![k]![0]}"`;
      dropped.push({ ...c, reason: `names ${others.map(name).join(', ')} but its image is labeled ${name(c.label)}` });
    }
    else kept.push(c);
  }
  return { f, topWords, kept, dropped };
}
