//! JWT cost per request: issuing and verifying an HS256 access token, next to a plain serde_json
//! round trip of the same claims as the in-run baseline.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use dbpower_backend::jwt::{Subject, TokenKeys, TokenType};
use dbpower_types::Role;

fn bench(c: &mut Criterion) {
    let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
    let to = Subject {
        user_id: 42,
        organization_id: Some(7),
        role: Role::OrgAdmin,
        token_version: 0,
    };
    let (token, claims) = keys.issue(TokenType::Access, to, None).expect("issue");
    let json = serde_json::to_string(&claims).expect("json");
    c.bench_function("baseline_claims_json_roundtrip", |b| {
        b.iter(|| {
            serde_json::from_str::<dbpower_backend::jwt::Claims>(black_box(&json)).expect("parse")
        })
    });
    c.bench_function("jwt_verify_access", |b| {
        b.iter(|| {
            keys.verify(black_box(&token), TokenType::Access)
                .expect("verify")
        })
    });
    c.bench_function("jwt_issue_access", |b| {
        b.iter(|| {
            keys.issue(TokenType::Access, black_box(to), None)
                .expect("issue")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
