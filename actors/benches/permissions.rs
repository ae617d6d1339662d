//! What a permission check costs a publish: an unrestricted user, and a user with a
//! chat's usual patterns (three allows, one deny, `{user}` among them) on a group of
//! three tokens that is allowed, and one that is denied.
//!
//! Run: `cargo bench -p switchboard --bench permissions`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use switchboard::identity::{Access, Pattern, Permissions};
use switchboard::User;

fn checks(c: &mut Criterion) {
    let p = |text: &str| Pattern::parse(text).unwrap();
    let everything = User::new("admin", Permissions::all());
    let chat = User::new(
        "alice",
        Permissions::none()
            .allow(Access::Publish, p("chat.*.general"))
            .allow(Access::Publish, p("user.{user}.>"))
            .allow(Access::Publish, p("chat.>"))
            .deny(Access::Publish, p("chat.admins.>")),
    );
    c.bench_function("publish check, unrestricted", |b| {
        b.iter(|| everything.may(Access::Publish, black_box("chat.eu.general")))
    });
    c.bench_function("publish check, 4 patterns, allowed", |b| {
        b.iter(|| chat.may(Access::Publish, black_box("chat.eu.general")))
    });
    c.bench_function("publish check, 4 patterns, denied", |b| {
        b.iter(|| chat.may(Access::Publish, black_box("chat.admins.general")))
    });
}

criterion_group!(benches, checks);
criterion_main!(benches);
