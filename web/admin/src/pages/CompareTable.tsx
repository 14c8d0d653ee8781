import { CLASS_CHANGES, classChangeLabel, type ClassChange, type Schemas } from "../api/types";
import { classHref } from "../components/alerts";
import { DataTable, Pagination, Pill } from "../components/ui";
import { Link } from "react-router";
import { formatCount, formatDateTime, formatDecimal, formatMs, formatRatio } from "../lib/format";
import { EmptyState } from "../components/States";

type CompareResponse = Schemas["CompareResponse"];
type CompareRow = Schemas["CompareRow"];

const CHANGE_TONES: Record<ClassChange, "ok" | "warn" | "bad" | "muted"> = {
  new: "warn",
  gone: "muted",
  regressed: "bad",
  improved: "ok",
  unchanged: "muted",
};

/** A signed duration: `+1.2 s`, `−40 ms`. */
function signedMs(ms: number): string {
  if (ms === 0) return "0 ms";
  return `${ms > 0 ? "+" : "−"}${formatMs(Math.abs(ms))}`;
}

function signedCount(n: number): string {
  return n > 0 ? `+${formatCount(n)}` : n < 0 ? `−${formatCount(-n)}` : "0";
}

/**
 * The windows compared (as the API resolved them: around a marker, the client does not compute them), the
 * summary line (every class, before the change filter) and the page of classes.
 */
export function CompareResult({
  data,
  page,
  setPage,
  stale,
}: {
  data: CompareResponse;
  page: number;
  setPage: (p: number) => void;
  stale?: boolean;
}) {
  return (
    <>
      <p className="compare-windows muted small" data-testid="compare-windows">
        A: {formatDateTime(data.a_from)} – {formatDateTime(data.a_to)} · B: {formatDateTime(data.b_from)} – {formatDateTime(data.b_to)}
      </p>
      <p className="compare-summary" data-testid="compare-summary">
        {CLASS_CHANGES.map((c, i) => (
          <span key={c.value}>
            {i > 0 && " · "}
            <strong>{formatCount(data.summary[c.value])}</strong> {c.label.toLowerCase()}
          </span>
        ))}
        <span className="muted small"> (regressed or improved: mean and p95 at least {formatRatio(data.ratio)}× apart)</span>
      </p>
      {data.items.length === 0 ? (
        <EmptyState title="No classes match these filters" />
      ) : (
        <>
          <CompareTable rows={data.items} stale={stale} />
          <Pagination page={page} perPage={data.per_page} total={data.total} shown={data.items.length} onPage={setPage} />
        </>
      )}
    </>
  );
}

function CompareTable({ rows, stale }: { rows: CompareRow[]; stale?: boolean }) {
  return (
    <DataTable
      rows={rows}
      rowKey={(r) => `${r.database_type}-${r.query_id}`}
      stale={stale}
      columns={[
        {
          header: "Query class",
          className: "sql-cell",
          cell: (r) => (
            <>
              <Link to={classHref(r)} className="mono small" title={r.fingerprint}>
                {r.query_id}
              </Link>
              <div className="muted small ellipsis" title={r.fingerprint}>
                {r.fingerprint}
              </div>
            </>
          ),
        },
        { header: "Change", cell: (r) => <Pill tone={CHANGE_TONES[r.change]}>{classChangeLabel(r.change)}</Pill> },
        { header: "Calls A", numeric: true, cell: (r) => formatCount(r.a.calls) },
        { header: "Calls B", numeric: true, cell: (r) => formatCount(r.b.calls) },
        { header: "Mean A", numeric: true, cell: (r) => formatMs(r.a.mean_ms) },
        { header: "Mean B", numeric: true, cell: (r) => formatMs(r.b.mean_ms) },
        { header: "p95 A", numeric: true, cell: (r) => formatMs(r.a.p95_ms) },
        { header: "p95 B", numeric: true, cell: (r) => formatMs(r.b.p95_ms) },
        // Rows examined per row sent (none when no execution reported rows examined, as on PostgreSQL).
        { header: "Rows ratio A", numeric: true, cell: (r) => formatDecimal(r.a.rows_ratio) },
        { header: "Rows ratio B", numeric: true, cell: (r) => formatDecimal(r.b.rows_ratio) },
        { header: "Mean ratio", numeric: true, cell: (r) => (r.mean_ratio == null ? "—" : `${formatRatio(r.mean_ratio)}×`) },
        {
          header: "Time delta",
          numeric: true,
          cell: (r) => <span className={r.total_time_delta_ms > 0 ? "text-bad" : undefined}>{signedMs(r.total_time_delta_ms)}</span>,
        },
        { header: "Calls delta", numeric: true, cell: (r) => signedCount(r.calls_delta) },
      ]}
    />
  );
}
