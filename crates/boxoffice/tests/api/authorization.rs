//! The authorization matrix: every operation of the OpenAPI document, called as each
//! kind of caller, answers the status its row states. An operation missing from the
//! table fails the test, so a new route cannot ship without its row.
use crate::on_both_backends;
use crate::support::{eventually, rfc3339, Backend, Resp, TestApp, User, PASSWORD};
use boxoffice::accounts::Principal;
use boxoffice::clock::Clock;
use boxoffice::store::{
    DeadLetterRecord, DeadLetterStatus, EmailStatus, NotificationRecord, OutboxEvent,
};
use boxoffice_domain::account::Role;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// Callers, in the order of the columns of [`MATRIX`].
const CALLERS: [&str; 9] = [
    "anonymous",
    "buyer",
    "other organization's owner",
    "box office",
    "manager",
    "owner",
    "admin",
    "read API key",
    "write API key",
];

/// Expected status per caller (columns as in [`CALLERS`]).
#[rustfmt::skip]
const MATRIX: &[(&str, [u16; 9])] = &[
    // Accounts: public entry points, then the signed-in account's own.
    ("registerAccount", [201, 201, 201, 201, 201, 201, 201, 201, 201]),
    ("logIn", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("refreshTokens", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("logOut", [204, 204, 204, 204, 204, 204, 204, 204, 204]),
    ("getMe", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("updateMe", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("exportMyData", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    // Sent with a wrong password: who passes authentication, without erasing them.
    ("eraseMe", [401, 422, 422, 422, 422, 422, 422, 401, 401]),
    // A fresh account per call.
    ("eraseUser", [401, 403, 403, 403, 403, 403, 204, 401, 401]),
    ("listUsers", [401, 403, 403, 403, 403, 403, 200, 401, 401]),
    ("getUser", [401, 403, 403, 403, 403, 403, 200, 401, 401]),
    ("changeUserRole", [401, 403, 403, 403, 403, 403, 200, 401, 401]),
    ("createBuyers", [401, 403, 403, 403, 403, 403, 201, 401, 401]),
    ("requestEmailVerification", [401, 202, 202, 202, 202, 202, 202, 401, 401]),
    ("verifyEmail", [422, 422, 422, 422, 422, 422, 422, 422, 422]),
    ("forgotPassword", [202, 202, 202, 202, 202, 202, 202, 202, 202]),
    ("resetPassword", [422, 422, 422, 422, 422, 422, 422, 422, 422]),
    ("changePassword", [401, 204, 204, 204, 204, 204, 204, 401, 401]),
    ("listSessions", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("revokeOtherSessions", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("revokeSession", [401, 404, 404, 404, 404, 404, 404, 401, 401]),
    // Second factor: each account's own; wrong codes are refused on their field.
    ("logInMfa", [401, 401, 401, 401, 401, 401, 401, 401, 401]),
    ("getMfaStatus", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("startTotpEnrolment", [401, 201, 201, 201, 201, 201, 201, 401, 401]),
    ("confirmTotp", [401, 422, 422, 422, 422, 422, 422, 401, 401]),
    ("disableTotp", [401, 409, 409, 409, 409, 409, 409, 401, 401]),
    ("regenerateBackupCodes", [401, 409, 409, 409, 409, 409, 409, 401, 401]),
    ("listTrustedDevices", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("revokeTrustedDevices", [401, 204, 204, 204, 204, 204, 204, 401, 401]),
    ("revokeTrustedDevice", [401, 404, 404, 404, 404, 404, 404, 401, 401]),
    // The audit log: admins.
    ("listAuditEntries", [401, 403, 403, 403, 403, 403, 200, 401, 401]),
    // Dead letters of the outbox consumers: admins.
    ("listDeadLetters", [401, 403, 403, 403, 403, 403, 200, 401, 401]),
    ("getDeadLetter", [401, 403, 403, 403, 403, 403, 200, 401, 401]),
    ("replayDeadLetter", [401, 403, 403, 403, 403, 403, 200, 401, 401]),
    ("discardDeadLetter", [401, 403, 403, 403, 403, 403, 200, 401, 401]),
    // Notifications: each account's own (the one marked read is the buyer's).
    ("listNotifications", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("markNotificationRead", [401, 200, 404, 404, 404, 404, 404, 401, 401]),
    ("markAllNotificationsRead", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    // Catalog: public reads, writes by the organization's catalog managers.
    ("listEvents", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("getEvent", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("listShows", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("getShow", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("listZones", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("createEvent", [401, 403, 403, 403, 201, 201, 201, 403, 201]),
    ("updateEvent", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("deleteEvent", [401, 403, 403, 403, 204, 204, 204, 403, 204]),
    ("createShow", [401, 403, 403, 403, 201, 201, 201, 403, 201]),
    ("updateShow", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("deleteShow", [401, 403, 403, 403, 204, 204, 204, 403, 204]),
    ("createZone", [401, 403, 403, 403, 201, 201, 201, 403, 201]),
    ("updateZone", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("deleteZone", [401, 403, 403, 403, 204, 204, 204, 403, 204]),
    // Bookings: any account buys; a booking is its buyer's (and admins').
    ("reserveTickets", [401, 201, 201, 201, 201, 201, 201, 401, 401]),
    ("listBookings", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("listPendingBookings", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("getBooking", [401, 200, 403, 403, 403, 403, 200, 401, 401]),
    // With online payment on, a buyer's paid hold is confirmed by its payment.
    ("confirmBooking", [401, 409, 403, 403, 403, 403, 200, 401, 401]),
    ("cancelBooking", [401, 200, 403, 403, 403, 403, 200, 401, 401]),
    ("getSales", [401, 403, 403, 200, 200, 200, 200, 200, 200]),
    // Seating: layouts and seat maps by catalog managers; the live map is public.
    ("createLayout", [401, 403, 403, 403, 201, 201, 201, 403, 201]),
    ("getLayout", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("setShowSeating", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("getShowSeating", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("getSeatStatus", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("getSeatMapSvg", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    // Payments: the buyer's own money; refunds decided by who manages the show.
    ("checkoutBooking", [401, 202, 403, 403, 403, 403, 202, 401, 401]),
    ("getBookingPayments", [401, 200, 403, 403, 403, 403, 200, 401, 401]),
    ("requestRefund", [401, 202, 403, 403, 403, 403, 202, 401, 401]),
    ("approveRefund", [401, 403, 403, 403, 200, 200, 200, 401, 401]),
    ("rejectRefund", [401, 403, 403, 403, 200, 200, 200, 401, 401]),
    ("listShowRefunds", [401, 403, 403, 200, 200, 200, 200, 200, 200]),
    ("getRefundPolicy", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("setRefundPolicy", [401, 403, 403, 403, 200, 200, 200, 401, 401]),
    // Signed by the provider, never by a caller's token: unsigned is refused.
    ("receivePaymentWebhook", [401, 401, 401, 401, 401, 401, 401, 401, 401]),
    // Organizations.
    ("listMyOrganizations", [401, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("createOrganization", [401, 403, 201, 403, 403, 201, 201, 401, 401]),
    ("listAllOrganizations", [401, 403, 403, 403, 403, 403, 200, 401, 401]),
    ("getOrganization", [401, 403, 403, 200, 200, 200, 200, 200, 200]),
    ("renameOrganization", [401, 403, 403, 403, 403, 200, 200, 403, 403]),
    ("listMembers", [401, 403, 403, 200, 200, 200, 200, 200, 200]),
    ("changeMemberRole", [401, 403, 403, 403, 403, 200, 200, 403, 403]),
    ("removeMember", [401, 403, 403, 403, 403, 204, 204, 403, 403]),
    ("listInvitations", [401, 403, 403, 403, 403, 200, 200, 403, 403]),
    ("inviteMember", [401, 403, 403, 403, 403, 201, 201, 403, 403]),
    ("revokeInvitation", [401, 403, 403, 403, 403, 204, 204, 403, 403]),
    ("acceptInvitation", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("listApiKeys", [401, 403, 403, 403, 200, 200, 200, 403, 403]),
    ("createApiKey", [401, 403, 403, 403, 201, 201, 201, 403, 403]),
    ("revokeApiKey", [401, 403, 403, 403, 204, 204, 204, 403, 403]),
    ("listOrganizationAudit", [401, 403, 403, 403, 403, 200, 200, 403, 403]),
    // Webhooks: owners, managers, admins and write API keys.
    ("listWebhooks", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("createWebhook", [401, 403, 403, 403, 201, 201, 201, 403, 201]),
    ("getWebhook", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("updateWebhook", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("deleteWebhook", [401, 403, 403, 403, 204, 204, 204, 403, 204]),
    ("rotateWebhookSecret", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("listWebhookDeliveries", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("getWebhookDelivery", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("redeliverWebhookDelivery", [401, 403, 403, 403, 202, 202, 202, 403, 202]),
    ("pingWebhook", [401, 403, 403, 403, 202, 202, 202, 403, 202]),
    // Tickets: the holder's own; the organization's staff see them; the door scans.
    ("listMyTickets", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("getTicket", [401, 200, 403, 200, 200, 200, 200, 401, 401]),
    ("getTicketQr", [401, 200, 403, 200, 200, 200, 200, 401, 401]),
    ("listBookingTickets", [401, 200, 403, 200, 200, 200, 200, 401, 401]),
    ("getBookingTicketsPdf", [401, 200, 403, 200, 200, 200, 200, 401, 401]),
    ("transferTicket", [401, 200, 403, 403, 403, 403, 200, 401, 401]),
    ("getTicketPolicy", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("setTicketPolicy", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("scanTicket", [401, 403, 403, 200, 200, 200, 200, 200, 200]),
    ("listCheckinLists", [401, 403, 403, 200, 200, 200, 200, 200, 200]),
    ("createCheckinList", [401, 403, 403, 403, 201, 201, 201, 403, 201]),
    ("getOfflineCheckinList", [401, 403, 403, 200, 200, 200, 200, 200, 200]),
    ("syncCheckinList", [401, 403, 403, 200, 200, 200, 200, 200, 200]),
    ("getShowAttendance", [401, 403, 403, 200, 200, 200, 200, 200, 200]),
    // Waiting room: public views, buyers' places (accounts only), organizers' steering.
    ("getQueue", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("configureQueue", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("steerQueue", [401, 403, 403, 403, 200, 200, 200, 403, 200]),
    ("joinQueue", [401, 201, 201, 201, 201, 201, 201, 401, 401]),
    ("getQueueStatus", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("followQueue", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    ("leaveQueue", [401, 200, 200, 200, 200, 200, 200, 401, 401]),
    // Drawn at opening; a FIFO queue has no draw to publish.
    ("getQueueDraw", [409, 409, 409, 409, 409, 409, 409, 409, 409]),
    ("getQueueStats", [401, 403, 403, 200, 200, 200, 200, 200, 200]),
    ("revokeQueuePass", [401, 403, 403, 403, 204, 204, 204, 403, 204]),
    // Published keys.
    ("getSigningKeys", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("getJwks", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    // Probes.
    ("liveness", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("readiness", [200, 200, 200, 200, 200, 200, 200, 200, 200]),
];

/// The callers and the organization they are judged against.
struct World {
    callers: Vec<Option<Caller>>,
    owner: User,
    buyer: User,
    org: String,
}

#[derive(Clone)]
struct Caller {
    token: String,
    /// The account behind the token (none for API keys).
    user: Option<User>,
}

/// What one call acts on: created fresh for every call, so a call never meets
/// what an earlier one deleted or changed.
#[derive(Default)]
struct Target {
    event: String,
    show: String,
    zone: String,
    booking: String,
    member: String,
    invitation: String,
    key: String,
    refund: String,
    webhook: String,
    delivery: String,
    letter: String,
    notification: String,
    ticket: String,
    list: String,
    layout: String,
    pass: String,
    /// An id that names nothing the caller has.
    unknown: String,
    body: Option<Value>,
}

async fn token_of(app: &TestApp, user: &User) -> Caller {
    Caller {
        token: app.token_for(user),
        user: Some(user.clone()),
    }
}

async fn world(app: &TestApp) -> World {
    let owner = app.organizer().await;
    let org = app
        .get("/api/v1/organizations", Some(&owner.token))
        .await
        .expect(200)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let buyer = app.buyer().await;
    let outsider = app.organizer().await;
    let door = app.buyer().await;
    let manager = app.buyer().await;
    let admin = app.admin().await;
    app.join(&owner, &org, &door, "box_office").await;
    app.join(&owner, &org, &manager, "manager").await;
    let key = |scope: &'static str| {
        let (org, token) = (org.clone(), owner.token.clone());
        async move {
            let r = app
                .post(
                    &format!("/api/v1/organizations/{org}/api-keys"),
                    Some(&token),
                    &json!({"name": format!("{scope} matrix key"), "scope": scope}),
                )
                .await;
            Caller {
                token: r.expect(201)["token"].as_str().unwrap().to_owned(),
                user: None,
            }
        }
    };
    let read = key("read").await;
    let write = key("write").await;
    let mut callers = vec![None];
    for u in [&buyer, &outsider, &door, &manager, &owner, &admin] {
        callers.push(Some(token_of(app, u).await));
    }
    callers.push(Some(read));
    callers.push(Some(write));
    World {
        callers,
        owner,
        buyer,
        org,
    }
}

/// Sets up what `op` acts on, as the organization's owner and the buyer.
async fn target(app: &TestApp, w: &World, op: &str, caller: Option<&Caller>) -> Target {
    let mut t = Target {
        unknown: uuid::Uuid::new_v4().to_string(),
        ..Target::default()
    };
    let owner = app.token_for(&w.owner);
    let event = app
        .create_event(
            &owner,
            &json!({"title": "Matrix Night", "category": "concert", "city": "Lyon", "organization_id": w.org}),
        )
        .await;
    t.event = event["id"].as_str().unwrap().to_owned();
    let show = app
        .create_show(
            &owner,
            &t.event,
            &json!({"venue": "Hall", "starts_at": rfc3339(app.clock.now().plus_secs(30 * 24 * 3600)),
                    "zones": [{"name": "Floor", "price_minor": 2500, "currency": "EUR", "capacity": 50}]}),
        )
        .await;
    t.show = show["id"].as_str().unwrap().to_owned();
    t.zone = show["zones"][0]["id"].as_str().unwrap().to_owned();
    let show_body = json!({"venue": "Hall Two", "starts_at": rfc3339(app.clock.now().plus_secs(40 * 24 * 3600))});
    let zone_body =
        json!({"name": "Balcony", "price_minor": 1500, "currency": "EUR", "capacity": 20});
    let org = w.org.clone();
    let layout_body = json!({"organization_id": org, "name": "Matrix Hall",
        "rows": [{"section": "Floor", "row": "A", "first": 1, "count": 5, "x": 0, "y": 10, "category": "S"}]});
    let seating_body = |layout: &str, zone: &str| json!({"layout_id": layout, "categories": [{"category": "S", "zone_id": zone}]});
    if op.contains("Queue") && op != "configureQueue" {
        // Passthrough admits at once, so a followed place ends its stream.
        let method = match op {
            "followQueue" | "revokeQueuePass" => "passthrough",
            _ => "fifo",
        };
        app.put(
            &format!("/api/v1/shows/{}/queue", t.show),
            Some(&owner),
            &json!({"method": method, "opens_at": rfc3339(app.clock.now()), "admission": "automatic"}),
        )
        .await
        .expect(200);
        let account = caller.and_then(|c| c.user.as_ref().map(|_| c.token.clone()));
        if let (Some(token), true) = (
            account,
            matches!(op, "getQueueStatus" | "followQueue" | "leaveQueue"),
        ) {
            let path = format!("/api/v1/shows/{}/queue/join", t.show);
            app.post(&path, Some(&token), &json!({})).await.expect(201);
        }
        if op == "revokeQueuePass" {
            let path = format!("/api/v1/shows/{}/queue/join", t.show);
            let r = app
                .post(&path, Some(&app.token_for(&w.buyer)), &json!({}))
                .await;
            let pass = r.expect(201)["pass"].as_str().unwrap().to_owned();
            let payload = pass.split('.').nth(1).unwrap();
            let claims: Value =
                serde_json::from_slice(&boxoffice::signing::b64url_decode(payload).unwrap())
                    .unwrap();
            t.pass = claims["jti"].as_str().unwrap().to_owned();
        }
    }
    match op {
        "getLayout" | "setShowSeating" | "getShowSeating" | "getSeatStatus" | "getSeatMapSvg" => {
            let r = app
                .post("/api/v1/layouts", Some(&owner), &layout_body)
                .await;
            t.layout = r.expect(201)["id"].as_str().unwrap().to_owned();
            if op == "setShowSeating" {
                t.body = Some(seating_body(&t.layout, &t.zone));
            } else if op != "getLayout" {
                app.put(
                    &format!("/api/v1/shows/{}/seating", t.show),
                    Some(&owner),
                    &seating_body(&t.layout, &t.zone),
                )
                .await
                .expect(200);
            }
        }
        "getBooking" | "confirmBooking" | "cancelBooking" => {
            let r = app
                .post(
                    "/api/v1/bookings/reserve",
                    Some(&app.token_for(&w.buyer)),
                    &json!({"show_id": t.show, "zone_id": t.zone, "quantity": 1}),
                )
                .await;
            t.booking = r.expect(201)["id"].as_str().unwrap().to_owned();
        }
        "checkoutBooking" => {
            t.booking = buyer_holds(app, w, &t).await;
            t.body = Some(json!({"payment_method": "pm_card_ok"}));
        }
        "getBookingPayments" | "requestRefund" => {
            t.booking = buyer_pays(app, w, &t.show, &t.zone).await;
        }
        "approveRefund" | "rejectRefund" => {
            // Two hours before the show: outside the default policy, so it waits.
            let soon = app
                .create_show(
                    &owner,
                    &t.event,
                    &json!({"venue": "Hall", "starts_at": rfc3339(app.clock.now().plus_secs(2 * 3600)),
                            "zones": [{"name": "Floor", "price_minor": 2500, "currency": "EUR", "capacity": 5}]}),
                )
                .await;
            let (show, zone) = (
                soon["id"].as_str().unwrap(),
                soon["zones"][0]["id"].as_str().unwrap(),
            );
            let booking = buyer_pays(app, w, show, zone).await;
            let r = app
                .post(
                    &format!("/api/v1/bookings/{booking}/refund"),
                    Some(&app.token_for(&w.buyer)),
                    &json!({}),
                )
                .await;
            assert_eq!(r.expect(202)["status"], "requested");
            t.refund = r.body["id"].as_str().unwrap().to_owned();
            if op == "approveRefund" {
                t.body = Some(json!({"percent": 50}));
            }
        }
        "setRefundPolicy" => {
            t.body = Some(json!({"tiers": [{"min_hours_before": 24, "percent": 100}]}));
        }
        "getTicket"
        | "getTicketQr"
        | "listBookingTickets"
        | "getBookingTicketsPdf"
        | "transferTicket"
        | "scanTicket" => {
            t.booking = buyer_pays(app, w, &t.show, &t.zone).await;
            let ticket = first_ticket(app, w, &t.booking).await;
            t.ticket = ticket["id"].as_str().unwrap().to_owned();
            if op == "transferTicket" {
                t.body = Some(json!({"to_email": app.buyer().await.email}));
            } else if op == "scanTicket" {
                t.body = Some(json!({"show_id": t.show, "gate": "matrix", "qr": ticket["qr"]}));
            }
        }
        "getOfflineCheckinList" | "syncCheckinList" => {
            let r = app
                .post(
                    &format!("/api/v1/shows/{}/checkin-lists", t.show),
                    Some(&owner),
                    &json!({"name": "Matrix entrance", "zone_ids": []}),
                )
                .await;
            t.list = r.expect(201)["id"].as_str().unwrap().to_owned();
            if op == "syncCheckinList" {
                t.body = Some(json!({"gate": "matrix", "scans": []}));
            }
        }
        "changeMemberRole" | "removeMember" => {
            let member = app.buyer().await;
            app.join(&w.owner, &org, &member, "box_office").await;
            t.member = member.id.to_string();
            t.body = Some(json!({"role": "manager"}));
        }
        "eraseUser" | "getUser" => {
            t.member = app.buyer().await.id.to_string();
        }
        "changeUserRole" => {
            t.member = app.buyer().await.id.to_string();
            t.body = Some(json!({"role": "organizer"}));
        }
        "getDeadLetter" | "replayDeadLetter" | "discardDeadLetter" => {
            // An audit entry the projection failed to write: replaying it succeeds.
            let now = app.clock.now();
            let letter = DeadLetterRecord {
                id: uuid::Uuid::now_v7().to_string(),
                consumer: "audit".into(),
                event: OutboxEvent {
                    seq: 1,
                    id: uuid::Uuid::now_v7().to_string(),
                    event_type: "booking.reserved".into(),
                    aggregate_id: uuid::Uuid::now_v7().to_string(),
                    payload: json!({"user_id": w.buyer.id, "show_id": t.show, "zone_id": t.zone, "quantity": 1}),
                    created_at: now,
                    trace_context: None,
                },
                last_error: "the audit store was unavailable".into(),
                attempts: 5,
                first_failed_at: now,
                last_failed_at: now,
                status: DeadLetterStatus::Open,
                resolved_at: None,
            };
            app.state.store.bury(&letter).await.unwrap();
            t.letter = letter.id;
        }
        "markNotificationRead" => {
            let record = NotificationRecord {
                id: uuid::Uuid::now_v7().to_string(),
                user_id: w.buyer.id,
                event_id: uuid::Uuid::now_v7().to_string(),
                kind: "booking.confirmed".into(),
                title: "Booking confirmed: Matrix Night".into(),
                body: "1 × Floor".into(),
                detail: json!({}),
                email_status: EmailStatus::Sent,
                emailed_at: Some(app.clock.now()),
                created_at: app.clock.now(),
                read_at: None,
            };
            t.notification = app.state.store.put_notification(&record).await.unwrap().id;
        }
        "revokeInvitation" => {
            let r = app
                .post(
                    &format!("/api/v1/organizations/{org}/invitations"),
                    Some(&owner),
                    &json!({"email": "someone@example.com", "role": "manager"}),
                )
                .await;
            t.invitation = r.expect(201)["id"].as_str().unwrap().to_owned();
        }
        "acceptInvitation" => {
            // Into an organization of its own, so the callers' roles in the one
            // judged stay as they are.
            let email = caller
                .and_then(|c| c.user.as_ref())
                .map_or("nobody@example.com".to_owned(), |u| u.email.clone());
            let scratch = app
                .post(
                    "/api/v1/organizations",
                    Some(&owner),
                    &json!({"name": "Scratch"}),
                )
                .await;
            let scratch = scratch.expect(201)["id"].as_str().unwrap().to_owned();
            let invitation = app
                .state
                .organizations
                .invite(
                    Principal::user(w.owner.id, Role::Organizer),
                    scratch.parse().unwrap(),
                    &email,
                    "box_office",
                )
                .await
                .unwrap();
            t.body = Some(json!({"token": invitation.token}));
        }
        "revokeApiKey" => {
            let r = app
                .post(
                    &format!("/api/v1/organizations/{org}/api-keys"),
                    Some(&owner),
                    &json!({"name": "to revoke", "scope": "read"}),
                )
                .await;
            t.key = r.expect(201)["key"]["id"].as_str().unwrap().to_owned();
        }
        "getWebhook"
        | "updateWebhook"
        | "deleteWebhook"
        | "rotateWebhookSecret"
        | "listWebhookDeliveries"
        | "getWebhookDelivery"
        | "redeliverWebhookDelivery"
        | "pingWebhook" => {
            let r = app
                .post(
                    &format!("/api/v1/organizations/{org}/webhooks"),
                    Some(&owner),
                    &json!({"url": "http://127.0.0.1:9/matrix", "event_types": ["booking.confirmed"]}),
                )
                .await;
            t.webhook = r.expect(201)["webhook"]["id"].as_str().unwrap().to_owned();
            let r = app
                .post(
                    &format!("/api/v1/organizations/{org}/webhooks/{}/ping", t.webhook),
                    Some(&owner),
                    &json!({}),
                )
                .await;
            t.delivery = r.expect(202)["id"].as_str().unwrap().to_owned();
        }
        "refreshTokens" | "logOut" => {
            let r = app
                .post(
                    "/api/v1/auth/login",
                    None,
                    &json!({"email": w.buyer.email, "password": PASSWORD}),
                )
                .await;
            t.body = Some(json!({"refresh_token": r.expect(200)["refresh_token"]}));
        }
        _ => {}
    }
    t.body = t.body.or(match op {
        "registerAccount" => Some(json!({
            "email": format!("new-{}@example.com", uuid::Uuid::new_v4().simple()),
            "password": PASSWORD, "display_name": "New Person"})),
        "logIn" => Some(json!({"email": w.buyer.email, "password": PASSWORD})),
        "verifyEmail" => Some(json!({"token": "Zm9yLWV4YW1wbGUtb25seS1ub3QtYS1yZWFsLXRva2U"})),
        "forgotPassword" => Some(json!({"email": w.buyer.email})),
        "resetPassword" => Some(json!({
            "token": "Zm9yLWV4YW1wbGUtb25seS1ub3QtYS1yZWFsLXRva2U",
            "password": PASSWORD})),
        // The same password again: later calls still sign in with it.
        "changePassword" => Some(json!({"current_password": PASSWORD, "new_password": PASSWORD})),
        "logInMfa" => Some(json!({"mfa_token": "not-a-challenge", "code": "123456"})),
        "confirmTotp" | "regenerateBackupCodes" => Some(json!({"code": "123456"})),
        "disableTotp" => Some(json!({"password": PASSWORD, "code": "123456"})),
        "updateMe" => Some(json!({"display_name": "Renamed"})),
        "eraseMe" => Some(json!({"password": "not the password"})),
        "createBuyers" => Some(json!({"count": 1, "prefix": "matrix", "password": PASSWORD})),
        "createEvent" => Some(
            json!({"title": "New", "category": "concert", "city": "Lyon", "organization_id": org}),
        ),
        "updateEvent" => Some(json!({"title": "Renamed", "category": "concert", "city": "Lyon"})),
        "createShow" | "updateShow" => Some(show_body),
        "createZone" | "updateZone" => Some(zone_body),
        "reserveTickets" => Some(json!({"show_id": t.show, "zone_id": t.zone, "quantity": 1})),
        "createLayout" => Some(layout_body),
        "configureQueue" => Some(
            json!({"method": "fifo", "opens_at": rfc3339(app.clock.now()), "admission": "automatic"}),
        ),
        "steerQueue" => Some(json!({"action": "pause"})),
        "createOrganization" | "renameOrganization" => Some(json!({"name": "Matrix Org"})),
        "inviteMember" => Some(json!({"email": "invitee@example.com", "role": "box_office"})),
        "createApiKey" => Some(json!({"name": "matrix", "scope": "read"})),
        "createWebhook" => {
            Some(json!({"url": "http://127.0.0.1:9/matrix", "event_types": ["booking.confirmed"]}))
        }
        "updateWebhook" => Some(json!({"enabled": false})),
        "setTicketPolicy" => Some(json!({"transfers_allowed": false})),
        "createCheckinList" => Some(json!({"name": "Balcony entrance", "zone_ids": [t.zone]})),
        _ => None,
    });
    t
}

/// A hold of the world's buyer on the target's show.
async fn buyer_holds(app: &TestApp, w: &World, t: &Target) -> String {
    let r = app
        .post(
            "/api/v1/bookings/reserve",
            Some(&app.token_for(&w.buyer)),
            &json!({"show_id": t.show, "zone_id": t.zone, "quantity": 1}),
        )
        .await;
    r.expect(201)["id"].as_str().unwrap().to_owned()
}

/// A booking of the world's buyer, paid and confirmed through the provider.
async fn buyer_pays(app: &TestApp, w: &World, show: &str, zone: &str) -> String {
    let token = app.token_for(&w.buyer);
    let r = app
        .post(
            "/api/v1/bookings/reserve",
            Some(&token),
            &json!({"show_id": show, "zone_id": zone, "quantity": 1}),
        )
        .await;
    let booking = r.expect(201)["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/bookings/{booking}/checkout"),
        Some(&token),
        &json!({"payment_method": "pm_card_ok"}),
    )
    .await
    .expect(202);
    eventually(
        Duration::from_secs(15),
        "the payment to confirm the booking",
        || async {
            let r = app
                .get(&format!("/api/v1/bookings/{booking}"), Some(&token))
                .await;
            (r.body["status"] == "confirmed").then_some(())
        },
    )
    .await;
    booking
}

/// The first ticket of a confirmed booking of the world's buyer, once issued.
async fn first_ticket(app: &TestApp, w: &World, booking: &str) -> Value {
    let token = app.token_for(&w.buyer);
    eventually(
        Duration::from_secs(15),
        "the tickets to be issued",
        || async {
            let r = app
                .get(&format!("/api/v1/bookings/{booking}/tickets"), Some(&token))
                .await;
            r.body.as_array().and_then(|l| l.first().cloned())
        },
    )
    .await
}

/// The concrete path of a templated one, with the target's ids.
fn fill(path: &str, org: &str, t: &Target) -> String {
    let id = if path.starts_with("/api/v1/organizations/") {
        org
    } else if path.starts_with("/api/v1/events/") {
        &t.event
    } else if path.starts_with("/api/v1/shows/") {
        &t.show
    } else if path.starts_with("/api/v1/bookings/") {
        &t.booking
    } else if path.starts_with("/api/v1/refunds/") {
        &t.refund
    } else if path.starts_with("/api/v1/admin/dead-letters/") {
        &t.letter
    } else if path.starts_with("/api/v1/notifications/") {
        &t.notification
    } else if path.starts_with("/api/v1/tickets/") {
        &t.ticket
    } else if path.starts_with("/api/v1/checkin-lists/") {
        &t.list
    } else if path.starts_with("/api/v1/layouts/") {
        &t.layout
    } else {
        // Someone else's or nobody's: sessions and trusted devices.
        &t.unknown
    };
    path.replace("{id}", id)
        .replace("{zone_id}", &t.zone)
        .replace("{user_id}", &t.member)
        .replace("{invitation_id}", &t.invitation)
        .replace("{key_id}", &t.key)
        .replace("{webhook_id}", &t.webhook)
        .replace("{delivery_id}", &t.delivery)
        .replace("{pass_id}", &t.pass)
}

on_both_backends!(every_operation_answers_each_caller_as_the_matrix_says);
async fn every_operation_answers_each_caller_as_the_matrix_says(backend: Backend) {
    let (app, _provider) =
        TestApp::spawn_with_gateway(backend, paysim::SimulatorKnobs::default(), |_| {}).await;
    let doc = app
        .get("/api/v1/openapi.json", None)
        .await
        .expect(200)
        .clone();
    let mut documented = BTreeSet::new();
    let mut calls = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap().to_owned();
            documented.insert(id.clone());
            calls.push((method.to_uppercase(), path.clone(), id));
        }
    }
    let listed: BTreeSet<String> = MATRIX.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(
        documented, listed,
        "the matrix lists exactly the documented operations"
    );
    let w = world(&app).await;
    let mut wrong = Vec::new();
    for (method, path, id) in &calls {
        let expected = MATRIX.iter().find(|(op, _)| op == id).unwrap().1;
        for (column, caller) in w.callers.iter().enumerate() {
            let t = target(&app, &w, id, caller.as_ref()).await;
            let r: Resp = app
                .send(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &fill(path, &w.org, &t),
                    caller.as_ref().map(|c| c.token.as_str()),
                    t.body.as_ref(),
                )
                .await;
            if r.status.as_u16() != expected[column] {
                wrong.push(format!(
                    "{id} as {}: {} (expected {}): {}",
                    CALLERS[column],
                    r.status.as_u16(),
                    expected[column],
                    r.text
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} calls answered otherwise:\n{}",
        wrong.len(),
        calls.len() * CALLERS.len(),
        wrong.join("\n")
    );
    app.stop().await;
}
