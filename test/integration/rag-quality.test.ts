import { expect, it } from 'vitest';
import { CONFIGURATIONS, courseFiles, evaluate, indexCourses, metricsOf } from '../../bench/rag/evaluate.js';
import { describeEachDatabase } from '../helpers/db.js';

/**
 * The retrieval quality of `npm run bench:rag` on its labelled set stays above the targets
 * for full text with Flexi's analysis (the default every deployment gets). Deterministic: no timing.
 */
describeEachDatabase('retrieval quality on bench/rag', (getStore) => {
  it('meets the full-text targets: recall@5 ≥ 0.9, MRR ≥ 0.75, unanswerable refused ≥ 90 %, answerable refused ≤ 10 %', { timeout: 120_000 }, async () => {
    const files = await courseFiles();
    const configuration = CONFIGURATIONS.find((c) => c.name === 'full text + analysis')!;
    const { service } = await indexCourses(getStore(), files, configuration.options);
    const metrics = metricsOf(await evaluate(service, files, configuration));
    expect(metrics.answerable).toBeGreaterThanOrEqual(40);
    expect(metrics.recallAt5).toBeGreaterThanOrEqual(0.9);
    expect(metrics.mrr).toBeGreaterThanOrEqual(0.75);
    expect(metrics.refusalRecall).toBeGreaterThanOrEqual(0.9);
    expect(metrics.answerableRefused).toBeLessThanOrEqual(0.1);
    expect(metrics.citationAccuracy).toBeGreaterThanOrEqual(0.9);
  });
});
