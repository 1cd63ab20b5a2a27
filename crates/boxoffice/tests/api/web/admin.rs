//! The admins' pages over HTTP: accounts and their roles, the audit log, the dead
//! letters with replay.
use super::{email, sign_in, sign_up, Browser};
use crate::on_both_backends;
use crate::support::{Backend, ShowSpec, TestApp};

async fn admins_read_the_audit_log_and_replay_dead_letters(backend: Backend) {
    use std::sync::atomic::Ordering;
    let downstream = std::sync::Arc::new(crate::dead_letters::Downstream::default());
    downstream.failing.store(true, Ordering::SeqCst);
    let app = crate::dead_letters::app_with(backend, downstream.clone()).await;
    let admin = app.admin().await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    app.hold(&buyer.token, &show, 1).await;
    crate::support::eventually(
        std::time::Duration::from_secs(20),
        "a dead letter",
        || async {
            let r = app
                .get(
                    "/api/v1/admin/dead-letters?consumer=downstream",
                    Some(&admin.token),
                )
                .await;
            (r.expect(200)["total"] == 1).then_some(())
        },
    )
    .await;

    let mut b = Browser::new(&app);
    let csrf = sign_in(&mut b, &admin.email).await;
    let letters = b.get("/admin/dead-letters?consumer=downstream").await;
    assert_eq!(letters.status, 200, "{}", letters.html);
    assert!(letters.has("downstream unavailable"), "{}", letters.html);
    let id = {
        let needle = "action=\"/admin/dead-letters/";
        let at = letters.html.find(needle).expect("a replay form");
        let rest = &letters.html[at + needle.len()..];
        rest[..rest.find('/').expect("an id")].to_owned()
    };
    let again = b
        .post(
            &format!("/admin/dead-letters/{id}/replay"),
            &[("csrf", &csrf)],
        )
        .await;
    assert!(again.has("Replay failed"), "{}", again.html);
    downstream.failing.store(false, Ordering::SeqCst);
    let replayed = b
        .post(
            &format!("/admin/dead-letters/{id}/replay"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(replayed.status, 303, "{}", replayed.html);
    assert!(b
        .get("/admin/dead-letters?consumer=downstream")
        .await
        .has("0 letters"));
    assert!(b
        .get("/admin/dead-letters?status=replayed")
        .await
        .has("downstream unavailable"));

    // Entries reach the log through a queue: the admin's own sign-in shows up shortly.
    let mut log = b.get("/admin/audit?action=auth.login.succeeded").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !log.has("<td><code>") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        log = b.get("/admin/audit?action=auth.login.succeeded").await;
    }
    assert_eq!(log.status, 200, "{}", log.html);
    let actions: Vec<&str> = log
        .html
        .split("<td><code>")
        .skip(1)
        .map(|rest| &rest[..rest.find('<').expect("an end")])
        .collect();
    assert!(!actions.is_empty(), "{}", log.html);
    assert!(
        actions.iter().all(|a| *a == "auth.login.succeeded"),
        "{actions:?}"
    );
    let bad = b.get("/admin/audit?from=yesterday").await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(bad.has("class=\"alert\""));

    let mut stranger = Browser::new(&app);
    sign_up(&mut stranger, &email()).await;
    assert_eq!(stranger.get("/admin/audit").await.status, 403);
    assert_eq!(stranger.get("/admin/dead-letters").await.status, 403);
    app.stop().await;
}

async fn admins_find_accounts_and_change_their_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let buyer = app.buyer().await;
    let mut b = Browser::new(&app);
    let csrf = sign_in(&mut b, &admin.email).await;

    let all = b.get("/admin/users").await;
    assert_eq!(all.status, 200, "{}", all.html);
    assert!(all.has("2 accounts"), "{}", all.html);
    // No form to change one's own role.
    assert!(
        !all.has(&format!("/admin/users/{}/role", admin.id)),
        "{}",
        all.html
    );
    let found = b
        .get(&format!("/admin/users?q={}&role=buyer", buyer.email))
        .await;
    assert!(found.has("1 account<"), "{}", found.html);
    assert!(found.has(&format!("action=\"/admin/users/{}/role\"", buyer.id)));
    let bad = b.get("/admin/users?role=root").await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(bad.has("class=\"alert\""), "{}", bad.html);

    // Without the CSRF token nothing changes; with it the buyer becomes an organizer.
    let path = format!("/admin/users/{}/role", buyer.id);
    let forged = b.post(&path, &[("role", "admin")]).await;
    assert_eq!(forged.status, 403, "{}", forged.html);
    let changed = b
        .post(&path, &[("csrf", &csrf), ("role", "organizer")])
        .await;
    assert_eq!(changed.status, 200, "{}", changed.html);
    assert!(changed.has("is now organizer"), "{}", changed.html);
    let r = app
        .get(
            &format!("/api/v1/admin/users/{}", buyer.id),
            Some(&admin.token),
        )
        .await;
    assert_eq!(r.expect(200)["role"], "organizer");
    let wrong = b.post(&path, &[("csrf", &csrf), ("role", "root")]).await;
    assert_eq!(wrong.status, 422, "{}", wrong.html);

    // The buyer, now an organizer, signs in again and finds the organizer's pages.
    let mut them = Browser::new(&app);
    sign_in(&mut them, &buyer.email).await;
    assert_eq!(them.get("/organize").await.status, 200);
    assert_eq!(them.get("/admin/users").await.status, 403);

    // Pages of 20, the filters kept in the links between them.
    for _ in 0..21 {
        app.buyer().await;
    }
    let first = b.get("/admin/users?role=buyer").await;
    assert!(first.has("Page 1 of 2"), "{}", first.html);
    assert!(
        first.has("href=\"/admin/users?role=buyer&amp;page=2\""),
        "{}",
        first.html
    );
    let second = b.get("/admin/users?role=buyer&page=2").await;
    assert!(second.has("Page 2 of 2"), "{}", second.html);
    assert_eq!(second.html.matches("action=\"/admin/users/").count(), 1);
    app.stop().await;
}

on_both_backends!(
    admins_find_accounts_and_change_their_role,
    admins_read_the_audit_log_and_replay_dead_letters,
);
