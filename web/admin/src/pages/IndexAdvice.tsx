import { useQuery } from "@tanstack/react-query";
import { useId, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { queries, type IndexAdviceQuery } from "../api/queries";
import { dropReasonLabel, type DatabaseType, type Schemas } from "../api/types";
import { ValidationBadge } from "../components/advice";
import { classHref } from "../components/alerts";
import { EmptyState, Loaded } from "../components/States";
import { DataTable, DdlBlock, Disclosure, InlineField, Pill } from "../components/ui";
import { dbLabel, formatCount, formatMs } from "../lib/format";
import { useUrlFilters } from "../lib/useUrlFilters";
import { FormError } from "./common";
import { PageHead } from "./crud";

/** The API's default and bounds for `unused_days`. */
export const DEFAULT_UNUSED_DAYS = 30;
const MIN_UNUSED_DAYS = 1;
const MAX_UNUSED_DAYS = 3650;

type TableAdvice = Schemas["TableAdvice"];

/** `unused_days` as the URL says it: a whole number of days in the API's bounds, else the default. */
function unusedDaysParam(v: string | null): number {
  const n = Number(v);
  return v && Number.isInteger(n) && n >= MIN_UNUSED_DAYS && n <= MAX_UNUSED_DAYS ? n : DEFAULT_UNUSED_DAYS;
}

const plural = (n: number, one: string, many: string = `${one}s`) => `${formatCount(n)} ${n === 1 ? one : many}`;

/**
 * The workload's index advice, table by table: the classes' index recommendations consolidated into the
 * indexes to create (each serving one or more classes), the indexes to drop, and the recommendations an
 * existing index already serves. Advice a validation rejected is listed only on request. The filters live
 * in the URL.
 */
export function IndexAdvice() {
  const { params, update } = useUrlFilters();
  const unusedDays = unusedDaysParam(params.get("unused_days"));
  const database = params.get("database") || undefined;
  const table = params.get("table") || undefined;
  const query: IndexAdviceQuery = { unused_days: unusedDays, database, table };
  const advice = useQuery(queries.indexAdvice(query));
  const filtered = Boolean(database || table);

  return (
    <div className="page" data-testid="index-advice-page">
      <PageHead
        title="Index advice"
        intro="The classes' index recommendations consolidated per table: the indexes to create, and those to drop."
      />
      {/* Keyed by the URL's filters: the form follows a URL changed otherwise (the back button). */}
      <AdviceFilters
        key={`${unusedDays}|${database ?? ""}|${table ?? ""}`}
        unusedDays={unusedDays}
        database={database ?? ""}
        table={table ?? ""}
        onApply={(f) =>
          update({
            unused_days: f.unusedDays === DEFAULT_UNUSED_DAYS ? undefined : String(f.unusedDays),
            database: f.database || undefined,
            table: f.table || undefined,
          })
        }
      />
      <Loaded
        query={advice}
        isEmpty={(d) => d.tables.length === 0}
        empty={
          <EmptyState title="No index advice yet">
            {filtered
              ? "Nothing for these filters. Clear the database or table to see every table's advice."
              : "Advice appears once classes are analysed and agents describe their tables."}
          </EmptyState>
        }
      >
        {(d) => (
          <div className={advice.isPlaceholderData ? "advice-stale" : undefined} aria-busy={advice.isFetching}>
            <p className="muted advice-summary" data-testid="index-advice-summary">
              {plural(d.recommendations, "single-query recommendation")} considered, {plural(d.proposed, "index", "indexes")}{" "}
              proposed. An index not scanned for {plural(d.unused_days, "day")} is proposed for dropping.
            </p>
            {d.tables.map((t) => (
              <TableSection key={`${t.database_type}|${t.database_name ?? ""}|${t.table}`} t={t} />
            ))}
          </div>
        )}
      </Loaded>
    </div>
  );
}

interface Filters {
  unusedDays: number;
  database: string;
  table: string;
}

/** The filters, applied together (a number of days checked against the API's bounds first). */
function AdviceFilters({ onApply, ...initial }: Filters & { onApply: (f: Filters) => void }) {
  const [days, setDays] = useState(String(initial.unusedDays));
  const [database, setDatabase] = useState(initial.database);
  const [table, setTable] = useState(initial.table);
  const [error, setError] = useState<string | null>(null);
  const errorId = useId();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const n = Number(days.trim());
    if (!days.trim() || !Number.isInteger(n) || n < MIN_UNUSED_DAYS || n > MAX_UNUSED_DAYS) {
      setError(`Unused for: a whole number of days from ${MIN_UNUSED_DAYS} to ${formatCount(MAX_UNUSED_DAYS)}.`);
      return;
    }
    setError(null);
    onApply({ unusedDays: n, database: database.trim(), table: table.trim() });
  };
  return (
    <>
      <form className="filters" role="search" aria-label="Filter advice" onSubmit={submit} noValidate>
        <InlineField label="Unused for (days)">
          <input
            type="number"
            inputMode="numeric"
            min={MIN_UNUSED_DAYS}
            max={MAX_UNUSED_DAYS}
            step={1}
            value={days}
            aria-invalid={Boolean(error)}
            aria-describedby={error ? errorId : undefined}
            onChange={(e) => setDays(e.target.value)}
          />
        </InlineField>
        <InlineField label="Database">
          <input type="text" value={database} placeholder="any" onChange={(e) => setDatabase(e.target.value)} />
        </InlineField>
        <InlineField label="Table" grow>
          <input type="text" value={table} placeholder="orders or shop.orders" onChange={(e) => setTable(e.target.value)} />
        </InlineField>
        <button type="submit" className="btn">
          Apply
        </button>
      </form>
      <div id={errorId}>
        <FormError message={error} />
      </div>
    </>
  );
}

