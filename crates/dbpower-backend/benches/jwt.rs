//! JWT cost per request: issuing and verifying an HS256 access token, next to a plain serde_json
//! round trip of the same claims as the in-run baseline.

use criterion::{Criterion, black_box};
use dbpower_backend::jwt::{Claims, Subject, TokenKeys, TokenType};
use dbpower_types::Role;

#[path = "../../dbpower-sql/benches/support/icount.rs"]
mod bench_icount;
use bench_icount::Case;

/// Every measured case by name: criterion times them, and `scripts/bench-icount.sh` runs one of them a
/// fixed number of times under callgrind to count its instructions.
fn cases() -> Vec<Case> {
    let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
    let to = Subject {
        user_id: 42,
        organization_id: Some(7),
        role: Role::OrgAdmin,
        token_version: 0,
    };
    let (token, claims) = keys.issue(TokenType::Access, to, None).expect("issue");
    let json = serde_json::to_string(&claims).expect("json");
    let verify = keys.clone();
    vec![
        (
            "baseline_claims_json_roundtrip",
            Box::new(move || {
                drop(black_box(
                    serde_json::from_str::<Claims>(black_box(&json)).expect("parse"),
                ))
            }),
        ),
        (
            "jwt_verify_access",
            Box::new(move || {
                drop(black_box(
                    verify
                        .verify(black_box(&token), TokenType::Access)
                        .expect("verify"),
                ))
            }),
        ),
        (
            "jwt_issue_access",
            Box::new(move || {
                drop(black_box(
                    keys.issue(TokenType::Access, black_box(to), None)
                        .expect("issue"),
                ))
            }),
        ),
    ]
}

fn main() {
    let cases = cases();
    if bench_icount::run(&cases) {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    for (name, f) in &cases {
        c.bench_function(name, |b| b.iter(f));
    }
    c.final_summary();
}
