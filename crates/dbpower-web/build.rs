//! Builds the admin panel (`web/admin`) with npm when its sources changed, and embeds the result.
//!
//! - `DBPOWER_ADMIN_DIST=DIR` embeds an already built panel (the Dockerfile's node stage) and runs no npm.
//! - Otherwise the panel is built into `web/admin/dist`, skipped when `dist/.dbpower-stamp` matches a
//!   hash of the sources; `npm ci` runs first when `package-lock.json` changed since the last install.
//! - Without npm on the PATH the binary embeds a page that says how to get the panel, and cargo prints
//!   a warning: the API works either way. A failing npm build fails the cargo build with npm's output.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const INPUTS: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];
const STAMP: &str = ".dbpower-stamp";

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let web = manifest.join("../../web/admin");
    println!("cargo:rerun-if-env-changed=DBPOWER_ADMIN_DIST");
    for input in INPUTS {
        println!("cargo:rerun-if-changed={}", web.join(input).display());
    }
    let dist = match std::env::var_os("DBPOWER_ADMIN_DIST") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => build(&web),
    };
    let code = match dist {
        Some(dist) => embed(&dist, &out),
        None => placeholder(&out),
    };
    std::fs::write(out.join("assets.rs"), code).expect("write assets.rs");
}

/// Runs npm when needed; `None` when there is no panel source or no npm.
fn build(web: &Path) -> Option<PathBuf> {
    if !web.join("package.json").exists() {
        println!("cargo:warning=web/admin not found: the admin panel is not embedded");
        return None;
    }
    if Command::new(npm()).arg("--version").output().is_err() {
        println!(
            "cargo:warning=npm not found: the admin panel is not embedded (install Node.js 20.19+ and rebuild)"
        );
        return None;
    }
    let dist = web.join("dist");
    let stamp = hash_inputs(web);
    if std::fs::read_to_string(dist.join(STAMP)).ok().as_deref() == Some(stamp.as_str())
        && dist.join("index.html").exists()
    {
        return Some(dist);
    }
    let lock = std::fs::read(web.join("package-lock.json")).unwrap_or_default();
    let lock_hash = {
        let mut h = DefaultHasher::new();
        lock.hash(&mut h);
        format!("{:016x}", h.finish())
    };
    let installed = web.join("node_modules").join(STAMP);
    if std::fs::read_to_string(&installed).ok().as_deref() != Some(lock_hash.as_str()) {
        run(web, &["ci", "--no-audit", "--no-fund"]);
        std::fs::write(&installed, &lock_hash).expect("write node_modules stamp");
    }
    run(web, &["run", "build"]);
    std::fs::write(dist.join(STAMP), stamp).expect("write dist stamp");
    Some(dist)
}

fn npm() -> &'static str {
    if cfg!(windows) { "npm.cmd" } else { "npm" }
}

fn run(web: &Path, args: &[&str]) {
    let out = Command::new(npm())
        .args(args)
        .current_dir(web)
        .output()
        .unwrap_or_else(|e| panic!("npm {}: {e}", args.join(" ")));
    if !out.status.success() {
        panic!(
            "npm {} failed in {}:\n{}\n{}",
            args.join(" "),
            web.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn hash_inputs(web: &Path) -> String {
    let mut files = Vec::new();
    for input in INPUTS {
        collect(&web.join(input), &mut files);
    }
    files.sort();
    let mut h = DefaultHasher::new();
    for f in files {
        f.strip_prefix(web).unwrap_or(&f).hash(&mut h);
        std::fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            collect(&entry.path(), files);
        }
    } else if path.is_file() {
        files.push(path.to_path_buf());
    }
}

/// `ASSETS`: every file of the built panel with its URL path, content type and, for text over 1 KiB,
/// a gzip copy compressed here once (the largest script shrinks about 3.5x).
fn embed(dist: &Path, out: &Path) -> String {
    let mut files = Vec::new();
    collect(dist, &mut files);
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("index.html")),
        "no index.html in {}",
        dist.display()
    );
    let mut code =
        String::from("/// Whether the real panel is embedded.\npub const BUILT: bool = true;\n");
    code.push_str("/// The built panel's files.\npub static ASSETS: &[Asset] = &[\n");
    for f in files {
        let rel = f.strip_prefix(dist).expect("inside dist");
        if rel.to_string_lossy() == STAMP {
            continue;
        }
        let url = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
        let abs = f.canonicalize().expect("canonical path");
        let ct = content_type(&url);
        let body = std::fs::read(&abs).expect("read asset");
        let gzip = if body.len() > 1024 && !ct.starts_with("image/png") && !ct.starts_with("font/")
        {
            let gz = out.join("gz").join(format!("{}.gz", rel.to_string_lossy()));
            std::fs::create_dir_all(gz.parent().expect("parent")).expect("gz dir");
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            std::io::Write::write_all(&mut enc, &body).expect("gzip");
            std::fs::write(&gz, enc.finish().expect("gzip")).expect("write gz");
            format!("Some(include_bytes!({gz:?}))")
        } else {
            "None".to_string()
        };
        let _ = writeln!(
            code,
            "    Asset {{ path: {url:?}, body: include_bytes!({abs:?}), gzip: {gzip}, content_type: {ct:?} }},"
        );
    }
    code.push_str("];\n");
    code
}

fn placeholder(out: &Path) -> String {
    let page = out.join("placeholder.html");
    std::fs::write(
        &page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>DBPower</title></head>\
         <body style=\"font-family:system-ui;max-width:40rem;margin:4rem auto\"><h1>DBPower</h1>\
         <p>The API is running, but this binary was built without the admin panel: Node.js 20.19+ and npm \
         were not found at build time. Install them and run the same command again.</p>\
         <p>The API is documented at <a href=\"/docs\">/docs</a>.</p></body></html>",
    )
    .expect("write placeholder");
    format!(
        "/// Whether the real panel is embedded.\npub const BUILT: bool = false;\n\
         /// A page explaining how to get the panel.\npub static ASSETS: &[Asset] = &[\n    \
         Asset {{ path: \"/index.html\", body: include_bytes!({:?}), gzip: None, content_type: \"text/html; charset=utf-8\" }},\n];\n",
        page
    )
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
