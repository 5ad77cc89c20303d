// The model catalog (admin): the newest `flexi models catalog` output, models and recommendations.
import { useEffect, useState } from 'preact/hooks';
import type { AdminCatalogReply } from '../../../src/api/admin-catalog.js';
import { api } from '../api';
import { formatDate, t } from '../i18n';

function pct(value: number | null): string {
  return value === null ? '–' : `${Math.round(value * 100)} %`;
}

const OPENNESS: Record<string, string> = { osi_licence: 'OSI', restricted_licence: 'restricted', unknown: '?' };

export function CatalogTab() {
  const [catalog, setCatalog] = useState<AdminCatalogReply | undefined>(undefined);
  const [error, setError] = useState('');
  useEffect(() => {
    api<AdminCatalogReply>('GET', '/admin/v1/catalog').then(setCatalog, (e: Error) => setError(e.message));
  }, []);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!catalog) return null;
  if (!catalog.available) return <p class="muted">{t('catalogEmpty', { dir: catalog.results_dir })}</p>;
  return (
    <>
      <p class="muted small">{t('catalogGenerated', { date: catalog.generated_at ? formatDate(catalog.generated_at) : '–', dir: catalog.results_dir })}</p>
      <section class="card" aria-labelledby="catalog-models">
        <h2 id="catalog-models">{t('adminCatalog')}</h2>
        <div class="table-wrap">
          <table class="catalog-table">
            <thead>
              <tr>
                <th scope="col">{t('model')}</th>
                <th scope="col">{t('node')}</th>
                <th scope="col" class="right">{t('catalogQuality')}</th>
                <th scope="col" class="right">{t('catalogSpeed')}</th>
                <th scope="col" class="right">{t('catalogSafety')}</th>
                <th scope="col">{t('catalogLicence')}</th>
                <th scope="col">{t('catalogLanguages')}</th>
              </tr>
            </thead>
            <tbody>
              {catalog.models.map((m) => (
                <tr key={m.model}>
                  <td>{m.model} <span class="muted small">{[m.parameters, m.quantization].filter(Boolean).join(' · ')}</span></td>
                  <td>{m.deployed ? m.nodes.join(', ') : <span class="muted small">{t('catalogNotServed')}</span>}</td>
                  <td class="right">{pct(m.quality_score)}{m.quality_measured ? '*' : ''}</td>
                  <td class="right">{m.tokens_per_s === null ? '–' : m.tokens_per_s.toFixed(0)}{m.tokens_per_s_measured ? '*' : ''}</td>
                  <td class="right">{pct(m.safety_pass_rate)}{m.safety_pass_rate === null ? '' : '*'}</td>
                  <td>{m.licence ?? '–'} <span class="muted small">{OPENNESS[m.openness] ?? m.openness}</span></td>
                  <td>{m.languages.join(' ') || '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section class="card" aria-labelledby="catalog-recommendations">
        <h2 id="catalog-recommendations">{t('catalogRecommendations')}</h2>
        <div class="grid">
          {catalog.recommendations.map((r) => (
            <div key={r.use_case} aria-label={r.use_case}>
              <h3>{r.use_case.replace(/_/g, ' ')}</h3>
              <ol>
                {r.ranking.filter((x) => !x.excluded).slice(0, 3).map((x) => (
                  <li key={x.model}>{x.model} <span class="muted small">{x.score.toFixed(2)}{x.missing.length ? ` · ${t('catalogNoEvidence', { what: x.missing.join(', ') })}` : ''}</span></li>
                ))}
              </ol>
            </div>
          ))}
        </div>
      </section>
    </>
  );
}
