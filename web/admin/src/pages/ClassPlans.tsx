import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { queries } from "../api/queries";
import type { DatabaseType, Schemas } from "../api/types";
import { PlanDiff, PlanTree } from "../components/PlanTree";
import { Loaded, LoadingState } from "../components/States";
import { formatCount, formatDateTime, formatMs } from "../lib/format";

type Plan = Schemas["PlanView"];

/**
 * A query class's plan shapes, newest first (the newest is the one it runs with now). One selected plan
 * is drawn as a tree; two are compared side by side, the older on the left.
 */
export function ClassPlans({ queryId, databaseType }: { queryId: string; databaseType: DatabaseType }) {
  const plans = useQuery(queries.classes.plans(queryId, databaseType));
  // Shapes, in the order they were selected; at most two.
  const [selected, setSelected] = useState<string[]>([]);
  const toggle = (shape: string) =>
    setSelected((s) => (s.includes(shape) ? s.filter((x) => x !== shape) : [...s, shape].slice(-2)));

  return (
    <section aria-labelledby="plans-title" className="plans">
      <h3 id="plans-title">Plans</h3>
      <Loaded
        query={plans}
        isEmpty={(list) => list.length === 0}
        loading={<LoadingState label="Loading plans…" />}
        empty={
          <p className="muted">
            No plan recorded for this class yet: plans arrive with an agent's EXPLAIN or a log's auto_explain output.
          </p>
        }
      >
        {(list) => {
          // The newest first, as the list shows them: the higher position is the older plan.
          const chosen = list
            .map((plan, position) => ({ plan, position }))
            .filter(({ plan }) => selected.includes(plan.shape));
          return (
            <>
              <p className="muted small">Select a plan to see its tree, or two to compare them.</p>
              <ul className="plan-list" aria-label="Plan shapes, newest first">
                {list.map((p, i) => (
                  <PlanItem key={p.shape} plan={p} current={i === 0} selected={selected.includes(p.shape)} onToggle={toggle} />
                ))}
              </ul>
              {chosen.length === 1 && chosen[0] && (
                <div className="plan-view">
                  <h4>Plan tree</h4>
                  <PlanTree plan={chosen[0].plan.plan} label={`Plan tree: ${chosen[0].plan.summary}`} />
                </div>
              )}
              {chosen.length === 2 && chosen[0] && chosen[1] && (
                <div className="plan-view">
                  <h4>Plan comparison</h4>
                  <PlanDiff
                    before={{ plan: chosen[1].plan.plan, label: `Older: ${chosen[1].plan.summary}` }}
                    after={{ plan: chosen[0].plan.plan, label: `Newer: ${chosen[0].plan.summary}` }}
                  />
                </div>
              )}
            </>
          );
        }}
      </Loaded>
    </section>
  );
}

function PlanItem({
  plan,
  current,
  selected,
  onToggle,
}: {
  plan: Plan;
  current: boolean;
  selected: boolean;
  onToggle: (shape: string) => void;
}) {
  return (
    <li className={`plan-item${selected ? " selected" : ""}`}>
      <div className="plan-item-main">
        <div className="plan-item-head">
          <code className="plan-summary">{plan.summary}</code>
          {current && <span className="pill pill-ok">current</span>}
        </div>
        <div className="muted small">
          {formatCount(plan.executions)} execution{plan.executions === 1 ? "" : "s"} · mean {formatMs(plan.mean_ms)} · first seen{" "}
          {formatDateTime(plan.first_seen)} · last seen {formatDateTime(plan.last_seen)}
        </div>
      </div>
      <button type="button" className="btn btn-small plan-select" aria-pressed={selected} onClick={() => onToggle(plan.shape)}>
        Select <span className="sr-only">plan {plan.summary}</span>
      </button>
    </li>
  );
}
