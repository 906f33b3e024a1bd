import { describe, expect, it } from 'vitest';
import { contentWords, filterCaptions, nltkStopwords, type Caption } from '../../lib/text/caption-filter';

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
});
