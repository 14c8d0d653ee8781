import { useQuery } from "@tanstack/react-query";
import { queries, type AlertFilters } from "../api/queries";
import { ALERT_KINDS, ALERT_STATUSES, alertKindLabel, oneOf } from "../api/types";
import { AlertClassLink, AlertSeverity, AlertStatusPill } from "../components/alerts";
import { EmptyState } from "../components/States";
import { ChoiceFilter, DataTable } from "../components/ui";
import { formatDateTime } from "../lib/format";
import { useUrlFilters } from "../lib/useUrlFilters";
import { AlertDetail } from "./AlertDetail";
import { PageHead, PagedTable } from "./crud";

const PER_PAGE = 25;

/** Alerts of the caller's scope, newest first; filters, page and the selected alert live in the URL. */
export function Alerts() {
  const { params, update, page, setPage } = useUrlFilters();
  const status = oneOf(params.get("status"), ALERT_STATUSES);
  const kind = oneOf(params.get("kind"), ALERT_KINDS);
  const queryId = params.get("query_id") || undefined;
  const selected = Number(params.get("selected")) || null;
  const query: AlertFilters = { page, per_page: PER_PAGE, status, kind, query_id: queryId };
  const list = useQuery(queries.alerts.list(query));
  const filtered = Boolean(status || kind || queryId);
  const select = (id: number) => update({ selected: String(id) }, false);

  return (
    <div className={`page${selected ? " page-split" : ""}`}>
      <div className="split-main">
        <PageHead
          title="Alerts"
          intro="Regressions, new slow queries and volume spikes found in the hourly numbers, with the evidence that raised them."
        />
        <div className="filters" role="search" aria-label="Filter alerts">
          <div className="segmented" role="group" aria-label="Status">
            {[{ value: undefined, label: "All" }, ...ALERT_STATUSES].map((s) => (
              <button
                key={s.label}
                type="button"
                aria-pressed={status === s.value}
                className={status === s.value ? "active" : undefined}
                onClick={() => update({ status: s.value })}
              >
                {s.label}
              </button>
            ))}
          </div>
          <ChoiceFilter label="Kind" value={kind} choices={ALERT_KINDS} onChange={(v) => update({ kind: v })} />
          {queryId && (
            <button type="button" className="btn btn-small btn-ghost" onClick={() => update({ query_id: undefined })}>
              All classes (showing {queryId})
            </button>
          )}
        </div>
        <PagedTable
          list={list}
          page={page}
          setPage={setPage}
          perPage={PER_PAGE}
          empty={
            <EmptyState title={filtered ? "No alerts match these filters" : "No alerts yet"}>
              {filtered
                ? "Clear a filter to see more."
                : "An alert opens when a class regresses against its baseline or a new class costs a share of the time."}
            </EmptyState>
          }
        >
          {(items) => (
            <DataTable
              rows={items}
              className="table table-hover"
              stale={list.isPlaceholderData}
              busy={list.isFetching}
              rowProps={(a) => ({
                className: a.id === selected ? "selected" : undefined,
                onClick: () => select(a.id),
              })}
              columns={[
                {
                  header: "Kind",
                  className: "nowrap",
                  cell: (a) => (
                    <button
                      type="button"
                      className="row-link"
                      onClick={(e) => {
                        e.stopPropagation();
                        select(a.id);
                      }}
                    >
                      {alertKindLabel(a.kind)}
                    </button>
                  ),
                },
                { header: "Severity", cell: (a) => <AlertSeverity severity={a.severity} /> },
                {
                  header: "Query class",
                  className: "sql-cell",
                  cell: (a) => (
                    <>
                      <AlertClassLink alert={a} />
                      <div className="muted small ellipsis" title={a.fingerprint}>
                        {a.fingerprint}
                      </div>
                    </>
                  ),
                },
                { header: "Opened", className: "nowrap", cell: (a) => formatDateTime(a.opened_at) },
                { header: "Status", cell: (a) => <AlertStatusPill status={a.status} /> },
              ]}
            />
          )}
        </PagedTable>
      </div>
      {selected && <AlertDetail id={selected} onClose={() => update({ selected: undefined }, false)} />}
    </div>
  );
}
