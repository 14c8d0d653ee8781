/**
 * EXPLAIN plans as the panel draws them: PostgreSQL `EXPLAIN (FORMAT JSON)` (with or without ANALYZE)
 * and MySQL/MariaDB `EXPLAIN FORMAT=JSON` (MariaDB's ANALYZE too) read into one tree of nodes, and two
 * trees paired node by node for a comparison. Pure functions: the components only render what these say.
 */

export type Engine = "postgresql" | "mysql";

/** Something worth the reader's attention on a node. */
export interface PlanFlag {
  kind: "misestimate" | "spill" | "full-scan" | "filesort" | "temporary";
  /** The badge's text. */
  text: string;
  /** The numbers behind it. */
  detail?: string;
}

export interface PlanNode {
  /** Position in a pre-order walk of its tree (the root is 0). */
  index: number;
  /** `Hash Join`, `nested_loop`, a table's name. */
  title: string;
  /** A MySQL table node (its title is the table's name). */
  table: boolean;
  relation?: string;
  alias?: string;
  index_name?: string;
  join_type?: string;
  access_type?: string;
  /** What makes two nodes "the same" in a comparison: node type or operation, relation, index, access and join type. */
  identity: string;
  /** Short facts, in reading order (`est. rows 100`, `buffers: hit 12, read 340`). */
  facts: string[];
  /** Conditions and keys, shown as code (`Hash Cond: (o.customer_id = c.id)`). */
  conditions: string[];
  flags: PlanFlag[];
  /** The node's share of the plan's total time (0..1), when ANALYZE timings say it. */
  share?: number;
  children: PlanNode[];
}

export interface ParsedPlan {
  engine: Engine;
  root: PlanNode;
}

/** Estimates this many times off the actual rows (either way) are marked. */
export const MISESTIMATE_FACTOR = 10;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return undefined;
};
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

const intFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
const count = (n: number) => intFormat.format(n);
const decimal = (n: number) => decFormat.format(n);

/** The plan as a tree, or `null` when it is in neither engine's JSON format (the panel shows it raw). */
export function parsePlan(plan: unknown): ParsedPlan | null {
  const pg = pgRoot(plan);
  if (pg) return { engine: "postgresql", root: number(pgTree(pg)) };
  if (isObject(plan) && isObject(plan.query_block)) {
    return { engine: "mysql", root: number(myBlock("query_block", plan.query_block)) };
  }
  return null;
}

/** Every node of a tree, parents before children. */
export function preorder(root: PlanNode): PlanNode[] {
  const out: PlanNode[] = [];
  const walk = (n: PlanNode) => {
    out.push(n);
    n.children.forEach(walk);
  };
  walk(root);
  return out;
}

function number(root: PlanNode): PlanNode {
  preorder(root).forEach((n, i) => {
    n.index = i;
  });
  return root;
}

function blank(title: string): PlanNode {
  return { index: 0, title, table: false, identity: "", facts: [], conditions: [], flags: [], children: [] };
}

// ---------------------------------------------------------------------------------------------------
// PostgreSQL

/** `[{"Plan": ...}]`, `{"Plan": ...}` or a bare node, as the server's shape reader takes them. */
function pgRoot(plan: unknown): Json | null {
  const top = Array.isArray(plan) ? plan[0] : plan;
  if (!isObject(top)) return null;
  if (isObject(top.Plan) && typeof top.Plan["Node Type"] === "string") return top.Plan;
  if (typeof top["Node Type"] === "string") return top;
  return null;
}

/** A node's inclusive time over all its loops, in ms (ANALYZE only). */
function pgTime(n: Json): number | undefined {
  const t = num(n["Actual Total Time"]);
  if (t === undefined) return undefined;
  return t * (num(n["Actual Loops"]) ?? 1);
}

