//! The admin panel's own checks, run by `cargo test` so one command tests everything: the TypeScript
//! type check already ran in the build (`npm run build` is `tsc -b && vite build`); this runs the Vitest
//! suite (components, the auth flow, and the generated client's staleness check).

use std::path::Path;
use std::process::Command;

#[test]
fn admin_panel_unit_tests_pass() {
    assert!(
        dbpower_web::is_built(),
        "the admin panel was not built: install Node.js 20.19+ and npm, then run the tests again"
    );
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/admin");
    let out = Command::new("npm")
        .args(["test", "--silent"])
        .current_dir(&web)
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .output()
        .expect("run npm test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "npm test failed in web/admin:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Vitest's summary; the count guards against a configuration that silently finds no test file.
    let passed = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Tests"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    assert!(
        passed >= 20,
        "expected the panel's unit tests to run:\n{stdout}"
    );
}
