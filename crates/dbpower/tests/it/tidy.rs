//! Tidy checks run as ordinary tests: crate boundaries, file headers, docs that list every setting.

use std::path::{Path, PathBuf};

/// The platform's crates and servers, which the on-premise agent must not carry, directly or through
/// another crate.
const NOT_IN_THE_AGENT: [&str; 5] = [
    "dbpower-store",
    "dbpower-backend",
    "dbpower-web",
    "axum",
    "redis",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn crates() -> Vec<(String, toml::Table)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join("crates")).expect("crates/") {
        let dir = entry.expect("entry").path();
        let manifest = dir.join("Cargo.toml");
        if manifest.exists() {
            let table: toml::Table = std::fs::read_to_string(&manifest)
                .expect("read")
                .parse()
                .expect("toml");
            let name = dir.file_name().expect("name").to_string_lossy().to_string();
            out.push((name, table));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn deps(t: &toml::Table) -> Vec<String> {
    t.get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn crate_boundaries_hold() {
    let all = crates();
    assert!(all.len() >= 6, "found {} crates", all.len());
    for (name, table) in &all {
        let package = table["package"]["name"].as_str().expect("package name");
        assert_eq!(package, name, "folder name = package name");
        let d = deps(table);
        let has = |x: &str| d.iter().any(|k| k == x);
        // The agent opens its own connections to the customer's databases, and the test kit's invariant
        // checks read the job queue, which the store has no method for; nothing else but the store talks
        // SQL to a database.
        if !["dbpower-store", "dbpower-agent", "dbpower-testkit"].contains(&name.as_str()) {
            assert!(
                !has("sqlx"),
                "{name}: sqlx belongs to dbpower-store (and the agent and the test kit) only"
            );
        }
        if name == "dbpower-agent" {
            for server in NOT_IN_THE_AGENT {
                assert!(!has(server), "the agent must not depend on {server}");
            }
        }
        if !["dbpower-backend", "dbpower-web"].contains(&name.as_str()) {
            assert!(
                !has("axum"),
                "{name}: axum belongs to the HTTP service crates only"
            );
        }
        if [
            "dbpower-types",
            "dbpower-core",
            "dbpower-sql",
            "dbpower-analysis",
        ]
        .contains(&name.as_str())
        {
            for io in ["tokio", "sqlx", "reqwest", "axum", "redis"] {
                assert!(
                    !has(io),
                    "{name} is a pure crate and must not depend on {io}"
                );
            }
        }
        assert!(
            !has("dbpower-testkit"),
            "{name}: the test kit is a dev-dependency only"
        );
        let build = table
            .get("build-dependencies")
            .and_then(|d| d.as_table())
            .is_some_and(|d| d.contains_key("dbpower-testkit"));
        assert!(!build, "{name}: the test kit is a dev-dependency only");
    }
    // The suites of the store, the backend and the binary share the one kit.
    for suite in ["dbpower-store", "dbpower-backend", "dbpower"] {
        let (_, t) = all.iter().find(|(n, _)| n == suite).expect("suite crate");
        let dev = t.get("dev-dependencies").and_then(|d| d.as_table());
        assert!(
            dev.is_some_and(|d| d.contains_key("dbpower-testkit")),
            "{suite}: its tests use the test kit"
        );
    }
    // The same rules through other workspace crates: what a crate pulls in transitively.
    let closure = |start: &str| {
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec![start.to_string()];
        while let Some(c) = todo.pop() {
            if let Some((_, t)) = all.iter().find(|(n, _)| *n == c) {
                for d in deps(t) {
                    if seen.insert(d.clone()) {
                        todo.push(d);
                    }
                }
            }
        }
        seen
    };
    for pure in [
        "dbpower-types",
        "dbpower-core",
        "dbpower-sql",
        "dbpower-analysis",
    ] {
        let pulled = closure(pure);
        for io in ["tokio", "sqlx", "reqwest", "axum", "redis"] {
            assert!(!pulled.contains(io), "{pure} pulls {io} in: {pulled:?}");
        }
    }
    let agent = closure("dbpower-agent");
    for server in NOT_IN_THE_AGENT {
        assert!(!agent.contains(server), "the agent pulls {server} in");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_source_file_says_what_lives_there_and_nothing_is_ignored() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    assert!(files.len() > 20);
    let ignore_attr = ["#[", "ignore"].concat();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        let head: Vec<&str> = text.lines().take(3).collect();
        assert!(
            head.iter().any(|l| l.starts_with("//!")),
            "{} has no //! header line",
            f.display()
        );
        assert!(
            !text.contains(&ignore_attr),
            "{} switches a test off",
            f.display()
        );
    }
}

#[test]
fn config_docs_list_every_setting() {
    let doc = std::fs::read_to_string(root().join("docs/CONFIG.md")).expect("docs/CONFIG.md");
    for name in dbpower_backend::env_names() {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/CONFIG.md does not document {name}"
        );
    }
}

/// The top-level modules of `crate_dir/src` each file's code (not its comments) names through `crate::`.
fn module_edges(
    crate_dir: &Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let src = crate_dir.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let code: String = std::fs::read_to_string(&f)
            .expect("read")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut named = Vec::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a, b::c}`: each item's first segment.
                let end = group.find('}').unwrap_or(group.len());
                named.extend(
                    group[..end]
                        .split(',')
                        .map(|item| item.trim().split("::").next().unwrap_or("").to_string()),
                );
            } else {
                named.push(
                    rest.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect(),
                );
            }
        }
        let entry = edges.entry(module.clone()).or_default();
        for n in named {
            if !n.is_empty() && n != module && src.join(format!("{n}.rs")).exists()
                || src.join(&n).join("mod.rs").exists() && n != module
            {
                entry.insert(n);
            }
        }
    }
    edges
}

#[test]
fn backend_modules_form_no_import_cycle() {
    let edges = module_edges(&root().join("crates/dbpower-backend"));
    assert!(edges.len() > 10, "{edges:?}");
    // Depth-first search for a back edge; the path on the stack is the cycle.
    fn visit(
        m: &str,
        edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = stack.iter().position(|s| s == m) {
            panic!("import cycle: {} -> {m}", stack[at..].join(" -> "));
        }
        stack.push(m.to_string());
        for next in edges.get(m).into_iter().flatten() {
            visit(next, edges, stack, done);
        }
        stack.pop();
        done.insert(m.to_string());
    }
    let mut done = Default::default();
    for m in edges.keys() {
        visit(m, &edges, &mut Vec::new(), &mut done);
    }
    // The leaves stay leaves: the shared context and the role states depend on no router or app.
    for (leaf, forbidden) in [
        (
            "context",
            &["app", "routes", "middleware", "gateway", "state", "workers"][..],
        ),
        ("state", &["app", "routes", "gateway"][..]),
        ("middleware", &["app", "routes", "state", "gateway"][..]),
    ] {
        let out = edges.get(leaf).cloned().unwrap_or_default();
        for f in forbidden {
            assert!(!out.contains(*f), "{leaf} must not depend on {f}: {out:?}");
        }
    }
}

/// The longest function of each Rust file under `dir`, by lines from its `fn` to its closing brace
/// (braces inside strings are counted too; they come in pairs in this code base).
fn long_functions(dir: &Path, max: usize) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let mut long = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let t = lines[i].trim_start();
            let is_fn = !t.starts_with("//")
                && (t.starts_with("fn ")
                    || t.contains(" fn ") && (t.starts_with("pub") || t.starts_with("async")));
            if !is_fn {
                i += 1;
                continue;
            }
            let (mut depth, mut opened, mut j) = (0i32, false, i);
            while j < lines.len() {
                for c in lines[j].chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if (opened && depth <= 0) || (!opened && lines[j].trim_end().ends_with(';')) {
                    break;
                }
                j += 1;
            }
            if opened && j + 1 - i > max {
                long.push(format!("{}:{} ({} lines)", f.display(), i + 1, j + 1 - i));
            }
            i = j + 1;
        }
    }
    long
}

#[test]
fn store_and_backend_functions_fit_on_a_screen() {
    for krate in ["dbpower-store", "dbpower-backend"] {
        let long = long_functions(&root().join("crates").join(krate).join("src"), 80);
        assert!(long.is_empty(), "functions over 80 lines: {long:#?}");
    }
}
