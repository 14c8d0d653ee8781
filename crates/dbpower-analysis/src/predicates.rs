//! The predicate rules of a query block, on the walker of `statement.rs`: comparisons in WHERE and ON
//! (functions, arithmetic and type mismatches on columns), OR across columns, comma joins that nothing
//! links, correlated subqueries in the SELECT list; and the filter facts the index advisor reads.

use std::collections::HashSet;
use std::ops::ControlFlow;

use dbpower_sql::Dialect;
use sqlparser::ast::{
    BinaryOperator, Expr, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr,
    TableFactor, TableWithJoins, UnaryOperator, Visit, Visitor, visit_expressions,
};

use crate::expr::{self, CmpOp, ColRef, snippet};
use crate::statement::{Block, TableRef, Walker};

pub(crate) fn string_family(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    [
        "char",
        "text",
        "varchar",
        "character",
        "string",
        "enum",
        "citext",
        "clob",
    ]
    .iter()
    .any(|k| t.contains(k))
}

/// A coarse type family: columns of different families cannot be compared without a conversion.
pub(crate) fn family(t: &str) -> &'static str {
    let t = t.to_ascii_lowercase();
    if string_family(&t) {
        "string"
    } else if t.contains("uuid") {
        "uuid"
    } else if t.contains("bool") {
        "boolean"
    } else if t.contains("date") || t.contains("time") {
        "datetime"
    } else if t.contains("int") || t == "serial" || t == "bigserial" || t.starts_with("bit") {
        "integer"
    } else if t.contains("dec") || t.contains("numeric") || t.contains("money") {
        "decimal"
    } else if t.contains("float") || t.contains("double") || t.contains("real") {
        "float"
    } else {
        "other"
    }
}

/// A type whose cast to `text` (or unbounded `varchar`) is a relabel on PostgreSQL.
fn relabel_source(t: &str) -> bool {
    let t = t.trim().to_ascii_lowercase();
    t == "text" || t.starts_with("varchar") || t.starts_with("character varying")
}

