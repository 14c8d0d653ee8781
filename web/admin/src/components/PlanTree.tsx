/**
 * An EXPLAIN plan drawn as a tree (PostgreSQL `FORMAT JSON`, MySQL/MariaDB `FORMAT=JSON`; anything else
 * raw), and two plans side by side with the nodes that differ marked. Rendering only: `lib/plans.ts`
 * reads the JSON and pairs the nodes.
 */
import { useId } from "react";
import { comparePlans, describeNode, parsePlan, type NodeChange, type PlanFlag, type PlanNode } from "../lib/plans";

const FLAG_CLASS: Record<PlanFlag["kind"], string> = {
  misestimate: "pill-warn",
  spill: "pill-bad",
  "full-scan": "pill-bad",
  filesort: "pill-warn",
  temporary: "pill-warn",
};

const CHANGE_TEXT: Record<Exclude<NodeChange, "same">, string> = {
  changed: "changed",
  added: "added",
  removed: "removed",
};

const percent = (share: number) => `${share >= 0.1 || share === 0 ? Math.round(share * 100) : (share * 100).toFixed(1)}%`;

/** What a comparison says of each node of one side (absent: a plain tree). */
interface Marks {
  changes: NodeChange[];
  counterparts: (PlanNode | undefined)[];
}

function NodeTitle({ node }: { node: PlanNode }) {
  if (node.table) {
    return (
      <span className="plan-node-title">
        table <code>{node.title}</code>
      </span>
    );
  }
  return (
    <span className="plan-node-title">
      <strong>{node.title}</strong>
      {node.join_type && <span className="muted"> {node.join_type} join</span>}
      {node.relation && (
        <>
          {" "}
          on <code>{node.relation}</code>
          {node.alias && node.alias !== node.relation && <span className="muted"> {node.alias}</span>}
        </>
      )}
      {node.index_name && (
        <>
          {" "}
          using <code>{node.index_name}</code>
        </>
      )}
    </span>
  );
}

function NodeView({ node, marks }: { node: PlanNode; marks?: Marks }) {
  const change = marks?.changes[node.index] ?? "same";
  const other = marks?.counterparts[node.index];
  return (
    <li className={`plan-node${change === "same" ? "" : ` plan-node-${change}`}`} data-node-index={node.index}>
      <div className="plan-node-head">
        <NodeTitle node={node} />
        {change !== "same" && (
          <span
            className={`pill plan-change plan-change-${change}`}
            title={other ? `In the other plan: ${describeNode(other)}` : "No counterpart in the other plan"}
          >
            {CHANGE_TEXT[change]}
          </span>
        )}
        {node.flags.map((f) => (
          <span key={f.kind} className={`pill ${FLAG_CLASS[f.kind]}`} title={f.detail}>
            {f.text}
          </span>
        ))}
      </div>
      {node.share !== undefined && (
        <div className="plan-share">
          <meter min={0} max={1} value={node.share} aria-hidden="true" />
          <span>{percent(node.share)} of time</span>
        </div>
      )}
      {node.facts.length > 0 && <div className="plan-facts muted small">{node.facts.join(" · ")}</div>}
      {node.conditions.map((c) => (
        <code key={c} className="plan-cond">
          {c}
        </code>
      ))}
      {node.children.length > 0 && (
        <ul>
          {node.children.map((c) => (
            <NodeView key={c.index} node={c} marks={marks} />
          ))}
        </ul>
      )}
    </li>
  );
}

function RawPlan({ plan, label }: { plan: unknown; label: string }) {
  return (
    <figure className="plan-raw" aria-label={label}>
      <pre>
        <code>{JSON.stringify(plan, null, 2)}</code>
      </pre>
    </figure>
  );
}

/** One plan as a tree of nested lists, or its JSON when it is in no format the panel reads. */
export function PlanTree({ plan, label = "Plan" }: { plan: unknown; label?: string }) {
  const parsed = parsePlan(plan);
  if (!parsed) return <RawPlan plan={plan} label={label} />;
  return (
    <ul className="plan-tree" aria-label={label}>
      <NodeView node={parsed.root} />
    </ul>
  );
}

export interface PlanSide {
  plan: unknown;
  /** The column's heading (`Older: orders: Seq Scan`). */
  label: string;
}

/**
 * Two plans next to each other, nodes paired by position in a pre-order walk: a node whose node type or
 * operation, relation, index, access or join type differs from its counterpart is marked "changed", one
 * with no counterpart "added" (newer plan) or "removed" (older plan).
 */
export function PlanDiff({ before, after }: { before: PlanSide; after: PlanSide }) {
  const id = useId();
  const a = parsePlan(before.plan);
  const b = parsePlan(after.plan);
  const comparable = a && b && a.engine === b.engine;
  const cmp = comparable ? comparePlans(a.root, b.root) : null;
  const differences = cmp
    ? [
        cmp.changed > 0 && `${cmp.changed} node${cmp.changed === 1 ? "" : "s"} changed`,
        cmp.added > 0 && `${cmp.added} added`,
        cmp.removed > 0 && `${cmp.removed} removed`,
      ].filter(Boolean)
    : [];
  const column = (side: PlanSide, parsed: typeof a, marks: Marks | undefined, key: string) => (
    <section className="plan-diff-side" aria-labelledby={`${id}-${key}`}>
      <h5 id={`${id}-${key}`}>{side.label}</h5>
      {parsed ? (
        <ul className="plan-tree" aria-label={side.label}>
          <NodeView node={parsed.root} marks={marks} />
        </ul>
      ) : (
        <RawPlan plan={side.plan} label={side.label} />
      )}
    </section>
  );
  return (
    <div className="plan-diff-wrap">
      <p className="muted small plan-diff-summary">
        {!cmp
          ? "These plans cannot be compared node by node."
          : differences.length > 0
            ? `${differences.join(", ")}.`
            : "Both plans visit the same nodes."}
      </p>
      <div className="plan-diff">
        {column(before, a, cmp ? { changes: cmp.before, counterparts: cmp.counterpartBefore } : undefined, "before")}
        {column(after, b, cmp ? { changes: cmp.after, counterparts: cmp.counterpartAfter } : undefined, "after")}
      </div>
    </div>
  );
}