function pgTree(rootJson: Json): PlanNode {
  const total = pgTime(rootJson);
  const build = (n: Json): PlanNode => {
    const node = blank(str(n["Node Type"]) ?? "?");
    node.relation = str(n["Relation Name"]) ?? str(n["CTE Name"]) ?? str(n["Function Name"]);
    node.alias = str(n.Alias);
    node.index_name = str(n["Index Name"]);
    node.join_type = str(n["Join Type"]);
    node.identity = [node.title, node.relation, node.index_name, node.join_type].map((p) => p ?? "").join("|");
    const facts = node.facts;
    const strategy = str(n.Strategy);
    if (strategy && strategy !== "Plain") facts.push(`strategy ${strategy}`);
    if (str(n["Scan Direction"]) === "Backward") facts.push("backward scan");
    const subplan = str(n["Subplan Name"]);
    if (subplan) facts.push(subplan);

    const estimate = num(n["Plan Rows"]);
    const actual = num(n["Actual Rows"]);
    const loops = num(n["Actual Loops"]);
    if (estimate !== undefined) facts.push(`est. rows ${count(estimate)}`);
    if (actual !== undefined) {
      if (loops === 0) {
        facts.push("never executed");
      } else {
        const l = loops ?? 1;
        facts.push(`actual rows ${count(actual * l)}${l > 1 ? ` (${count(actual)} × ${count(l)} loops)` : ""}`);
        // Both per loop: `Plan Rows` estimates one loop, as `Actual Rows` counts one.
        if (estimate !== undefined) {
          const ratio = Math.max(actual, 1) / Math.max(estimate, 1);
          if (ratio >= MISESTIMATE_FACTOR || ratio <= 1 / MISESTIMATE_FACTOR) {
            const factor = ratio >= 1 ? ratio : 1 / ratio;
            node.flags.push({
              kind: "misestimate",
              text: `misestimate ${count(factor)}×`,
              detail: `estimated ${count(estimate)} rows, actually ${count(actual)}${l > 1 ? " per loop" : ""}`,
            });
          }
        }
      }
    }
    const time = pgTime(n);
    if (time !== undefined && total !== undefined && total > 0 && loops !== 0) {
      node.share = Math.min(1, Math.max(0, time / total));
      facts.push(`${decimal(time)} ms`);
    }
    const hit = num(n["Shared Hit Blocks"]);
    const read = num(n["Shared Read Blocks"]);
    if (hit !== undefined || read !== undefined) facts.push(`buffers: hit ${count(hit ?? 0)}, read ${count(read ?? 0)}`);

    const sortMethod = str(n["Sort Method"]);
    const sortSpace = num(n["Sort Space Used"]);
    const sortType = str(n["Sort Space Type"]);
    if (sortMethod) facts.push(`sort: ${sortMethod}${sortSpace !== undefined ? `, ${count(sortSpace)} kB${sortType ? ` (${sortType})` : ""}` : ""}`);
    const batches = num(n["Hash Batches"]);
    if (batches !== undefined) facts.push(`hash batches ${count(batches)}`);
    const tempWritten = num(n["Temp Written Blocks"]);
    const spill: string[] = [];
    if (sortType === "Disk") spill.push(`sort on disk${sortSpace !== undefined ? ` (${count(sortSpace)} kB)` : ""}`);
    if (tempWritten !== undefined && tempWritten > 0) spill.push(`${count(tempWritten)} temp blocks written`);
    if (batches !== undefined && batches > 1) spill.push(`hash in ${count(batches)} batches`);
    if (spill.length > 0) node.flags.push({ kind: "spill", text: "spills to disk", detail: spill.join("; ") });

    for (const k of ["Index Cond", "Hash Cond", "Merge Cond", "Recheck Cond", "Join Filter", "Filter"]) {
      const c = str(n[k]);
      if (c) node.conditions.push(`${k}: ${c}`);
    }
    const sortKey = n["Sort Key"];
    if (Array.isArray(sortKey) && sortKey.length > 0) node.conditions.push(`Sort Key: ${sortKey.map(String).join(", ")}`);

    const plans = n.Plans;
    if (Array.isArray(plans)) node.children = plans.filter(isObject).map(build);
    return node;
  };
  return build(rootJson);
}

