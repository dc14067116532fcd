import type { ActivityReportSummary } from '../projections/read-model.js';

export type PostedReport = ActivityReportSummary & { posted: string | null };

/**
 * A week's report is posted once the week is over (`posted` is its end); the current week's is
 * still growing (`posted` null).
 */
export const withPosted = (reports: ActivityReportSummary[], now: Date): PostedReport[] => {
  const at = now.toISOString();
  return reports.map((r) => ({ ...r, posted: r.to <= at ? r.to : null }));
};
