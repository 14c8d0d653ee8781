import { queries } from "../api/queries";
import { EmptyState } from "../components/States";
import { DataTable, Pill } from "../components/ui";
import { PageHead, PagedTable, usePagedList } from "./crud";
import { formatAgo, formatCount } from "../lib/format";

export function Agents() {
  const { list: agents, page, setPage } = usePagedList(queries.agents);
  return (
    <div className="page">
      <PageHead title="Agents" intro="Collectors report every interval; one silent for three intervals is shown offline." />
      <PagedTable
        list={agents}
        page={page}
        setPage={setPage}
        empty={
          <EmptyState title="No agents have reported yet">
            Create an API key (API keys → New key) and run <code>dbpower agent --config agent.toml</code> with the snippet
            it shows.
          </EmptyState>
        }
      >
        {(list) => (
          <DataTable
            rows={list}
            rowKey={(a) => a.api_key_id}
            columns={[
              {
                header: "Agent",
                cell: (a) => (
                  <>
                    <strong>{a.name}</strong>
                    <div className="muted small">v{a.version}</div>
                  </>
                ),
              },
              { header: "Status", cell: (a) => (a.online ? <Pill tone="ok">Online</Pill> : <Pill tone="bad">Offline</Pill>) },
              { header: "Last seen", cell: (a) => formatAgo(a.last_seen) },
              {
                header: "Sources",
                cell: (a) =>
                  (a.sources ?? []).map((s) => (
                    <div key={s.name} className="small">
                      {s.name} <span className="muted">({s.kind}: {s.methods.join(", ")})</span> · {formatCount(s.collected ?? 0)}{" "}
                      collected
                      {s.last_error && <div className="text-bad">{s.last_error}</div>}
                    </div>
                  )),
              },
              {
                header: "Spool",
                numeric: true,
                cell: (a) => (
                  <>
                    {formatCount(a.spool_batches ?? 0)} batches
                    {(a.evicted_queries ?? 0) > 0 && <div className="text-bad small">{formatCount(a.evicted_queries)} evicted</div>}
                  </>
                ),
              },
              { header: "Last error", className: "small", cell: (a) => a.last_error ?? <span className="muted">none</span> },
            ]}
          />
        )}
      </PagedTable>
    </div>
  );
}