impl Walker<'_> {
    /// A PostgreSQL relabel cast of a varchar or text column ([`expr::relabeled_column`]). Without a
    /// schema the column is taken to be one (ORMs cast their varchar columns this way); with one, its
    /// type decides (`char(n)::text` trims, `integer::text` converts).
    pub(crate) fn is_relabel(&self, e: &Expr, tables: &[TableRef]) -> bool {
        self.dialect == Dialect::Postgresql
            && expr::relabeled_column(e).is_some_and(|c| {
                self.column_type(tables, &c)
                    .is_none_or(|t| relabel_source(&t))
            })
    }

    /// The column an expression names: bare, or through a relabel cast.
    pub(crate) fn plain_column(&self, e: &Expr, tables: &[TableRef]) -> Option<ColRef> {
        expr::column_of(e).or_else(|| {
            self.is_relabel(e, tables)
                .then(|| expr::relabeled_column(e))
                .flatten()
        })
    }

    /// A function or cast that computes a new value from a column of the block (not a relabel).
    pub(crate) fn wraps_column(&self, e: &Expr, tables: &[TableRef]) -> bool {
        !self.is_relabel(e, tables) && expr::is_function_on_column(e)
    }

    /// A GROUP BY or ORDER BY key computed per row. A bare `col COLLATE x` is not: it names the order
    /// wanted, and an index declared with that collation delivers it.
    pub(crate) fn computed_key(&self, e: &Expr, tables: &[TableRef]) -> bool {
        !expr::is_collated_column(e)
            && (self.wraps_column(e, tables) || expr::is_arithmetic_on_column(e))
    }

    /// `*` (`qualifier` None) or `q.*` over relations that are all derived tables or CTEs whose every
    /// SELECT lists its columns: the ORM pagination wrapper `SELECT * FROM (SELECT a, b FROM t ...) sub`
    /// reads exactly the listed columns.
    pub(crate) fn wildcard_over_listed(&self, s: &Select, qualifier: Option<&str>) -> bool {
        let mut relations = Vec::new();
        for twj in &s.from {
            relations_of(twj, &mut relations);
        }
        let named = |tf: &TableFactor| -> Option<String> {
            match tf {
                TableFactor::Derived { alias, .. } => {
                    alias.as_ref().map(|a| a.name.value.to_lowercase())
                }
                TableFactor::Table { name, alias, .. } => Some(
                    alias
                        .as_ref()
                        .map(|a| a.name.value.to_lowercase())
                        .unwrap_or_else(|| expr::last_name(name)),
                ),
                _ => None,
            }
        };
        let listed = |tf: &TableFactor| -> bool {
            match tf {
                TableFactor::Derived { subquery, .. } => self.lists_columns(subquery),
                TableFactor::Table {
                    name, args: None, ..
                } if name.0.len() == 1 => {
                    let n = expr::last_name(name);
                    self.cte_listed(&n)
                }
                _ => false,
            }
        };
        let chosen: Vec<&TableFactor> = match qualifier {
            None => relations,
            Some(q) => relations
                .into_iter()
                .filter(|tf| named(tf).as_deref() == Some(q))
                .collect(),
        };
        !chosen.is_empty() && chosen.into_iter().all(listed)
    }

    /// A SELECT list item that names its columns: not a wildcard, or one over listed relations.
    pub(crate) fn item_lists_columns(&self, s: &Select, item: &SelectItem) -> bool {
        match item {
            SelectItem::Wildcard(_) => self.wildcard_over_listed(s, None),
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), _) => {
                self.wildcard_over_listed(s, Some(&expr::last_name(n)))
            }
            SelectItem::QualifiedWildcard(..) => false,
            _ => true,
        }
    }

    /// Every SELECT of the query names its output columns (a VALUES list does too).
    pub(crate) fn lists_columns(&self, q: &Query) -> bool {
        self.body_lists_columns(&q.body)
    }

    fn body_lists_columns(&self, b: &SetExpr) -> bool {
        match b {
            SetExpr::Select(s) => s.projection.iter().all(|p| self.item_lists_columns(s, p)),
            SetExpr::SetOperation { left, right, .. } => {
                self.body_lists_columns(left) && self.body_lists_columns(right)
            }
            SetExpr::Query(inner) => self.lists_columns(inner),
            SetExpr::Values(_) => true,
            _ => false,
        }
    }

    /// A scalar subquery in the SELECT list that names a table of this block.
    pub(crate) fn correlated(&mut self, items: &[&Expr], tables: &[TableRef]) {
        let outer: HashSet<&str> = tables
            .iter()
            .flat_map(|t| [Some(t.name.as_str()), t.alias.as_deref()])
            .flatten()
            .collect();
        for item in items {
            let mut hit = None;
            let _ = visit_expressions(*item, |e| {
                if let Expr::Subquery(q) = e {
                    let mut names = NameCollector::default();
                    let _ = q.visit(&mut names);
                    let mut used = Vec::new();
                    let _ = visit_expressions(&**q, |x| {
                        if let Expr::CompoundIdentifier(parts) = x
                            && parts.len() >= 2
                        {
                            used.push(parts[parts.len() - 2].value.to_lowercase());
                        }
                        ControlFlow::<()>::Continue(())
                    });
                    if let Some(u) = used
                        .iter()
                        .find(|u| outer.contains(u.as_str()) && !names.0.contains(*u))
                    {
                        hit = Some(format!("subquery in SELECT list refers to outer {u}"));
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            });
            if let Some(h) = hit {
                self.push("correlated_subquery_in_select", h);
            }
        }
    }

    /// Comma-separated FROM items that no WHERE predicate links.
    pub(crate) fn cartesian(&mut self, s: &Select, tables: &[TableRef]) {
        let groups = s.from.len();
        if groups < 2 || tables.iter().filter(|t| t.base).count() < 2 {
            return;
        }
        let mut parent: Vec<usize> = (0..groups).collect();
        fn find(p: &mut [usize], x: usize) -> usize {
            let mut x = x;
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        let mut cmps = Vec::new();
        if let Some(w) = &s.selection {
            expr::comparisons(w, &mut cmps);
        }
        for c in &cmps {
            let Some(l) = expr::column_of(c.left) else {
                continue;
            };
            for r in &c.rights {
                let Some(r) = expr::column_of(r) else {
                    continue;
                };
                match (self.resolve(tables, &l), self.resolve(tables, &r)) {
                    (Some(a), Some(b)) => {
                        let (ga, gb) = (
                            find(&mut parent, tables[a].group),
                            find(&mut parent, tables[b].group),
                        );
                        parent[ga] = gb;
                    }
                    // A column comparison we cannot place: assume it links the tables.
                    _ => return,
                }
            }
        }
        let root = find(&mut parent, 0);
        if let Some(g) = (1..groups).find(|g| find(&mut parent, *g) != root) {
            let name = tables
                .iter()
                .find(|t| t.group == g)
                .map(|t| t.name.clone())
                .unwrap_or_default();
            self.push(
                "cartesian_join",
                format!("FROM ..., {name} with no condition linking it"),
            );
        }
    }

    /// An OR whose branches share no tested column: no single index range serves it. Branches that
    /// test no column of the block (`$1 IS NULL`, `EXISTS (...)`) are left out: they need no index
    /// of this table, and the ORM's optional filter `($1 IS NULL OR col = $1)` tests one column.
    pub(crate) fn or_across_columns(&mut self, cond: &Expr, tables: &[TableRef]) {
        let mut ors = Vec::new();
        top_level_ors(cond, &mut ors);
        for e in ors {
            let mut parts = Vec::new();
            expr::disjuncts(e, &mut parts);
            let sets: Vec<Vec<(Option<usize>, String)>> = parts
                .iter()
                .map(|p| {
                    let mut cols = Vec::new();
                    tested_columns(p, &mut cols);
                    let mut cols: Vec<(Option<usize>, String)> = cols
                        .into_iter()
                        .map(|c| (self.resolve(tables, &c), c.1))
                        .collect();
                    cols.sort();
                    cols.dedup();
                    cols
                })
                .filter(|c| !c.is_empty())
                .collect();
            let same = |a: &(Option<usize>, String), b: &(Option<usize>, String)| {
                a.1 == b.1 && (a.0 == b.0 || a.0.is_none() || b.0.is_none())
            };
            let shared = sets.first().is_none_or(|first| {
                first
                    .iter()
                    .any(|c| sets[1..].iter().all(|s| s.iter().any(|d| same(c, d))))
            });
            if !shared {
                self.push("or_across_columns", snippet(e));
                return;
            }
        }
    }

    /// Rules on the comparisons of a WHERE or ON condition, and the block's filter facts.
    pub(crate) fn condition(&mut self, cond: &Expr, tables: &[TableRef], block: &mut Block) {
        let mut cmps = Vec::new();
        expr::comparisons(cond, &mut cmps);
        for c in &cmps {
            let sides: Vec<&Expr> = std::iter::once(c.left)
                .chain(c.rights.iter().copied())
                .collect();
            for (i, side) in sides.iter().enumerate() {
                let others_constant = !c.rights.is_empty()
                    && sides
                        .iter()
                        .enumerate()
                        .all(|(j, o)| j == i || expr::is_constant(o));
                if !others_constant {
                    continue;
                }
                if self.wraps_column(side, tables) {
                    self.push("function_on_column", snippet(c.node));
                    if let Some(col) = expr::columns_outside_subqueries(side).first()
                        && let Some(t) = self.resolve(tables, col)
                    {
                        block.funcs.push((t, col.1.clone(), side.to_string()));
                    }
                } else if expr::is_arithmetic_on_column(side) {
                    self.push("arithmetic_on_column", snippet(c.node));
                }
            }
            // Typed checks need the schema.
            if self.schema.is_some() && !matches!(c.op, CmpOp::Like { .. } | CmpOp::IsNull) {
                // `col = 5` or, written the other way round, `5 = col`.
                let (col_side, others): (&Expr, Vec<&Expr>) = match c.rights.as_slice() {
                    [r] if expr::number(c.left).is_some() && expr::column_of(r).is_some() => {
                        (r, vec![c.left])
                    }
                    _ => (c.left, c.rights.clone()),
                };
                if let Some(col) = expr::column_of(col_side)
                    && let Some(ty) = self.column_type(tables, &col)
                    && string_family(&ty)
                    && others.iter().any(|r| expr::number(r).is_some())
                {
                    self.push(
                        "implicit_conversion",
                        format!("{} ({ty}) compared with a number", col.1),
                    );
                }
                if let Some(r) = c.rights.first().and_then(|r| expr::column_of(r))
                    && let Some(l) = expr::column_of(c.left)
                    && expr::number(c.left).is_none()
                {
                    if let (Some(a), Some(b)) = (self.lookup(tables, &l), self.lookup(tables, &r))
                        && a != b
                        && let (Some(ta), Some(tb)) =
                            (self.column_type(tables, &l), self.column_type(tables, &r))
                        && family(&ta) != family(&tb)
                    {
                        self.push(
                            "join_type_mismatch",
                            format!("{}.{} ({ta}) = {}.{} ({tb})", a.name, l.1, b.name, r.1),
                        );
                    }
                    if string_family(&self.column_type(tables, &r).unwrap_or_default())
                        && expr::number(c.left).is_some()
                    {
                        self.push(
                            "implicit_conversion",
                            format!("{} compared with a number", r.1),
                        );
                    }
                }
            }
        }
        // Facts for the index advisor: AND-ed simple predicates only.
        let mut parts = Vec::new();
        expr::conjuncts(cond, &mut parts);
        for part in parts {
            self.fact(part, tables, block);
        }
    }

    /// An OR over columns of one table, every branch a comparison of a plain column with constants:
    /// each branch's column can be read by its own index and the results combined (PostgreSQL's
    /// BitmapOr, MySQL's index_merge union), so each is recorded.
    fn or_branches(&self, part: &Expr, tables: &[TableRef], block: &mut Block) {
        let mut branches = Vec::new();
        expr::disjuncts(part, &mut branches);
        let mut cols: Vec<(usize, String)> = Vec::new();
        for b in branches {
            let mut cmps = Vec::new();
            expr::comparisons(b, &mut cmps);
            let [c] = cmps.as_slice() else { return };
            let simple = matches!(c.op, CmpOp::Eq | CmpOp::In | CmpOp::Range | CmpOp::Between)
                && c.rights.iter().all(|r| expr::is_constant(r));
            let Some(col) = self.plain_column(c.left, tables).filter(|_| simple) else {
                return;
            };
            let Some(t) = self.resolve(tables, &col) else {
                return;
            };
            if !cols.contains(&(t, col.1.clone())) {
                cols.push((t, col.1));
            }
        }
        if cols.len() >= 2 && cols.iter().all(|c| c.0 == cols[0].0) {
            block.or_columns.push(cols);
        }
    }

    fn fact(&self, part: &Expr, tables: &[TableRef], block: &mut Block) {
        let mut cmps = Vec::new();
        expr::comparisons(part, &mut cmps);
        let is_or = matches!(
            part,
            Expr::BinaryOp {
                op: BinaryOperator::Or,
                ..
            }
        );
        if is_or {
            // `a = 1 OR a = 2` is an IN list on a; anything else is not indexable as one range.
            let cols: HashSet<Option<ColRef>> =
                cmps.iter().map(|c| expr::column_of(c.left)).collect();
            if cols.len() != 1 || cmps.iter().any(|c| c.op != CmpOp::Eq) {
                self.or_branches(part, tables, block);
                return;
            }
        } else if cmps.len() != 1 {
            return;
        }
        let Some(c) = cmps.first() else { return };
        let left = self
            .plain_column(c.left, tables)
            .and_then(|col| self.resolve(tables, &col).map(|t| (t, col.1)));
        let right = c
            .rights
            .first()
            .and_then(|r| self.plain_column(r, tables))
            .and_then(|col| self.resolve(tables, &col).map(|t| (t, col.1)));
        let rights_constant = c.rights.iter().all(|r| expr::is_constant(r));
        // A column of an enclosing block is one value per outer row: for this block, a constant.
        let outer = |e: &Expr| {
            self.plain_column(e, tables).is_some_and(|col| {
                self.resolve(tables, &col).is_none() && self.lookup(tables, &col).is_some()
            })
        };
        match (c.op, &left, &right) {
            (CmpOp::Eq, Some(l), None) if c.rights.len() == 1 && outer(c.rights[0]) => {
                block.correlated.push(l.clone());
                return;
            }
            (CmpOp::Eq, None, Some(r)) if outer(c.left) => {
                block.correlated.push(r.clone());
                return;
            }
            _ => {}
        }
        match (c.op, left, right) {
            (CmpOp::Eq, Some(l), Some(r)) if l.0 != r.0 => block.joins.push((l, r)),
            (CmpOp::Eq | CmpOp::In | CmpOp::IsNull, Some(l), None) if rights_constant => {
                block.eq.push(l)
            }
            (CmpOp::Range | CmpOp::Between, Some(l), None) if rights_constant => {
                block.range.push(l)
            }
            (CmpOp::Range, None, Some(r)) if expr::is_constant(c.left) => block.range.push(r),
            (CmpOp::Eq, None, Some(r)) if expr::is_constant(c.left) => block.eq.push(r),
            (CmpOp::Like { negated: false }, Some(l), None) => {
                // Only a pattern known to start with a fixed prefix is an index range: a placeholder
                // (`LIKE $1` from pg_stat_statements, where `'%x'` is as likely) says nothing, and an
                // index proposed for it may never be used.
                let lead = c.rights.first().map(|p| expr::leading_piece(p));
                let anchored = lead
                    .and_then(|p| expr::string_literal(p))
                    .is_some_and(|s| !s.is_empty() && !s.starts_with(['%', '_']));
                if anchored && rights_constant {
                    block.range.push(l);
                }
            }
            _ => {}
        }
    }
}

#[derive(Default)]
pub(crate) struct NameCollector(pub(crate) HashSet<String>);

impl Visitor for NameCollector {
    type Break = ();
    fn pre_visit_table_factor(&mut self, tf: &TableFactor) -> ControlFlow<()> {
        match tf {
            TableFactor::Table { name, alias, .. } => {
                self.0.insert(expr::last_name(name));
                if let Some(a) = alias {
                    self.0.insert(a.name.value.to_lowercase());
                }
            }
            TableFactor::Derived { alias: Some(a), .. } => {
                self.0.insert(a.name.value.to_lowercase());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// The relations of a FROM item, through joins and parenthesized joins.
fn relations_of<'a>(twj: &'a TableWithJoins, out: &mut Vec<&'a TableFactor>) {
    for tf in std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation)) {
        match tf {
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => relations_of(table_with_joins, out),
            other => out.push(other),
        }
    }
}

/// The outermost ORs of a condition, through AND / NOT / parentheses (not into subqueries, function
/// arguments or CASE, which other blocks or no filter at all own).
fn top_level_ors<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::Nested(inner)
        | Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: inner,
        } => top_level_ors(inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            top_level_ors(left, out);
            top_level_ors(right, out);
        }
        Expr::BinaryOp {
            op: BinaryOperator::Or,
            ..
        } => out.push(e),
        _ => {}
    }
}

/// The columns a branch of an OR tests: both sides of its comparisons and the left side of an
/// `IN (subquery)`, outside subqueries.
fn tested_columns(e: &Expr, out: &mut Vec<ColRef>) {
    let mut cmps = Vec::new();
    expr::comparisons(e, &mut cmps);
    for c in &cmps {
        for side in std::iter::once(c.left).chain(c.rights.iter().copied()) {
            out.extend(expr::columns_outside_subqueries(side));
        }
    }
    in_subquery_lefts(e, out);
}

fn in_subquery_lefts(e: &Expr, out: &mut Vec<ColRef>) {
    match e {
        Expr::Nested(inner)
        | Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: inner,
        } => in_subquery_lefts(inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And | BinaryOperator::Or | BinaryOperator::Xor,
            right,
        } => {
            in_subquery_lefts(left, out);
            in_subquery_lefts(right, out);
        }
        Expr::InSubquery { expr, .. } => out.extend(expr::columns_outside_subqueries(expr)),
        _ => {}
    }
}
