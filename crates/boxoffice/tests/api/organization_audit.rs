//! The organization side of identity end to end: owners read their organization's
//! audit log, organization actions are recorded there, invitations are mailed and
//! accepted only from a verified address, and members can be held to MFA.
use crate::on_both_backends;
use crate::smtp::SmtpSink;
use crate::support::{eventually, free_port, Backend, TestApp, PASSWORD};
use boxoffice::accounts::Principal;
use boxoffice::clock::Clock;
use boxoffice::config::{MailTransport, SecretUrl};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

/// The organization's audit entries matching `query`, as `token` reads them, once
/// there are at least `n`.
async fn audit(app: &TestApp, token: &str, org: &str, query: &str, n: usize) -> Vec<Value> {
    eventually(
        WAIT,
        &format!("{n} entries of {org} for {query}"),
        || async {
            let r = app
                .get(
                    &format!("/api/v1/organizations/{org}/audit?{query}"),
                    Some(token),
                )
                .await;
            let items = r.expect(200)["items"].as_array().cloned().unwrap();
            (items.len() >= n).then_some(items)
        },
    )
    .await
}

fn actions(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

on_both_backends!(
    owners_read_what_happened_in_their_organization,
    invitations_are_mailed_and_need_a_verified_address,
    members_need_mfa_when_the_policy_says_so_and_keys_do_not,
    mfa_changes_are_audited_without_secrets,
);

async fn owners_read_what_happened_in_their_organization(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    let outsider = app.organizer().await;
    let outsider_org = app.org_of(&outsider).await;
    let admin = app.admin().await;
    let member = app.buyer().await;

    let invitation = app
        .state
        .organizations
        .invite(
            Principal::user(owner.id, owner.role),
            org.parse().unwrap(),
            &member.email,
            "box_office",
        )
        .await
        .unwrap();
    app.post(
        "/api/v1/invitations/accept",
        Some(&member.token),
        &json!({"token": invitation.token}),
    )
    .await
    .expect(200);
    let withdrawn = app
        .post(
            &format!("/api/v1/organizations/{org}/invitations"),
            Some(&owner.token),
            &json!({"email": "someone@example.com", "role": "manager"}),
        )
        .await;
    let withdrawn = withdrawn.expect(201)["id"].as_str().unwrap().to_owned();
    app.delete(
        &format!("/api/v1/organizations/{org}/invitations/{withdrawn}"),
        Some(&owner.token),
    )
    .await
    .expect(204);
    app.put(
        &format!("/api/v1/organizations/{org}/members/{}", member.id),
        Some(&owner.token),
        &json!({"role": "manager"}),
    )
    .await
    .expect(200);
    let key = app
        .post(
            &format!("/api/v1/organizations/{org}/api-keys"),
            Some(&owner.token),
            &json!({"name": "importer", "scope": "write"}),
        )
        .await;
    let key = key.expect(201).clone();
    let (key_id, key_token) = (
        key["key"]["id"].as_str().unwrap().to_owned(),
        key["token"].as_str().unwrap().to_owned(),
    );
    let event = app
        .create_event(
            &key_token,
            &json!({"title": "Key Night", "category": "concert", "city": "Lyon"}),
        )
        .await;
    app.delete(
        &format!("/api/v1/organizations/{org}/api-keys/{key_id}"),
        Some(&owner.token),
    )
    .await
    .expect(204);
    app.put(
        &format!("/api/v1/organizations/{org}"),
        Some(&owner.token),
        &json!({"name": "Lyon Jazz Club"}),
    )
    .await
    .expect(200);
    app.delete(
        &format!("/api/v1/organizations/{org}/members/{}", member.id),
        Some(&member.token),
    )
    .await
    .expect(204);
    // Elsewhere: never in this organization's log.
    app.put(
        &format!("/api/v1/organizations/{outsider_org}"),
        Some(&outsider.token),
        &json!({"name": "Elsewhere"}),
    )
    .await
    .expect(200);

    let items = audit(&app, &owner.token, &org, "", 11).await;
    assert_eq!(
        actions(&items),
        [
            "organization.member.left",
            "organization.renamed",
            "organization.api_key.revoked",
            "catalog.event.created",
            "organization.api_key.created",
            "organization.member.role_changed",
            "organization.invitation.revoked",
            "organization.invitation.created",
            "organization.invitation.accepted",
            "organization.invitation.created",
            "organization.created",
        ],
        "newest first, this organization only"
    );
    for e in &items {
        assert_eq!(e["organization_id"], org.as_str(), "{e}");
    }
    let by_key = &items[3];
    assert_eq!(by_key["actor_type"], "api_key", "a key acts as itself");
    assert_eq!(by_key["actor_id"], key_id.as_str());
    assert_eq!(by_key["target_id"], event["id"]);
    assert_eq!(items[0]["actor_id"], member.id.to_string());
    assert_eq!(items[0]["target_id"], member.id.to_string());
    assert_eq!(items[5]["detail"]["role"], "manager");
    assert_eq!(items[4]["target_type"], "api_key");
    assert_eq!(items[4]["detail"]["scope"], "write");
    for (n, e) in items.iter().enumerate() {
        if ![0, 3, 8].contains(&n) {
            assert_eq!(e["actor_id"], owner.id.to_string(), "{e}");
        }
    }
    assert_eq!(items[8]["actor_id"], member.id.to_string());
    let text = serde_json::to_string(&items).unwrap();
    for secret in [&member.email, &invitation.token, &key_token] {
        assert!(
            !text.contains(secret.as_str()),
            "no email or token in {text}"
        );
    }
    assert!(!text.contains("someone@example.com"));

    // The admin route's filters and cursor, with the organization fixed.
    let invitations = audit(
        &app,
        &owner.token,
        &org,
        "action=organization.invitation.",
        4,
    )
    .await;
    assert_eq!(
        actions(&invitations),
        actions(&items[6..10]),
        "created, accepted, created, revoked"
    );
    let fixed = audit(
        &app,
        &owner.token,
        &org,
        &format!("organization={outsider_org}"),
        11,
    )
    .await;
    assert_eq!(fixed.len(), 11, "another organization cannot be asked for");
    let first = app
        .get(
            &format!("/api/v1/organizations/{org}/audit?limit=4"),
            Some(&owner.token),
        )
        .await;
    let first = first.expect(200).clone();
    assert_eq!(first["items"].as_array().unwrap().len(), 4);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_owned();
    let second = app
        .get(
            &format!("/api/v1/organizations/{org}/audit?limit=10&cursor={cursor}"),
            Some(&owner.token),
        )
        .await;
    let second = second.expect(200).clone();
    assert_eq!(
        actions(second["items"].as_array().unwrap()),
        actions(&items[4..])
    );
    assert!(second["next_cursor"].is_null());
    app.get(
        &format!("/api/v1/organizations/{org}/audit?action=Not%20An%20Action"),
        Some(&owner.token),
    )
    .await
    .expect_problem(422, "/problems/validation");

    // Admins read it too; as the admin route filtered by organization.
    let as_admin = audit(&app, &admin.token, &org, "", 11).await;
    assert_eq!(actions(&as_admin), actions(&items));
    let r = app
        .get(
            &format!("/api/v1/admin/audit?organization={org}"),
            Some(&admin.token),
        )
        .await;
    assert_eq!(
        actions(r.expect(200)["items"].as_array().unwrap()),
        actions(&items)
    );
    // Other owners and non-owners do not; unknown organizations are not found.
    for token in [&outsider.token, &member.token] {
        app.get(&format!("/api/v1/organizations/{org}/audit"), Some(token))
            .await
            .expect_problem(403, "/problems/forbidden");
    }
    app.get(&format!("/api/v1/organizations/{org}/audit"), None)
        .await
        .expect_problem(401, "/problems/unauthorized");
    app.get(
        &format!("/api/v1/organizations/{}/audit", uuid::Uuid::now_v7()),
        Some(&owner.token),
    )
    .await
    .expect_problem(404, "/problems/not-found");
    app.stop().await;
}

async fn with_smtp(backend: Backend, sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(backend, move |c| {
        c.mail_transport = MailTransport::Smtp;
        c.smtp_url = Some(SecretUrl::new(url));
    })
    .await
}

async fn invitations_are_mailed_and_need_a_verified_address(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = with_smtp(backend, &sink).await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    app.put(
        &format!("/api/v1/organizations/{org}"),
        Some(&owner.token),
        &json!({"name": "Lyon Jazz Club"}),
    )
    .await
    .expect(200);

    // The invitee signs up; the address is not verified yet.
    let registered = app
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"email": "doors@example.com", "password": PASSWORD, "display_name": "Dora Doors"}),
        )
        .await;
    let invitee = registered.expect(201)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, verification) = sink.next(WAIT).await;
    assert_eq!(verification.subject, "Confirm your email address");

    let invited = app
        .post(
            &format!("/api/v1/organizations/{org}/invitations"),
            Some(&owner.token),
            &json!({"email": "doors@example.com", "role": "box_office"}),
        )
        .await;
    let invited = invited.expect(201).clone();
    let (envelope, mail) = sink.next(WAIT).await;
    assert_eq!(envelope.rcpt_to, vec!["doors@example.com"]);
    assert_eq!(mail.to, "doors@example.com");
    assert!(mail.subject.contains("Lyon Jazz Club"), "{}", mail.subject);
    assert!(mail.alternative, "text and HTML alternatives");
    let expires_at = invited["expires_at"].as_str().unwrap();
    for body in [&mail.text, &mail.html] {
        for part in ["Lyon Jazz Club", "box_office", "Test organizer", expires_at] {
            assert!(body.contains(part), "{part} in {body}");
        }
    }
    let token = mail.token();
    assert!(mail.html.contains(&token));
    assert!(
        !invited.to_string().contains(&token),
        "the token travels by mail only"
    );

    // Unverified: refused, and nothing changes.
    app.post(
        "/api/v1/invitations/accept",
        Some(&invitee),
        &json!({"token": token}),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    let mine = app.get("/api/v1/organizations", Some(&invitee)).await;
    assert!(mine.expect(200).as_array().unwrap().is_empty());

    // Verified with the other email's code: the invitation still holds.
    app.post(
        "/api/v1/auth/verify-email",
        None,
        &json!({"token": verification.token()}),
    )
    .await
    .expect(204);
    let joined = app
        .post(
            "/api/v1/invitations/accept",
            Some(&invitee),
            &json!({"token": token}),
        )
        .await;
    let joined = joined.expect(200);
    assert_eq!(joined["id"], org.as_str());
    assert_eq!(joined["role"], "box_office");
    app.post(
        "/api/v1/invitations/accept",
        Some(&invitee),
        &json!({"token": token}),
    )
    .await
    .expect_problem(404, "/problems/not-found");

    let items = audit(
        &app,
        &owner.token,
        &org,
        "action=organization.invitation.",
        2,
    )
    .await;
    assert_eq!(
        actions(&items),
        [
            "organization.invitation.accepted",
            "organization.invitation.created"
        ]
    );
    let text = serde_json::to_string(&items).unwrap();
    assert!(!text.contains("doors@example.com") && !text.contains(&token));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_smtp_peer_does_not_fail_invitations() {
    let url = format!("smtp://127.0.0.1:{}", free_port());
    let app = TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.mail_transport = MailTransport::Smtp;
        c.smtp_url = Some(SecretUrl::new(url));
        c.smtp_timeout_secs = 30;
    })
    .await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    let started = Instant::now();
    app.post(
        &format!("/api/v1/organizations/{org}/invitations"),
        Some(&owner.token),
        &json!({"email": "doors@example.com", "role": "box_office"}),
    )
    .await
    .expect(201);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the request did not wait for mail: {:?}",
        started.elapsed()
    );
    app.stop().await;
}

