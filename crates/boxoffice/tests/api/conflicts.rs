//! Constraint violations seen from a client: a real duplicate reaches the database,
//! and the problem says what is wrong in API terms without naming the schema.
use crate::on_both_backends;
use crate::support::{read, Backend, Resp, TestApp, PASSWORD};
use serde_json::json;

/// Words that would mean a table, column or constraint name leaked into a response.
const SCHEMA_WORDS: &[&str] = &[
    "users",
    "email_key",
    "pkey",
    "fkey",
    "constraint",
    "UNIQUE",
    "duplicate key",
    "violates",
];

#[track_caller]
fn assert_no_schema_names(r: &Resp) {
    for word in SCHEMA_WORDS {
        assert!(
            !r.text.contains(word),
            "the response names the schema ({word}): {}",
            r.text
        );
    }
}

/// Registrations of one email race; nothing checks before the insert, so every
/// loser is stopped by the unique constraint itself.
async fn racing_registrations_of_one_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"email": "race@example.com", "password": PASSWORD, "display_name": "Racer"});
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(6));
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let request = app
                .client
                .post(app.url("/api/v1/auth/register"))
                .json(&body);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                read(request.send().await.expect("answered")).await
            })
        })
        .collect();
    let mut responses = Vec::new();
    for t in tasks {
        responses.push(t.await.expect("task"));
    }
    let created = responses.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1, "exactly one registration wins");
    for r in responses.iter().filter(|r| r.status != 201) {
        r.expect_field_error("email");
        assert_eq!(r.body["errors"][0]["message"], "is already registered");
        assert_no_schema_names(r);
    }

    // Changing one's email to a taken one is refused the same way.
    let other = app
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"email": "other@example.com", "password": PASSWORD, "display_name": "Other"}),
        )
        .await;
    let token = other.expect(201)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .put(
            "/api/v1/auth/me",
            Some(&token),
            &json!({"email": "race@example.com", "current_password": PASSWORD}),
        )
        .await;
    r.expect_field_error("email");
    assert_no_schema_names(&r);
    app.stop().await;
}

on_both_backends!(racing_registrations_of_one_email);