function TableSection({ t }: { t: TableAdvice }) {
  const id = useId();
  const nothing = t.create.length === 0 && t.drop.length === 0 && t.served_by_existing.length === 0;
  return (
    <section className="panel advice-table" aria-labelledby={id} data-testid="index-advice-table">
      <header className="advice-head">
        <h2 id={id}>
          <span className="mono">{t.table}</span>
        </h2>
        <div className="muted small">
          {dbLabel(t.database_type)}
          {t.database_name && <> · {t.database_name}</>} · {t.rows != null ? plural(t.rows, "row") : "rows unknown"} ·{" "}
          {plural(t.writes, "write")} · {plural(t.existing_indexes, "existing index", "existing indexes")}
        </div>
      </header>
      {t.create.length > 0 && (
        <>
          <h3>Create</h3>
          <ul className="recs" aria-label={`Indexes to create on ${t.table}`}>
            {t.create.map((p) => (
              <ProposedItem key={p.ddl} p={p} databaseType={t.database_type} />
            ))}
          </ul>
        </>
      )}
      {t.drop.length > 0 && (
        <>
          <h3>Drop</h3>
          <ul className="recs" aria-label={`Indexes to drop on ${t.table}`}>
            {t.drop.map((p) => (
              <DropItem key={p.index} p={p} />
            ))}
          </ul>
        </>
      )}
      {t.served_by_existing.length > 0 && (
        <>
          <h3>Already served by an existing index</h3>
          <ul className="served-list" aria-label={`Recommendations an existing index on ${t.table} serves`}>
            {t.served_by_existing.map((s) => (
              <li key={`${s.query_id}|${s.index}`}>
                <ClassId queryId={s.query_id} databaseType={t.database_type} /> → <code>{s.index}</code>
              </li>
            ))}
          </ul>
        </>
      )}
      {nothing && <p className="muted">Nothing to create or drop on this table.</p>}
      {t.rejected.length > 0 && (
        <Disclosure
          label={`Show ${formatCount(t.rejected.length)} rejected by validation`}
          openLabel={`Hide ${formatCount(t.rejected.length)} rejected by validation`}
          testId="index-rejected-toggle"
        >
          <ul className="recs recs-rejected" aria-label={`Advice on ${t.table} rejected by validation`}>
            {t.rejected.map((r, n) => (
              <li key={`${r.query_id}|${n}`} data-testid="index-rejected">
                <div className="advice-line">
                  <ClassId queryId={r.query_id} databaseType={t.database_type} />
                  <ValidationBadge validation={r.validation} />
                </div>
                <DdlBlock sql={r.ddl} />
              </li>
            ))}
          </ul>
        </Disclosure>
      )}
    </section>
  );
}

/** A class's query id, linking to its queries. */
function ClassId({ queryId, databaseType }: { queryId: string; databaseType: DatabaseType }) {
  return (
    <Link to={classHref({ query_id: queryId, database_type: databaseType })} className="mono small">
      {queryId}
    </Link>
  );
}

/** `(customer_id, created_at)` or the expression. */
function keyText(columns: string[], expression?: string | null): string {
  return `(${expression || columns.join(", ")})`;
}

function ProposedItem({ p, databaseType }: { p: Schemas["ProposedIndex"]; databaseType: DatabaseType }) {
  return (
    <li data-testid="index-create">
      <div className="advice-line">
        <strong>
          Index on <code>{keyText(p.columns, p.expression)}</code>
        </strong>
        <Pill tone="muted">stands for {plural(p.replaces, "single-query recommendation")}</Pill>
        {p.validation && <ValidationBadge validation={p.validation} testId="index-validation" />}
      </div>
      <p>{p.trade}</p>
      <DdlBlock sql={p.ddl} />
      {p.serves.length > 0 && (
        <>
          <div className="muted small">Serves {plural(p.serves.length, "class", "classes")}</div>
          <DataTable
            className="table table-compact"
            rows={p.serves}
            rowKey={(c) => c.query_id}
            columns={[
              { header: "Class", cell: (c) => <ClassId queryId={c.query_id} databaseType={databaseType} /> },
              { header: "Executions", numeric: true, cell: (c) => formatCount(c.executions) },
              { header: "Total time", numeric: true, cell: (c) => formatMs(c.total_time_ms) },
            ]}
          />
        </>
      )}
    </li>
  );
}

function DropItem({ p }: { p: Schemas["DropProposal"] }) {
  return (
    <li data-testid="index-drop">
      <div className="advice-line">
        <strong>
          <code>{p.index}</code> <code className="muted">{keyText(p.columns)}</code>
        </strong>
        <Pill tone={p.reason === "unused" ? "warn" : "muted"}>{dropReasonLabel(p.reason)}</Pill>
      </div>
      <p>{p.detail}</p>
      <p className="muted small">
        {p.covered_by && (
          <>
            Covered by <code>{p.covered_by}</code> ·{" "}
          </>
        )}
        {p.scans != null ? plural(p.scans, "scan") : "scans unknown"}
      </p>
      <DdlBlock sql={p.ddl} />
    </li>
  );
}