async fn members_need_mfa_when_the_policy_says_so_and_keys_do_not(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.mfa_required_for_members = true).await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    let members = format!("/api/v1/organizations/{org}/members");
    let event = |title: &str| json!({"title": title, "category": "concert", "city": "Lyon", "organization_id": org});

    // Without a second factor: the organization's endpoints and catalog writes.
    app.get(&members, Some(&owner.token))
        .await
        .expect_problem(403, "/problems/mfa-required");
    app.post("/api/v1/events", Some(&owner.token), &event("Blocked"))
        .await
        .expect_problem(403, "/problems/mfa-required");
    app.put(
        &format!("/api/v1/organizations/{org}"),
        Some(&owner.token),
        &json!({"name": "Blocked"}),
    )
    .await
    .expect_problem(403, "/problems/mfa-required");
    app.get(
        &format!("/api/v1/organizations/{org}/audit"),
        Some(&owner.token),
    )
    .await
    .expect_problem(403, "/problems/mfa-required");
    assert!(app.get("/api/v1/events", None).await.expect(200)["items"]
        .as_array()
        .unwrap()
        .is_empty());
    // Accounts outside the organization are refused as before; buying is unaffected.
    let buyer = app.buyer().await;
    app.get(&members, Some(&buyer.token))
        .await
        .expect_problem(403, "/problems/forbidden");
    app.get("/api/v1/bookings", Some(&buyer.token))
        .await
        .expect(200);

    // A session that passed MFA acts.
    let (with_mfa, _) = app
        .state
        .accounts
        .issuer()
        .issue_with(owner.id, owner.role, true, app.clock.now())
        .unwrap();
    app.get(&members, Some(&with_mfa)).await.expect(200);
    app.post("/api/v1/events", Some(&with_mfa), &event("Allowed"))
        .await
        .expect(201);
    let key = app
        .post(
            &format!("/api/v1/organizations/{org}/api-keys"),
            Some(&with_mfa),
            &json!({"name": "importer", "scope": "write"}),
        )
        .await;
    let key = key.expect(201)["token"].as_str().unwrap().to_owned();
    // API keys are exempt.
    app.get(&members, Some(&key)).await.expect(200);
    app.post("/api/v1/events", Some(&key), &event("By key"))
        .await
        .expect(201);
    app.stop().await;
}

