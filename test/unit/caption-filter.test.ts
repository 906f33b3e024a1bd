import { describe, expect, it } from 'vitest';
import { DATASETS } from '../../datasets/specs';
import { contentWords, filterCaptions, namedClasses, nltkStopwords, type Caption } from '../../engines/text/caption-filter';

const stopwords = nltkStopwords();
const cap = (text: string, label = 0): Caption => ({ text, label, image: `img-${text.length}` });

describe('caption filter (§3.4.2)', () => {
  it('ships the 179 NLTK stopwords', () => {
    expect(stopwords.size).toBe(179);
    expect(stopwords.has('the')).toBe(true);
  });

  it('lowercases, drops non-alphabetic tokens and stopwords', () => {
    expect(contentWords('The 2 Young women, smiling at the camera!', stopwords)).toEqual(['young', 'women', 'smiling', 'camera']);
  });

  it('F = 2 x classes by default; keeps captions holding a top word as a whole word', () => {
    const captions = [cap('a young woman smiling'), cap('an old man with glasses'), cap('young boy'), cap('old lady'), cap('person in pink sweater'), cap('young girl, old photo')];
    const result = filterCaptions(captions, { numClasses: 1, match: 'word', stopwords });
    expect(result.f).toBe(2);
    expect(result.topWords).toEqual([{ word: 'old', count: 3 }, { word: 'young', count: 3 }]);
    // The paper's example: a BFFHQ caption naming neither age is dropped.
    expect(result.dropped.map((d) => d.text)).toEqual(['person in pink sweater']);
    expect(result.dropped[0]!.reason).toBe('contains none of the top-2 words');
    expect(result.kept).toHaveLength(5);
  });

  it('filter off (Table 4, "w/o text filter"): every non-empty caption is kept; the top words are still counted', () => {
    const captions = [cap('young boy'), cap('old lady'), cap('person in pink sweater'), cap('  ')];
    const off = filterCaptions(captions, { numClasses: 1, topF: 1, match: 'word', stopwords, topWordFilter: false });
    expect(off.kept.map((c) => c.text)).toEqual(['young boy', 'old lady', 'person in pink sweater']);
    expect(off.dropped.map((c) => c.reason)).toEqual(['empty caption']);
    expect(off.topWords).toHaveLength(1);
    expect(filterCaptions(captions, { numClasses: 1, topF: 1, match: 'word', stopwords }).kept).toHaveLength(1);
  });

  it("whole words vs the official code's substring matching", () => {
    const captions = [cap('a bold font'), cap('old man'), cap('old'), cap('cold day')];
    const word = filterCaptions(captions, { numClasses: 1, topF: 1, match: 'word', stopwords });
    expect(word.topWords).toEqual([{ word: 'old', count: 2 }]);
    expect(word.kept.map((c) => c.text)).toEqual(['old man', 'old']);
    const substring = filterCaptions(captions, { numClasses: 1, topF: 1, match: 'substring', stopwords });
    expect(substring.kept.map((c) => c.text)).toEqual(['a bold font', 'old man', 'old', 'cold day']);
  });

  it('an empty corpus and an all-dropped corpus give clear results, not crashes', () => {
    expect(filterCaptions([], { numClasses: 2, match: 'word', stopwords })).toEqual({ f: 4, topWords: [], kept: [], dropped: [] });
    const onlyStopwords = filterCaptions([cap('the and of'), cap('')], { numClasses: 2, match: 'word', stopwords });
    expect(onlyStopwords.topWords).toEqual([]);
    expect(onlyStopwords.kept).toEqual([]);
    expect(onlyStopwords.dropped.map((d) => d.reason)).toEqual(['contains none of the top-4 words', 'empty caption']);
  });

  it('label check: drops a caption that names another class than its image is labeled with', () => {
    const digits = DATASETS.cmnist.classWords;
    expect(namedClasses('a red handwritten seven', digits)).toEqual([7]);
    expect(namedClasses('the digit 3 drawn in red on black', digits)).toEqual([3]);
    expect(namedClasses('a sevenfold 37', digits)).toEqual([]);
    expect(namedClasses('a person pole vaulting', DATASETS.bar.classWords)).toEqual([3]);
    expect(namedClasses('a pole near a river', DATASETS.bar.classWords)).toEqual([]);
    const captions = [cap('a red handwritten seven', 7), cap('a red handwritten two', 7), cap('a red number 7', 7), cap('a red number', 7), cap('a blue two', 2)];
    const checked = filterCaptions(captions, { numClasses: 10, match: 'word', stopwords, classWords: digits });
    // A caption naming no class stays: only a contradiction is dropped.
    expect(checked.kept.map((c) => c.text)).toEqual(['a red handwritten seven', 'a red number 7', 'a red number', 'a blue two']);
    expect(checked.dropped).toEqual([{ ...captions[1], reason: 'names "two" but its image is labeled "seven"' }]);
    // Without class words it is the paper's filter alone.
    expect(filterCaptions(captions, { numClasses: 10, match: 'word', stopwords }).kept).toHaveLength(5);
  });
});
