import { useQuery } from "@tanstack/react-query";
import { queries } from "../api/queries";
import { EmptyState, Loaded } from "../components/States";
import { Pill } from "../components/ui";
import { formatAgo, formatCount } from "../lib/format";

export function Agents() {
  const agents = useQuery(queries.agents());
  return (
    <div className="page">
      <header className="page-head">
        <div>
          <h1>Agents</h1>
          <p className="muted">Collectors report every interval; one silent for three intervals is shown offline.</p>
        </div>
      </header>
      <Loaded
        query={agents}
        isEmpty={(list) => list.length === 0}
        empty={
          <EmptyState title="No agents have reported yet">
            Create an API key (API keys → New key) and run <code>dbpower agent --config agent.toml</code> with the snippet
            it shows.
          </EmptyState>
        }
      >
        {(list) => (
          <table className="table">
            <thead>
              <tr>
                <th>Agent</th>
                <th>Status</th>
                <th>Last seen</th>
                <th>Sources</th>
                <th className="num">Spool</th>
                <th>Last error</th>
              </tr>
            </thead>
            <tbody>
              {list.map((a) => (
                <tr key={a.api_key_id}>
                  <td>
                    <strong>{a.name}</strong>
                    <div className="muted small">v{a.version}</div>
                  </td>
                  <td>{a.online ? <Pill tone="ok">Online</Pill> : <Pill tone="bad">Offline</Pill>}</td>
                  <td>{formatAgo(a.last_seen)}</td>
                  <td>
                    {(a.sources ?? []).map((s) => (
                      <div key={s.name} className="small">
                        {s.name} <span className="muted">({s.kind}: {s.methods.join(", ")})</span> · {formatCount(s.collected ?? 0)}{" "}
                        collected
                        {s.last_error && <div className="text-bad">{s.last_error}</div>}
                      </div>
                    ))}
                  </td>
                  <td className="num">
                    {formatCount(a.spool_batches ?? 0)} batches
                    {(a.evicted_queries ?? 0) > 0 && (
                      <div className="text-bad small">{formatCount(a.evicted_queries)} evicted</div>
                    )}
                  </td>
                  <td className="small">{a.last_error ?? <span className="muted">none</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loaded>
    </div>
  );
}