/// The code an authenticator app shows for `secret` now (computed with the library
/// directly, not with the server's code).
fn totp_now(app: &TestApp, secret: &str) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .expect("base32 secret");
    totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        0,
        30,
        bytes,
        None,
        String::new(),
    )
    .generate(u64::try_from(app.clock.now().millis() / 1000).expect("after 1970"))
}

/// Moves the clock to the start of the next 30-second step: a fresh code exists.
fn next_step(app: &TestApp) {
    let secs = app.clock.now().millis() / 1000;
    app.clock.advance_secs(30 - secs % 30);
}

async fn mfa_changes_are_audited_without_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let user = app.buyer().await;
    let r = app
        .post("/api/v1/auth/mfa/totp", Some(&user.token), &json!({}))
        .await;
    let secret = r.expect(201)["secret"].as_str().unwrap().to_owned();
    let confirmed = app
        .post(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&user.token),
            &json!({"code": totp_now(&app, &secret)}),
        )
        .await;
    let first_codes = confirmed.expect(200)["backup_codes"].to_string();
    next_step(&app);
    let code = totp_now(&app, &secret);
    app.post(
        "/api/v1/auth/mfa/backup-codes",
        Some(&user.token),
        &json!({"code": code}),
    )
    .await
    .expect(200);
    next_step(&app);
    let code = totp_now(&app, &secret);
    app.send(
        reqwest::Method::DELETE,
        "/api/v1/auth/mfa/totp",
        Some(&user.token),
        Some(&json!({"password": PASSWORD, "code": code})),
    )
    .await
    .expect(204);

    let items = eventually(WAIT, "three MFA entries", || async {
        let r = app
            .get(
                &format!("/api/v1/admin/audit?actor={}&action=auth.mfa.", user.id),
                Some(&admin.token),
            )
            .await;
        let items = r.expect(200)["items"].as_array().cloned().unwrap();
        (items.len() >= 3).then_some(items)
    })
    .await;
    assert_eq!(
        actions(&items),
        [
            "auth.mfa.disabled",
            "auth.mfa.backup_codes_regenerated",
            "auth.mfa.enabled"
        ]
    );
    for e in &items {
        assert_eq!(e["target_id"], user.id.to_string(), "{e}");
    }
    let text = serde_json::to_string(&items).unwrap();
    assert!(!text.contains(&secret) && !text.contains(&code));
    for c in serde_json::from_str::<Vec<String>>(&first_codes).unwrap() {
        assert!(!text.contains(&c), "no backup code in {text}");
    }
    app.stop().await;
}