// ---------------------------------------------------------------------------------------------------
// MySQL / MariaDB

/** Keys whose objects or arrays describe a node rather than being operations of their own. */
const MY_NOT_OPERATIONS = new Set([
  "cost_info",
  "r_engine_stats",
  "used_key_parts",
  "possible_keys",
  "used_columns",
  "ref",
  "partitions",
  "key_length",
  "r_loops",
  "rowid_filter_info",
]);

/** Operation keys and how they read. */
const MY_TITLES: Record<string, string> = {
  query_block: "query block",
  nested_loop: "nested loop",
  ordering_operation: "ordering",
  grouping_operation: "grouping",
  duplicates_removal: "duplicates removal",
  temporary_table: "temporary table",
  materialized_from_subquery: "materialized subquery",
  subqueries: "subqueries",
  attached_subqueries: "attached subqueries",
  optimized_away_subqueries: "optimized-away subqueries",
  select_list_subqueries: "select-list subqueries",
  having_subqueries: "HAVING subqueries",
  order_by_subqueries: "ORDER BY subqueries",
  group_by_subqueries: "GROUP BY subqueries",
  union_result: "union result",
  query_specifications: "query specifications",
  read_sorted_file: "read sorted file",
  filesort: "filesort",
  buffer_result: "buffer result",
  "block-nl-join": "block nested-loop join",
  expression_cache: "expression cache",
  windowing: "windowing",
};

/** The operations (and tables) inside one MySQL plan object, in the order its keys come. */
function myChildren(obj: Json): PlanNode[] {
  const out: PlanNode[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (MY_NOT_OPERATIONS.has(k)) continue;
    if (isObject(v)) {
      if (k === "table" && str(v.table_name) !== undefined) out.push(myTable(v));
      else if (k === "query_block") out.push(myBlock(k, v));
      else out.push(myOperation(k, v));
    } else if (Array.isArray(v) && v.some(isObject)) {
      out.push(myOperation(k, v));
    }
  }
  return out;
}

/** An operation: `nested_loop` (an array of wrappers), `ordering_operation` (an object), ... */
function myOperation(key: string, v: Json | unknown[]): PlanNode {
  const node = blank(MY_TITLES[key] ?? key.replace(/_/g, " "));
  node.identity = `op:${key}`;
  if (Array.isArray(v)) {
    // Each item wraps what it holds (`{"table": ...}`, `{"query_block": ...}`): its contents are the children.
    node.children = v.filter(isObject).flatMap(myChildren);
    return node;
  }
  myFlags(node, key, v);
  const joinType = str(v.join_type);
  if (joinType) {
    node.join_type = joinType;
    node.facts.push(`join ${joinType}`);
    node.identity += `|${joinType}`;
  }
  const sortKey = str(v.sort_key);
  if (sortKey) node.conditions.push(`sort key: ${sortKey}`);
  const message = str(v.message);
  if (message) node.facts.push(message);
  myAnalyzeFacts(node, v);
  node.children = myChildren(v);
  return node;
}

function myBlock(key: string, v: Json): PlanNode {
  const node = myOperation(key, v);
  const id = num(v.select_id);
  if (id !== undefined) node.title = `query block #${id}`;
  const cost = isObject(v.cost_info) ? num(v.cost_info.query_cost) : num(v.cost);
  if (cost !== undefined) node.facts.unshift(`cost ${decimal(cost)}`);
  return node;
}

function myFlags(node: PlanNode, key: string, v: Json) {
  if (key === "filesort" || v.using_filesort === true) node.flags.push({ kind: "filesort", text: "filesort" });
  if (key === "temporary_table" || v.using_temporary_table === true) node.flags.push({ kind: "temporary", text: "temporary table" });
}

