import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { Schemas } from "../api/types";
import { hourBucket, markerLines, useChangeMarkers } from "../components/markers";
import { api, call } from "../api/client";
import { describeError } from "../api/errors";
import { invalidate, queries } from "../api/queries";
import { Loaded, LoadingState } from "../components/States";
import { isRejected, ValidationBadge } from "../components/advice";
import { DdlBlock, Disclosure, SeverityBadge, SqlBlock } from "../components/ui";
import { ClassPlans } from "./ClassPlans";
import { dbLabel, formatCount, formatDateTime, formatMs, formatRatio } from "../lib/format";

/** How long the panel waits for a requested analysis before saying it is still queued. */
const ANALYSIS_WAIT_MS = 90_000;

export function QueryDetail({ id, onClose }: { id: number; onClose: () => void }) {
  const qc = useQueryClient();
  // While a re-analysis runs: the analyzed_at it must move past, and when it was asked for.
  const [pending, setPending] = useState<{ since: string | null; at: number } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);

  const detail = useQuery({ ...queries.slowQueries.detail(id), refetchInterval: pending ? 1000 : false });
  const queryId = detail.data?.query_id;
  // The engine names the class too: a MySQL and a PostgreSQL class may share a query id.
  const databaseType = detail.data?.database_type;
  const history = useQuery({ ...queries.classes.detail(queryId ?? "", databaseType), enabled: Boolean(queryId) });

  useEffect(() => {
    setPending(null);
    setNotice(null);
    headingRef.current?.focus();
  }, [id]);
  // Escape closes the panel (unless a dialog above it is open).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && !document.querySelector("[aria-modal='true']")) onClose();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [onClose]);

  const analyzedAt = detail.data?.analysis?.analyzed_at ?? null;
  useEffect(() => {
    if (!pending) return;
    if (analyzedAt && analyzedAt !== pending.since) {
      setPending(null);
      setNotice("Analysis updated.");
      void invalidate(qc, "analysis");
    } else if (Date.now() - pending.at > ANALYSIS_WAIT_MS) {
      setPending(null);
      setNotice("The analysis is still queued; it will appear here when a worker finishes it.");
    }
  }, [analyzedAt, pending, qc]);

  const reanalyze = useMutation({
    mutationFn: () => call(() => api.POST("/api/v1/slow-queries/{id}/analyze", { params: { path: { id } } })),
    onMutate: () => setNotice(null),
    onSuccess: () => {
      void invalidate(qc, "analysis-requested");
      setPending({ since: analyzedAt, at: Date.now() });
    },
  });

  return (
    <aside className="detail" aria-labelledby="detail-title">
      <header className="detail-head">
        <h2 id="detail-title" tabIndex={-1} ref={headingRef}>
          Query #{id}
        </h2>
        <button type="button" className="modal-x" aria-label="Close details" onClick={onClose}>
          ×
        </button>
      </header>
      <Loaded query={detail}>
        {(d) => (
          <div className="detail-body">
            <SqlBlock sql={d.sql_text} label="SQL" />
            <dl className="metrics">
              <Metric label="Execution time" value={formatMs(d.execution_time_ms)} />
              <Metric label="Lock time" value={formatMs(d.lock_time_ms)} />
              <Metric label="Rows examined" value={formatCount(d.rows_examined)} />
              <Metric label="Rows sent" value={formatCount(d.rows_sent)} />
              <Metric label="Calls" value={formatCount(d.calls)} />
              <Metric label="Seen" value={formatDateTime(d.observed_at)} />
              <Metric label="Database" value={`${dbLabel(d.database_type)} · ${d.database_name ?? "—"}`} />
              <Metric label="Query class" value={d.query_id} mono />
            </dl>
            <section aria-labelledby="class-title">
              <h3 id="class-title">Query class</h3>
              <dl className="metrics">
                <Metric label="Executions" value={formatCount(d.class.count)} />
                <Metric label="Total time" value={formatMs(d.class.total_time_ms)} />
                <Metric label="Average" value={formatMs(d.class.avg_time_ms)} />
                <Metric label="p95" value={formatMs(d.class.p95_time_ms)} />
                <Metric label="Max" value={formatMs(d.class.max_time_ms)} />
                <Metric label="Rows examined / sent" value={formatRatio(d.class.rows_ratio)} />
              </dl>
              <Loaded
                query={history}
                isEmpty={(h) => h.series.length === 0}
                loading={<LoadingState label="Loading history…" />}
              >
                {(h) => <ClassHistory series={h.series} />}
              </Loaded>
            </section>
            <ClassPlans key={`${d.database_type}:${d.query_id}`} queryId={d.query_id} databaseType={d.database_type} />
            <section aria-labelledby="analysis-title" className="analysis">
              <div className="panel-head">
                <h3 id="analysis-title">Analysis</h3>
                <button
                  type="button"
                  className="btn btn-primary btn-small"
                  disabled={Boolean(pending) || reanalyze.isPending}
                  onClick={() => reanalyze.mutate()}
                >
                  {pending || reanalyze.isPending ? "Analyzing…" : "Re-analyze"}
                </button>
              </div>
              {pending && (
                <p className="notice" role="status">
                  <span className="spinner spinner-small" aria-hidden="true" /> Analysis queued; this panel updates when it
                  is done.
                </p>
              )}
              {notice && (
                <p className="notice notice-ok" role="status">
                  {notice}
                </p>
              )}
              {reanalyze.isError && (
                <p className="form-error" role="alert">
                  {describeError(reanalyze.error)}
                </p>
              )}
              {d.analysis ? (
                <>
                  <div className="analysis-summary">
                    <SeverityBadge severity={d.analysis.severity} />
                    <span>{d.analysis.summary}</span>
                  </div>
                  <p className="muted small">
                    Analyzed {formatDateTime(d.analysis.analyzed_at)} by {d.analysis.engine.join(", ")}
                    {!d.analysis.parse_ok && " · the statement did not parse; token-level checks only"}
                  </p>
                  {d.analysis.issues.length > 0 && (
                    <>
                      <h4>Issues</h4>
                      <ul className="issues">
                        {d.analysis.issues.map((i, n) => (
                          <li key={`${i.rule_id}-${n}`}>
                            <div className="issue-head">
                              <SeverityBadge severity={i.severity} />
                              <strong>{i.title}</strong>
                              <code className="muted small">{i.rule_id}</code>
                            </div>
                            <p>{i.description}</p>
                            {i.evidence && <p className="muted small">Evidence: {i.evidence}</p>}
                          </li>
                        ))}
                      </ul>
                    </>
                  )}
                  <Recommendations recommendations={d.analysis.recommendations} />
                  <AppliedAdvice applied={d.analysis.applied ?? []} />
                </>
              ) : (
                <p className="muted">Not analyzed yet. Analysis runs in the background after ingestion, or now with Re-analyze.</p>
              )}
            </section>
          </div>
        )}
      </Loaded>
    </aside>
  );
}

