//! The predicate rules of a query block, on the walker of `statement.rs`: comparisons in WHERE and ON
//! (functions, arithmetic and type mismatches on columns), OR across columns, comma joins that nothing
//! links, correlated subqueries in the SELECT list; and the filter facts the index advisor reads.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Select, TableFactor, Visit, Visitor, visit_expressions,
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

impl Walker<'_> {
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

    pub(crate) fn or_across_columns(&mut self, cond: &Expr, tables: &[TableRef]) {
        let mut found = None;
        let _ = visit_expressions(cond, |e| {
            if let Expr::BinaryOp {
                op: BinaryOperator::Or,
                ..
            } = e
            {
                let mut parts = Vec::new();
                expr::disjuncts(e, &mut parts);
                let sets: Vec<Vec<(Option<usize>, String)>> = parts
                    .iter()
                    .map(|p| {
                        let mut cmps = Vec::new();
                        expr::comparisons(p, &mut cmps);
                        let mut cols: Vec<(Option<usize>, String)> = cmps
                            .iter()
                            .filter_map(|c| expr::column_of(c.left))
                            .map(|c| (self.resolve(tables, &c), c.1))
                            .collect();
                        cols.sort();
                        cols.dedup();
                        cols
                    })
                    .collect();
                if sets.windows(2).any(|w| w[0] != w[1]) {
                    found = Some(snippet(e));
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if let Some(f) = found {
            self.push("or_across_columns", f);
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
                if expr::is_function_on_column(side) {
                    self.push("function_on_column", snippet(c.node));
                    if let Some(col) = expr::columns_in(side).first()
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
                if let Some(col) = expr::column_of(c.left)
                    && let Some(ty) = self.column_type(tables, &col)
                    && string_family(&ty)
                    && c.rights.iter().any(|r| expr::number(r).is_some())
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
                return;
            }
        } else if cmps.len() != 1 {
            return;
        }
        let Some(c) = cmps.first() else { return };
        let left =
            expr::column_of(c.left).and_then(|col| self.resolve(tables, &col).map(|t| (t, col.1)));
        let right = c
            .rights
            .first()
            .and_then(|r| expr::column_of(r))
            .and_then(|col| self.resolve(tables, &col).map(|t| (t, col.1)));
        let rights_constant = c.rights.iter().all(|r| expr::is_constant(r));
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
                let lead = c.rights.first().map(|p| expr::leading_piece(p));
                let anchored = lead
                    .and_then(|p| expr::string_literal(p))
                    .is_none_or(|s| !s.starts_with(['%', '_']));
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