/** MariaDB's ANALYZE numbers. */
function myAnalyzeFacts(node: PlanNode, v: Json) {
  const rRows = num(v.r_rows);
  if (rRows !== undefined) node.facts.push(`actual rows ${decimal(rRows)}`);
  const rTime = num(v.r_total_time_ms);
  if (rTime !== undefined) node.facts.push(`${decimal(rTime)} ms`);
  const rFiltered = num(v.r_filtered);
  if (rFiltered !== undefined) node.facts.push(`actual filtered ${decimal(rFiltered)}%`);
}

function myTable(t: Json): PlanNode {
  const name = str(t.table_name) ?? "?";
  const node = blank(name);
  node.table = true;
  node.relation = name;
  node.access_type = str(t.access_type);
  node.index_name = str(t.key);
  node.identity = ["table", name, node.access_type, node.index_name].map((p) => p ?? "").join("|");
  if (node.access_type) node.facts.push(`access ${node.access_type}`);
  if (node.access_type === "ALL") node.flags.push({ kind: "full-scan", text: "full scan" });
  if (node.index_name) node.facts.push(`key ${node.index_name}`);
  if (t.using_index === true) node.facts.push("covering index");
  const rows = num(t.rows_examined_per_scan) ?? num(t.rows);
  if (rows !== undefined) node.facts.push(`est. rows ${count(rows)}`);
  const filtered = num(t.filtered);
  if (filtered !== undefined) node.facts.push(`filtered ${decimal(filtered)}%`);
  myAnalyzeFacts(node, t);
  myFlags(node, "table", t);
  const cond = str(t.attached_condition);
  if (cond) node.conditions.push(`condition: ${cond}`);
  node.children = myChildren(t);
  return node;
}

// ---------------------------------------------------------------------------------------------------
// Comparison

export type NodeChange = "same" | "changed" | "added" | "removed";

export interface PlanComparison {
  /** By node index, in each tree. */
  before: NodeChange[];
  after: NodeChange[];
  /** What each node was paired with (its identity), by index; absent when it has no counterpart. */
  counterpartBefore: (PlanNode | undefined)[];
  counterpartAfter: (PlanNode | undefined)[];
  changed: number;
  added: number;
  removed: number;
}

/**
 * Two trees paired by position in a pre-order walk: a pair whose identities differ is "changed"; the
 * longer tree's extra nodes are "added" (in the newer plan) or "removed" (only in the older one).
 */
export function comparePlans(before: PlanNode, after: PlanNode): PlanComparison {
  const a = preorder(before);
  const b = preorder(after);
  const statusA: NodeChange[] = a.map((n, i) => {
    const other = b[i];
    if (!other) return "removed";
    return other.identity === n.identity ? "same" : "changed";
  });
  const statusB: NodeChange[] = b.map((n, i) => {
    const other = a[i];
    if (!other) return "added";
    return other.identity === n.identity ? "same" : "changed";
  });
  return {
    before: statusA,
    after: statusB,
    counterpartBefore: a.map((_, i) => b[i]),
    counterpartAfter: b.map((_, i) => a[i]),
    changed: statusB.filter((s) => s === "changed").length,
    added: statusB.filter((s) => s === "added").length,
    removed: statusA.filter((s) => s === "removed").length,
  };
}

/** A node as one line of text: `Index Scan on orders using orders_email_idx`, `orders (ALL)`. */
export function describeNode(n: PlanNode): string {
  if (n.table) return `${n.title}${n.access_type ? ` (${n.access_type}${n.index_name ? ` using ${n.index_name}` : ""})` : ""}`;
  const parts = [n.title];
  if (n.join_type) parts.push(`(${n.join_type})`);
  if (n.relation) parts.push(`on ${n.relation}`);
  if (n.index_name) parts.push(`using ${n.index_name}`);
  return parts.join(" ");
}