/**
 * An analysis's recommendations, each with its validation when it has one. Those a validation rejected are
 * not advice: they are listed, with the reason, only on request.
 */
function Recommendations({ recommendations }: { recommendations: Schemas["Recommendation"][] }) {
  if (recommendations.length === 0) return null;
  const advice = recommendations.filter((r) => !isRejected(r.validation));
  const rejected = recommendations.filter((r) => isRejected(r.validation));
  return (
    <>
      <h4>Recommendations</h4>
      {advice.length > 0 ? (
        <ul className="recs" aria-label="Recommendations">
          {advice.map((r, n) => (
            <RecommendationItem key={n} r={r} />
          ))}
        </ul>
      ) : (
        <p className="muted">No recommendation passed validation.</p>
      )}
      {rejected.length > 0 && (
        <Disclosure
          label={`${rejected.length} ${rejected.length === 1 ? "recommendation" : "recommendations"} rejected by validation`}
          testId="rec-rejected-toggle"
        >
          <ul className="recs recs-rejected" aria-label="Recommendations rejected by validation">
            {rejected.map((r, n) => (
              <RecommendationItem key={n} r={r} />
            ))}
          </ul>
        </Disclosure>
      )}
    </>
  );
}

/**
 * Index advice that was applied (a later schema snapshot showed the index): its effect on the class,
 * p95 before and after, as the platform measured it.
 */
function AppliedAdvice({ applied }: { applied: Schemas["AppliedAdvice"][] }) {
  if (applied.length === 0) return null;
  return (
    <>
      <h4>Applied advice</h4>
      <ul className="recs" aria-label="Applied advice">
        {applied.map((a, n) => (
          <li key={n} data-testid="applied-advice">
            <strong>{a.summary}</strong>
            <p className="muted small">
              {a.calls_before.toLocaleString("en-US")} executions measured in the week before{" "}
              {formatDateTime(a.since)}, {a.calls_after.toLocaleString("en-US")} from the hour after.
            </p>
            <DdlBlock sql={a.ddl} />
          </li>
        ))}
      </ul>
    </>
  );
}

function RecommendationItem({ r }: { r: Schemas["Recommendation"] }) {
  return (
    <li>
      <strong>{r.title}</strong> <span className="pill pill-muted">{r.kind}</span>
      {r.validation && (
        <div className="rec-validation">
          <ValidationBadge validation={r.validation} testId="rec-validation" />
        </div>
      )}
      <p>{r.rationale}</p>
      {r.estimated_impact && <p className="muted small">Impact: {r.estimated_impact}</p>}
      {r.sql && <DdlBlock sql={r.sql} />}
    </li>
  );
}

function Metric({ label, value, mono }: { label: string; value: string; mono?: boolean }) {
  return (
    <div className="metric">
      <dt>{label}</dt>
      <dd className={mono ? "mono" : undefined}>{value}</dd>
    </div>
  );
}

/** A time on the history's axis: day and hour. */
const hourLabel = (hour: unknown) => new Date(String(hour)).toLocaleString("en-GB", { day: "2-digit", hour: "2-digit" });

/** The class's executions per hour, with the change markers of the same hours. */
function ClassHistory({ series }: { series: Schemas["SeriesPoint"][] }) {
  const hours = series.map((p) => p.hour);
  const markers = useChangeMarkers(hours[0]);
  return (
    <div className="chart" role="img" aria-label="Executions per hour for this query class, with change markers">
      <ResponsiveContainer width="100%" height={160}>
        <BarChart data={series}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#e5e7eb" />
          <XAxis dataKey="hour" fontSize={11} tickLine={false} minTickGap={24} tickFormatter={hourLabel} />
          <YAxis fontSize={11} tickLine={false} axisLine={false} width={36} allowDecimals={false} />
          <Tooltip labelFormatter={hourLabel} />
          <Bar dataKey="count" name="Executions" fill="#2563eb" maxBarSize={24} radius={[3, 3, 0, 0]} isAnimationActive={false} />
          {markerLines(markers, (at) => hourBucket(hours, at))}
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
