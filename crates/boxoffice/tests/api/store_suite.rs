//! The store ports, called directly on the SQL adapter: the very same test bodies run
//! against SQLite and PostgreSQL.
use crate::on_both_backends;
use crate::support::{Backend, TestDb};
use boxoffice::store::{
    AccountStore, AttemptRecord, BookingQuery, BookingRecord, BookingStore, BookingWrite,
    CatalogStore, Conflict, Deadline, DeliveryRecord, DeliveryStatus, EventFilter, EventRecord,
    IdempotencyClaim, IdempotencyStore, MembershipRecord, OrganizationRecord, OrganizationStore,
    Page, RefreshRecord, SettingsStore, ShowRecord, SqlStore, StoreError, UserRecord,
    WebhookRecord, WebhookStore, WriteOutcome, ZoneRecord,
};
use boxoffice_domain::account::{Email, Role};
use boxoffice_domain::booking::{BookingAction, BookingStatus};
use boxoffice_domain::catalog::{EventDetails, ShowDetails, ZoneDetails};
use boxoffice_domain::ids::{DeliveryId, WebhookId};
use boxoffice_domain::organization::MemberRole;
use boxoffice_domain::{BookingId, EventId, OrganizationId, ShowId, Timestamp, UserId, ZoneId};

pub(crate) const T0: i64 = 1_900_000_000_000;
pub(crate) const HOUR: i64 = 3_600_000;

pub(crate) fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + ms)
}

pub(crate) async fn store(backend: Backend) -> (SqlStore, TestDb) {
    let db = TestDb::create(backend).await;
    let store = SqlStore::connect(&db.url, 4, Default::default())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    // Migrating twice is a no-op.
    store.migrate().await.expect("migrate again");
    (store, db)
}

pub(crate) fn user(email: &str, role: Role) -> UserRecord {
    UserRecord {
        id: UserId::new(),
        email: Email::parse(email).unwrap(),
        password_hash: "$argon2id$not-a-real-hash".into(),
        display_name: format!("User {email}"),
        role,
        email_verified_at: None,
        created_at: at(0),
        updated_at: at(0),
    }
}

/// The organization of an organizer: same id, owned by them.
fn org_of(organizer: UserId) -> OrganizationId {
    OrganizationId::from_uuid(*organizer.as_uuid())
}

/// Gives each organizer an organization of their own.
pub(crate) async fn organizations(s: &SqlStore, organizers: &[&UserRecord]) {
    for u in organizers {
        let org = OrganizationRecord {
            id: org_of(u.id),
            name: u.display_name.clone(),
            created_at: at(0),
            updated_at: at(0),
        };
        let owner = MembershipRecord {
            organization_id: org.id,
            user_id: u.id,
            role: MemberRole::Owner,
            created_at: at(0),
            updated_at: at(0),
        };
        s.insert_organization(&org, &owner).await.unwrap();
    }
}

pub(crate) fn event(
    organizer: UserId,
    title: &str,
    category: &str,
    city: &str,
    n: i64,
) -> EventRecord {
    EventRecord {
        id: EventId::new(),
        organization_id: org_of(organizer),
        organizer_id: organizer,
        details: EventDetails::parse(title, "", category, city).unwrap(),
        created_at: at(n),
        updated_at: at(n),
    }
}

pub(crate) fn show(event: EventId, starts: Timestamp) -> ShowRecord {
    ShowRecord {
        id: ShowId::new(),
        event_id: event,
        details: ShowDetails {
            venue: "Arena".into(),
            starts_at: starts,
            sale_opens_at: at(0),
            sale_closes_at: starts,
            hold_ttl_secs: 600,
            per_user_limit: 6,
        },
        created_at: at(0),
        updated_at: at(0),
    }
}

pub(crate) fn zone(show: ShowId, name: &str, capacity: i64) -> ZoneRecord {
    ZoneRecord {
        id: ZoneId::new(),
        show_id: show,
        details: ZoneDetails::parse(name, 2_500, "EUR", capacity).unwrap(),
        created_at: at(0),
        updated_at: at(0),
    }
}

pub(crate) fn booking(
    user: UserId,
    zone: &ZoneRecord,
    quantity: u32,
    expires: Timestamp,
) -> BookingRecord {
    BookingRecord {
        id: BookingId::new(),
        user_id: user,
        show_id: zone.show_id,
        zone_id: zone.id,
        quantity,
        unit_price: zone.details.price,
        total: zone.details.price.times(quantity).unwrap(),
        status: BookingStatus::Held,
        expires_at: expires,
        created_at: at(0),
        updated_at: at(0),
    }
}

async fn users_and_refresh_tokens(backend: Backend) {
    let (s, _db) = store(backend).await;
    let ana = user("ana@example.com", Role::Buyer);
    let olga = user("olga@example.com", Role::Organizer);
    s.insert_users(&[ana.clone(), olga.clone()]).await.unwrap();
    assert_eq!(s.count_users().await.unwrap(), 2);
    let found = s.user_by_email(&ana.email).await.unwrap();
    assert_eq!((found.id, found.role), (ana.id, Role::Buyer));
    assert_eq!(s.user(olga.id).await.unwrap().email, olga.email);
    assert!(matches!(
        s.user(UserId::new()).await,
        Err(StoreError::NotFound)
    ));

    // A duplicate email conflicts, and a batch containing one inserts nothing.
    let dup = user("ana@example.com", Role::Organizer);
    assert!(matches!(
        s.insert_users(std::slice::from_ref(&dup)).await,
        Err(StoreError::Conflict(Conflict::EmailTaken))
    ));
    let newcomer = user("new@example.com", Role::Buyer);
    assert!(matches!(
        s.insert_users(&[newcomer.clone(), dup]).await,
        Err(StoreError::Conflict(Conflict::EmailTaken))
    ));
    assert_eq!(s.count_users().await.unwrap(), 2);

    // Updating to a taken email conflicts too.
    let mut renamed = olga.clone();
    renamed.email = ana.email.clone();
    assert!(matches!(
        s.update_user(&renamed).await,
        Err(StoreError::Conflict(Conflict::EmailTaken))
    ));
    renamed.email = Email::parse("olga@new.example.com").unwrap();
    renamed.display_name = "Olga N.".into();
    s.update_user(&renamed).await.unwrap();
    assert_eq!(s.user(olga.id).await.unwrap().display_name, "Olga N.");

    let token = |hash: &str, family: &str| RefreshRecord {
        token_hash: hash.into(),
        user_id: ana.id,
        family_id: family.into(),
        expires_at: at(HOUR),
        created_at: at(0),
        used_at: None,
        revoked_at: None,
    };
    s.insert_refresh(&token("h1", "fam-a")).await.unwrap();
    s.insert_refresh(&token("h2", "fam-a")).await.unwrap();
    s.insert_refresh(&token("h3", "fam-b")).await.unwrap();
    assert!(s.spend_refresh("h1", at(10)).await.unwrap());
    assert!(
        !s.spend_refresh("h1", at(20)).await.unwrap(),
        "spent once only"
    );
    assert_eq!(s.refresh("h1").await.unwrap().used_at, Some(at(10)));
    s.revoke_refresh_family("fam-a", at(30)).await.unwrap();
    let h2 = s.refresh("h2").await.unwrap();
    assert_eq!(h2.revoked_at, Some(at(30)));
    assert!(!s.spend_refresh("h2", at(40)).await.unwrap(), "revoked");
    assert_eq!(s.refresh("h3").await.unwrap().revoked_at, None);
    assert!(s.spend_refresh("h3", at(40)).await.unwrap());
    assert!(matches!(s.refresh("nope").await, Err(StoreError::NotFound)));

    // Settings keep their first value.
    assert_eq!(s.setting("k").await.unwrap(), None);
    assert_eq!(s.init_setting("k", "first").await.unwrap(), "first");
    assert_eq!(s.init_setting("k", "second").await.unwrap(), "first");
    s.ping().await.unwrap();
    s.close().await;
}

async fn events_filters_pagination_and_bundles(backend: Backend) {
    let (s, _db) = store(backend).await;
    let org = user("olga@example.com", Role::Organizer);
    let other = user("otto@example.com", Role::Organizer);
    s.insert_users(&[org.clone(), other.clone()]).await.unwrap();
    organizations(&s, &[&org, &other]).await;
    let events = [
        event(org.id, "Aurora Live", "concert", "Lisbon", 1),
        event(org.id, "City Derby", "sports", "Madrid", 2),
        event(org.id, "Jazz_Trio", "concert", "Paris", 3),
        event(other.id, "Stand-up Night", "comedy", "Paris", 4),
        event(other.id, "Rock Fest", "festival", "LISBON", 5),
    ];
    for e in &events {
        s.insert_event(e).await.unwrap();
    }
    let starts = [10, 40, 20, 60];
    let mut shows = Vec::new();
    for (e, days) in events.iter().zip(starts) {
        let sh = show(e.id, at(days * 24 * HOUR));
        s.insert_show(&sh).await.unwrap();
        shows.push(sh);
    }

    let list = |filter: EventFilter, page: u32, per_page: u32| {
        let s = s.clone();
        async move {
            let (found, total) = s
                .list_events(&filter, Page { page, per_page })
                .await
                .unwrap();
            (
                found
                    .into_iter()
                    .map(|e| e.details.title)
                    .collect::<Vec<_>>(),
                total,
            )
        }
    };
    let (all, total) = list(EventFilter::default(), 1, 10).await;
    assert_eq!(total, 5);
    assert_eq!(
        all,
        [
            "Rock Fest",
            "Stand-up Night",
            "Jazz_Trio",
            "City Derby",
            "Aurora Live"
        ],
        "newest first"
    );
    assert_eq!(
        list(EventFilter::default(), 2, 2).await,
        (vec!["Jazz_Trio".to_string(), "City Derby".into()], 5)
    );
    assert_eq!(
        list(EventFilter::default(), 3, 2).await,
        (vec!["Aurora Live".to_string()], 5)
    );
    assert_eq!(list(EventFilter::default(), 4, 2).await, (vec![], 5));

    let cases: Vec<(EventFilter, Vec<&str>)> = vec![
        (
            EventFilter {
                text: Some("jazz".into()),
                ..Default::default()
            },
            vec!["Jazz_Trio"],
        ),
        (
            // `_` is literal, not "any character".
            EventFilter {
                text: Some("z_t".into()),
                ..Default::default()
            },
            vec!["Jazz_Trio"],
        ),
        (
            EventFilter {
                text: Some("_".into()),
                ..Default::default()
            },
            vec!["Jazz_Trio"],
        ),
        (
            EventFilter {
                category: Some("concert".into()),
                ..Default::default()
            },
            vec!["Jazz_Trio", "Aurora Live"],
        ),
        (
            EventFilter {
                city: Some("lisbon".into()),
                ..Default::default()
            },
            vec!["Rock Fest", "Aurora Live"],
        ),
        (
            EventFilter {
                organization: Some(org_of(other.id)),
                ..Default::default()
            },
            vec!["Rock Fest", "Stand-up Night"],
        ),
        (
            EventFilter {
                from: Some(at(15 * 24 * HOUR)),
                to: Some(at(50 * 24 * HOUR)),
                ..Default::default()
            },
            vec!["Jazz_Trio", "City Derby"],
        ),
        (
            EventFilter {
                from: Some(at(20 * 24 * HOUR)),
                ..Default::default()
            },
            vec!["Stand-up Night", "Jazz_Trio", "City Derby"],
        ),
        (
            EventFilter {
                category: Some("concert".into()),
                city: Some("Paris".into()),
                from: Some(at(0)),
                ..Default::default()
            },
            vec!["Jazz_Trio"],
        ),
    ];
    for (filter, expected) in cases {
        let (found, total) = list(filter.clone(), 1, 10).await;
        assert_eq!(found, expected, "{filter:?}");
        assert_eq!(total, expected.len() as i64, "{filter:?}");
    }

    // Events update and delete; a missing one is NotFound.
    let mut renamed = events[0].clone();
    renamed.details.title = "Aurora Live II".into();
    s.update_event(&renamed).await.unwrap();
    assert_eq!(
        s.event(renamed.id).await.unwrap().details.title,
        "Aurora Live II"
    );
    assert!(matches!(
        s.update_event(&event(org.id, "Ghost", "other", "Nowhere", 9))
            .await,
        Err(StoreError::NotFound)
    ));

    // Bundles: a show with its zones and its event's owner.
    let floor = zone(shows[0].id, "Floor", 100);
    let balcony = zone(shows[0].id, "Balcony", 40);
    s.insert_zone(&floor).await.unwrap();
    s.insert_zone(&balcony).await.unwrap();
    s.insert_zone(&zone(shows[3].id, "Hall", 10)).await.unwrap();
    assert!(matches!(
        s.insert_zone(&zone(shows[0].id, "Floor", 5)).await,
        Err(StoreError::Conflict(Conflict::ZoneNameTaken))
    ));
    let bundle = s.show_bundle(shows[0].id).await.unwrap();
    assert_eq!(bundle.organization_id, org_of(org.id));
    assert_eq!(bundle.show.details, shows[0].details);
    let mut names: Vec<_> = bundle
        .zones
        .iter()
        .map(|z| z.details.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["Balcony", "Floor"]);
    let all = s.all_show_bundles().await.unwrap();
    assert_eq!(all.len(), 4);
    let zones: usize = all.iter().map(|b| b.zones.len()).sum();
    assert_eq!(zones, 3);
    assert_eq!(
        all.iter()
            .find(|b| b.show.id == shows[3].id)
            .unwrap()
            .organization_id,
        org_of(other.id)
    );
    assert_eq!(s.shows_of_event(events[0].id).await.unwrap().len(), 1);

    let mut bigger = floor.clone();
    bigger.details.capacity = 150;
    s.update_zone(&bigger).await.unwrap();
    let bundle = s.show_bundle(shows[0].id).await.unwrap();
    assert_eq!(bundle.zone(floor.id).unwrap().details.capacity, 150);
    s.delete_zone(balcony.id).await.unwrap();
    assert_eq!(s.show_bundle(shows[0].id).await.unwrap().zones.len(), 1);
    assert!(!s.show_has_bookings(shows[0].id).await.unwrap());

    // Deleting an event takes its shows and zones along.
    s.delete_event(events[3].id).await.unwrap();
    assert!(matches!(
        s.event(events[3].id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.show_bundle(shows[3].id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.all_show_bundles().await.unwrap().len(), 3);
    assert!(matches!(
        s.delete_show(ShowId::new()).await,
        Err(StoreError::NotFound)
    ));
    s.close().await;
}

async fn booking_batches_transitions_and_outbox(backend: Backend) {
    let (s, _db) = store(backend).await;
    let org = user("olga@example.com", Role::Organizer);
    let ana = user("ana@example.com", Role::Buyer);
    let bruno = user("bruno@example.com", Role::Buyer);
    s.insert_users(&[org.clone(), ana.clone(), bruno.clone()])
        .await
        .unwrap();
    organizations(&s, &[&org]).await;
    let e = event(org.id, "Night", "concert", "Lyon", 0);
    s.insert_event(&e).await.unwrap();
    let sh = show(e.id, at(30 * 24 * HOUR));
    s.insert_show(&sh).await.unwrap();
    let floor = zone(sh.id, "Floor", 100);
    let balcony = zone(sh.id, "Balcony", 50);
    s.insert_zone(&floor).await.unwrap();
    s.insert_zone(&balcony).await.unwrap();

    let deadline = at(10 * 60 * 1000);
    let a = booking(ana.id, &floor, 2, deadline);
    let b = booking(ana.id, &floor, 3, deadline);
    let c = booking(bruno.id, &balcony, 4, deadline);
    let d = booking(bruno.id, &floor, 1, deadline);
    let outcomes = s
        .apply(&[
            BookingWrite::Hold(a.clone()),
            BookingWrite::Hold(b.clone()),
            BookingWrite::Hold(c.clone()),
            BookingWrite::Hold(d.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 4);
    assert!(outcomes.iter().all(|o| matches!(o, WriteOutcome::Held)));
    let outbox = s.outbox_after(0, 100).await.unwrap();
    assert_eq!(outbox.len(), 4);
    assert!(outbox.iter().all(|o| o.event_type == "booking.reserved"));
    let ids: Vec<String> = outbox.iter().map(|o| o.aggregate_id.clone()).collect();
    assert_eq!(
        ids,
        [a.id, b.id, c.id, d.id].map(|i| i.to_string()).to_vec()
    );
    assert_eq!(outbox[0].payload["quantity"], 2);
    assert!(s.show_has_bookings(sh.id).await.unwrap());
    assert_eq!(s.booking(a.id).await.unwrap().status, BookingStatus::Held);

    let before = at(60_000);
    let after = deadline.plus_millis(1);
    let transition = |id, action, at, deadline| BookingWrite::Transition {
        id,
        action,
        at,
        deadline,
        owner: None,
    };
    let outcomes = s
        .apply(&[
            // Before its deadline: confirms.
            transition(a.id, BookingAction::Confirm, before, Deadline::NotPassed),
            // Late: a confirm is skipped, and expiry applies.
            transition(b.id, BookingAction::Confirm, after, Deadline::NotPassed),
            transition(b.id, BookingAction::Expire, after, Deadline::Passed),
            // Expiry before the deadline does nothing; cancelling always works.
            transition(c.id, BookingAction::Expire, before, Deadline::Passed),
            transition(c.id, BookingAction::Cancel, before, Deadline::Any),
            // Final states stay final.
            transition(a.id, BookingAction::Cancel, before, Deadline::Any),
            transition(
                BookingId::new(),
                BookingAction::Cancel,
                before,
                Deadline::Any,
            ),
            // Only its owner's transition applies: Bruno's hold is not Ana's to confirm.
            BookingWrite::Transition {
                id: d.id,
                action: BookingAction::Confirm,
                at: before,
                deadline: Deadline::NotPassed,
                owner: Some(ana.id),
            },
            // Named twice in one batch: the first write that asked gets the outcome.
            transition(
                a.id,
                BookingAction::Confirm,
                before.plus_millis(1),
                Deadline::NotPassed,
            ),
        ])
        .await
        .unwrap();
    let applied = |o: &WriteOutcome| match o {
        WriteOutcome::Applied(b) => Some((b.id, b.status, b.updated_at)),
        _ => None,
    };
    assert_eq!(
        applied(&outcomes[0]),
        Some((a.id, BookingStatus::Confirmed, before))
    );
    assert!(matches!(outcomes[1], WriteOutcome::Skipped));
    assert_eq!(
        applied(&outcomes[2]),
        Some((b.id, BookingStatus::Expired, after))
    );
    assert!(matches!(outcomes[3], WriteOutcome::Skipped));
    assert_eq!(
        applied(&outcomes[4]),
        Some((c.id, BookingStatus::Cancelled, before))
    );
    assert!(matches!(outcomes[5], WriteOutcome::Skipped));
    assert!(matches!(outcomes[6], WriteOutcome::Skipped));
    assert!(matches!(outcomes[7], WriteOutcome::Skipped));
    assert!(matches!(outcomes[8], WriteOutcome::Skipped));

    let outbox = s.outbox_after(4, 100).await.unwrap();
    let events: Vec<(String, String)> = outbox
        .iter()
        .map(|o| (o.event_type.clone(), o.aggregate_id.clone()))
        .collect();
    assert_eq!(
        events,
        [
            ("booking.confirmed", a.id),
            ("booking.expired", b.id),
            ("booking.cancelled", c.id),
        ]
        .map(|(t, id)| (t.to_string(), id.to_string()))
        .to_vec(),
        "one event per applied transition, none for skipped ones"
    );
    assert!(outbox[0].seq > 4);
    assert_eq!(s.outbox_after(0, 2).await.unwrap().len(), 2);

    // Live bookings and tallies follow the record.
    let mut live: Vec<_> = s
        .live_bookings()
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.id, b.status))
        .collect();
    live.sort_by_key(|(id, _)| *id);
    let mut expected = vec![
        (a.id, BookingStatus::Confirmed),
        (d.id, BookingStatus::Held),
    ];
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(live, expected);
    let tallies = s.show_tallies(sh.id).await.unwrap();
    let floor_tally = tallies.zones.iter().find(|z| z.0 == floor.id).unwrap();
    assert_eq!((floor_tally.1, floor_tally.2), (1, 2));
    let balcony_tally = tallies.zones.iter().find(|z| z.0 == balcony.id);
    assert!(balcony_tally.is_none_or(|z| (z.1, z.2) == (0, 0)));
    assert_eq!(tallies.max_per_buyer, 2);
    // The start-up snapshot agrees with the tallies, counting sold tickets in SQL.
    let snapshot = s.inventory_snapshot().await.unwrap();
    let floor_snapshot = snapshot.zones.iter().find(|z| z.0 == floor.id).unwrap();
    assert_eq!((floor_snapshot.1, floor_snapshot.2), (1, 2));
    assert_eq!(snapshot.buyers.iter().map(|b| b.2).max(), Some(2));
    assert!(snapshot
        .pending
        .iter()
        .all(|b| b.status == BookingStatus::Held));
    assert_eq!(
        snapshot.pending.len(),
        live.iter()
            .filter(|(_, st)| *st == BookingStatus::Held)
            .count()
    );

    // A failing write rolls back the whole batch, outbox included.
    let ok = booking(bruno.id, &floor, 1, deadline);
    let orphan = booking(bruno.id, &zone(sh.id, "Ghost", 5), 1, deadline);
    assert!(s
        .apply(&[
            BookingWrite::Hold(ok.clone()),
            BookingWrite::Hold(orphan),
            transition(d.id, BookingAction::Confirm, before, Deadline::NotPassed),
        ])
        .await
        .is_err());
    assert!(matches!(s.booking(ok.id).await, Err(StoreError::NotFound)));
    assert_eq!(s.booking(d.id).await.unwrap().status, BookingStatus::Held);
    assert_eq!(s.outbox_after(0, 100).await.unwrap().len(), 7);

    // Listings per user and status, newest first, paged.
    let (mine, total) = s
        .list_bookings(
            &BookingQuery {
                user: Some(ana.id),
                statuses: vec![],
            },
            Page {
                page: 1,
                per_page: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((mine.len(), total), (1, 2));
    let (held, total) = s
        .list_bookings(
            &BookingQuery {
                user: None,
                statuses: vec![BookingStatus::Held, BookingStatus::Cancelled],
            },
            Page {
                page: 1,
                per_page: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 2);
    let mut held: Vec<_> = held.into_iter().map(|b| b.id).collect();
    held.sort();
    let mut expected = vec![c.id, d.id];
    expected.sort();
    assert_eq!(held, expected);

    // The same change asked twice in one batch applies once: only the first write
    // is told it applied, so the caller moves the counters once.
    let twice = s
        .apply(&[
            transition(d.id, BookingAction::Confirm, before, Deadline::NotPassed),
            transition(d.id, BookingAction::Confirm, before, Deadline::NotPassed),
        ])
        .await
        .unwrap();
    assert_eq!(
        applied(&twice[0]),
        Some((d.id, BookingStatus::Confirmed, before))
    );
    assert!(matches!(twice[1], WriteOutcome::Skipped));
    let confirmed_events = s
        .outbox_after(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "booking.confirmed" && e.aggregate_id == d.id.to_string())
        .count();
    assert_eq!(confirmed_events, 1);
    s.close().await;
}

async fn idempotency_keys(backend: Backend) {
    let (s, _db) = store(backend).await;
    let now = at(0);
    let expires = at(HOUR);
    assert_eq!(
        s.claim_key("u1", "k1", "fp-a", now, expires, at(-HOUR))
            .await
            .unwrap(),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        s.claim_key("u1", "k1", "fp-b", now, expires, at(-HOUR))
            .await
            .unwrap(),
        IdempotencyClaim::InFlight {
            fingerprint: "fp-a".into()
        }
    );
    // Another caller's key of the same name is independent.
    assert_eq!(
        s.claim_key("u2", "k1", "fp-c", now, expires, at(-HOUR))
            .await
            .unwrap(),
        IdempotencyClaim::Claimed
    );
    s.complete_key("u1", "k1", 201, "application/json", r#"{"id":1}"#)
        .await
        .unwrap();
    assert_eq!(
        s.claim_key("u1", "k1", "fp-a", now, expires, at(-HOUR))
            .await
            .unwrap(),
        IdempotencyClaim::Done {
            fingerprint: "fp-a".into(),
            status: 201,
            content_type: "application/json".into(),
            body: r#"{"id":1}"#.into(),
        }
    );
    // Abandoning releases only unfinished keys.
    s.abandon_key("u1", "k1").await.unwrap();
    assert!(matches!(
        s.claim_key("u1", "k1", "fp-a", now, expires, at(-HOUR))
            .await
            .unwrap(),
        IdempotencyClaim::Done { .. }
    ));
    s.abandon_key("u2", "k1").await.unwrap();
    assert_eq!(
        s.claim_key("u2", "k1", "fp-d", now, expires, at(-HOUR))
            .await
            .unwrap(),
        IdempotencyClaim::Claimed
    );
    assert!(matches!(
        s.complete_key("u9", "missing", 200, "text/plain", "").await,
        Err(StoreError::NotFound)
    ));

    // Purging removes expired keys only; an expired key is claimable afresh.
    s.claim_key("u3", "k9", "fp-e", now, at(10 * HOUR), at(-HOUR))
        .await
        .unwrap();
    assert_eq!(s.purge_keys(at(HOUR - 1)).await.unwrap(), 0);
    assert_eq!(s.purge_keys(at(HOUR)).await.unwrap(), 2);
    assert!(matches!(
        s.claim_key("u3", "k9", "fp-x", at(HOUR), at(2 * HOUR), at(-HOUR))
            .await
            .unwrap(),
        IdempotencyClaim::InFlight { .. }
    ));
    // A claim its process never finished is taken over once its lease is over.
    assert!(matches!(
        s.claim_key("u3", "k9", "fp-x", at(HOUR), at(2 * HOUR), at(0))
            .await
            .unwrap(),
        IdempotencyClaim::InFlight { .. }
    ));
    assert_eq!(
        s.claim_key("u3", "k9", "fp-x", at(HOUR), at(2 * HOUR), at(1))
            .await
            .unwrap(),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        s.claim_key("u1", "k1", "fp-z", at(HOUR), at(2 * HOUR), at(-HOUR))
            .await
            .unwrap(),
        IdempotencyClaim::Claimed
    );
    s.claim_key("u4", "k4", "fp-f", now, at(1), at(-HOUR))
        .await
        .unwrap();
    assert_eq!(
        s.claim_key("u4", "k4", "fp-g", at(2), at(HOUR), at(-HOUR))
            .await
            .unwrap(),
        IdempotencyClaim::Claimed,
        "a stale key is forgotten on claim"
    );
    s.close().await;
}

/// Every kind of constraint violation the store knows, provoked for real: each reads
/// as the same neutral conflict on both backends, and none names the schema.
async fn constraint_violations_are_typed(backend: Backend) {
    let (s, _db) = store(backend).await;
    let conflict = |r: Result<(), StoreError>| match r {
        Err(StoreError::Conflict(c)) => {
            let shown = StoreError::Conflict(c).to_string();
            for word in [
                "users",
                "zones",
                "bookings",
                "_key",
                "pkey",
                "fkey",
                "constraint",
            ] {
                assert!(!shown.contains(word), "{shown} names the schema");
            }
            c
        }
        other => panic!("expected a conflict, got {other:?}"),
    };
    let org = user("olga@example.com", Role::Organizer);
    let ana = user("ana@example.com", Role::Buyer);
    s.insert_users(&[org.clone(), ana.clone()]).await.unwrap();
    organizations(&s, &[&org]).await;

    // Unique keys.
    let mut twin = user("twin@example.com", Role::Buyer);
    twin.id = ana.id;
    assert_eq!(
        conflict(s.insert_users(&[twin]).await),
        Conflict::Duplicate { what: "user" }
    );
    assert_eq!(
        conflict(
            s.insert_users(&[user("ana@example.com", Role::Buyer)])
                .await
        ),
        Conflict::EmailTaken
    );
    let e = event(org.id, "Night", "concert", "Lyon", 0);
    s.insert_event(&e).await.unwrap();
    let sh = show(e.id, at(30 * 24 * HOUR));
    s.insert_show(&sh).await.unwrap();
    let floor = zone(sh.id, "Floor", 100);
    let mut balcony = zone(sh.id, "Balcony", 50);
    s.insert_zone(&floor).await.unwrap();
    s.insert_zone(&balcony).await.unwrap();
    balcony.details.name = "Floor".into();
    assert_eq!(
        conflict(s.update_zone(&balcony).await),
        Conflict::ZoneNameTaken
    );
    let held = booking(ana.id, &floor, 2, at(HOUR));
    s.apply(&[BookingWrite::Hold(held.clone())]).await.unwrap();
    assert_eq!(
        conflict(s.apply(&[BookingWrite::Hold(held.clone())]).await.map(drop)),
        Conflict::Duplicate { what: "booking" }
    );

    // References to nothing name what is missing.
    // Events refer to an organization and an account, both missing here: SQLite
    // cannot tell which, PostgreSQL names the first it checks.
    let ghost = event(UserId::new(), "Ghost", "other", "Nowhere", 1);
    assert!(matches!(
        conflict(s.insert_event(&ghost).await),
        Conflict::UnknownReference {
            what: "organization" | "user" | "referenced record"
        }
    ));
    assert_eq!(
        conflict(s.insert_show(&show(EventId::new(), at(HOUR))).await),
        Conflict::UnknownReference { what: "event" }
    );
    assert_eq!(
        conflict(s.insert_zone(&zone(ShowId::new(), "Pit", 5)).await),
        Conflict::UnknownReference { what: "show" }
    );
    let orphan = booking(ana.id, &zone(sh.id, "Ghost", 5), 1, at(HOUR));
    let missing = conflict(s.apply(&[BookingWrite::Hold(orphan)]).await.map(drop));
    // Bookings have three foreign keys; only PostgreSQL says which one broke.
    let expected = match backend {
        Backend::Postgres | Backend::Redis => "zone",
        Backend::Sqlite => "referenced record",
    };
    assert_eq!(missing, Conflict::UnknownReference { what: expected });
    let mut stray = RefreshRecord {
        token_hash: "h1".into(),
        user_id: UserId::new(),
        family_id: "fam".into(),
        expires_at: at(HOUR),
        created_at: at(0),
        used_at: None,
        revoked_at: None,
    };
    assert_eq!(
        conflict(s.insert_refresh(&stray).await),
        Conflict::UnknownReference { what: "user" }
    );
    stray.user_id = ana.id;
    s.insert_refresh(&stray).await.unwrap();
    assert_eq!(
        conflict(s.insert_refresh(&stray).await),
        Conflict::Duplicate {
            what: "refresh token"
        }
    );

    // Records still referenced cannot be deleted, and stay.
    assert_eq!(
        conflict(s.delete_zone(floor.id).await),
        Conflict::Referenced { what: "zone" }
    );
    assert_eq!(
        conflict(s.delete_show(sh.id).await),
        Conflict::Referenced { what: "show" }
    );
    assert_eq!(
        conflict(s.delete_event(e.id).await),
        Conflict::Referenced { what: "event" }
    );
    let bundle = s.show_bundle(sh.id).await.unwrap();
    assert_eq!(bundle.zones.len(), 2);
    assert_eq!(
        s.booking(held.id).await.unwrap().status,
        BookingStatus::Held
    );
    s.close().await;
}

fn webhook(org: OrganizationId, enabled: bool, n: i64) -> WebhookRecord {
    WebhookRecord {
        id: WebhookId::new(),
        organization_id: org,
        url: format!("https://hooks.example.com/{n}"),
        description: String::new(),
        event_types: vec!["booking.reserved".into(), "booking.confirmed".into()],
        enabled,
        secret_sealed: "v1:c2VhbGVk".into(),
        previous_secret_sealed: None,
        previous_expires_at: None,
        created_at: at(n),
        updated_at: at(n),
    }
}

fn delivery(endpoint: WebhookId, event: &str, due: Timestamp) -> DeliveryRecord {
    DeliveryRecord {
        id: DeliveryId::new(),
        endpoint_id: endpoint,
        event_id: event.into(),
        event_type: "booking.confirmed".into(),
        payload: serde_json::json!({"show_id": "s1", "quantity": 2}),
        event_created_at: at(0),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: Some(due),
        first_attempt_at: None,
        last_attempt_at: None,
        last_status: None,
        last_error: None,
        delivered_at: None,
        created_at: at(0),
    }
}

async fn webhook_endpoints_deliveries_and_attempts(backend: Backend) {
    let (s, _db) = store(backend).await;
    let owner = user("hooks@example.com", Role::Organizer);
    s.insert_users(std::slice::from_ref(&owner)).await.unwrap();
    organizations(&s, &[&owner]).await;
    let org = org_of(owner.id);
    let live = webhook(org, true, 1);
    let paused = webhook(org, false, 2);
    s.insert_webhook(&live).await.unwrap();
    s.insert_webhook(&paused).await.unwrap();
    let orphan = webhook(OrganizationId::new(), true, 3);
    assert!(matches!(
        s.insert_webhook(&orphan).await,
        Err(StoreError::Conflict(Conflict::UnknownReference {
            what: "organization"
        }))
    ));
    let listed = s.webhooks_of(org).await.unwrap();
    assert_eq!(
        listed.iter().map(|w| w.id).collect::<Vec<_>>(),
        [live.id, paused.id]
    );
    assert_eq!(listed[0].event_types, live.event_types);
    assert!(listed[0].enabled && !listed[1].enabled);
    let enabled = s.enabled_webhooks().await.unwrap();
    assert_eq!(enabled.iter().map(|w| w.id).collect::<Vec<_>>(), [live.id]);

    // One delivery per endpoint and event, however often the fan-out replays.
    let first = [
        delivery(live.id, "e1", at(10)),
        delivery(live.id, "e2", at(20)),
        delivery(paused.id, "e1", at(10)),
    ];
    assert_eq!(s.insert_deliveries(&first).await.unwrap(), 3);
    let replay = [
        delivery(live.id, "e1", at(10)),
        delivery(live.id, "e3", at(5 * HOUR)),
    ];
    assert_eq!(s.insert_deliveries(&replay).await.unwrap(), 1);
    assert_eq!(s.insert_deliveries(&[]).await.unwrap(), 0);

    // Due: pending, at or before now, to enabled endpoints, most overdue first.
    let due = s.due_deliveries(at(20), 10).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|(d, _)| d.event_id.as_str())
            .collect::<Vec<_>>(),
        ["e1", "e2"]
    );
    assert!(due
        .iter()
        .all(|(d, w)| w.id == live.id && d.endpoint_id == live.id));
    assert_eq!(due[0].1.url, live.url);
    assert_eq!(due[0].0.payload["quantity"], 2);
    assert_eq!(s.due_deliveries(at(20), 1).await.unwrap().len(), 1);

    // An attempt is logged with the delivery's new state, once.
    let mut after = due[0].0.clone();
    after.attempts = 1;
    after.first_attempt_at = Some(at(20));
    after.last_attempt_at = Some(at(20));
    after.last_status = Some(503);
    after.last_error = Some("answered 503".into());
    after.next_attempt_at = Some(at(30));
    let attempt = AttemptRecord {
        delivery_id: after.id,
        attempt: 1,
        at: at(20),
        response_status: Some(503),
        duration_ms: 12,
        error: Some("answered 503".into()),
    };
    assert!(s.record_attempt(&after, &attempt).await.unwrap());
    assert!(
        !s.record_attempt(&after, &attempt).await.unwrap(),
        "the same attempt is not recorded twice"
    );
    assert_eq!(s.delivery(after.id).await.unwrap(), after);
    assert_eq!(
        s.attempts_of(after.id).await.unwrap(),
        std::slice::from_ref(&attempt)
    );
    let due = s.due_deliveries(at(25), 10).await.unwrap();
    assert_eq!(due.len(), 1, "e1 waits for its retry");
    assert_eq!(due[0].0.event_id, "e2");

    let mut delivered = after.clone();
    delivered.attempts = 2;
    delivered.status = DeliveryStatus::Delivered;
    delivered.next_attempt_at = None;
    delivered.delivered_at = Some(at(30));
    delivered.last_status = Some(200);
    delivered.last_error = None;
    let second = AttemptRecord {
        attempt: 2,
        at: at(30),
        response_status: Some(200),
        error: None,
        ..attempt.clone()
    };
    assert!(s.record_attempt(&delivered, &second).await.unwrap());
    assert_eq!(s.attempts_of(after.id).await.unwrap().len(), 2);
    assert!(s
        .due_deliveries(at(HOUR), 10)
        .await
        .unwrap()
        .iter()
        .all(|(d, _)| d.id != after.id));

    // Redelivery: pending again, due now, a fresh window.
    s.redeliver(after.id, at(40)).await.unwrap();
    let again = s.delivery(after.id).await.unwrap();
    assert_eq!(again.status, DeliveryStatus::Pending);
    assert_eq!(again.next_attempt_at, Some(at(40)));
    assert_eq!((again.first_attempt_at, again.delivered_at), (None, None));
    assert_eq!(again.attempts, 2, "the count goes on");
    assert!(matches!(
        s.redeliver(DeliveryId::new(), at(40)).await,
        Err(StoreError::NotFound)
    ));

    // The log, newest first, paged.
    let (page, total) = s
        .deliveries_of(
            live.id,
            Page {
                page: 1,
                per_page: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 3);
    assert_eq!(page.len(), 2);

    // Changes and rotation; enabling makes its deliveries due.
    let mut changed = paused.clone();
    changed.enabled = true;
    changed.previous_secret_sealed = Some("v1:b2xk".into());
    changed.previous_expires_at = Some(at(HOUR));
    changed.updated_at = at(50);
    s.update_webhook(&changed).await.unwrap();
    let read = s.webhook(paused.id).await.unwrap();
    assert!(read.enabled);
    assert_eq!(read.previous_secret_sealed.as_deref(), Some("v1:b2xk"));
    assert_eq!(read.previous_expires_at, Some(at(HOUR)));
    assert!(s
        .due_deliveries(at(HOUR), 10)
        .await
        .unwrap()
        .iter()
        .any(|(_, w)| w.id == paused.id));
    let mut elsewhere = changed.clone();
    elsewhere.organization_id = OrganizationId::new();
    assert!(matches!(
        s.update_webhook(&elsewhere).await,
        Err(StoreError::NotFound)
    ));

    // A claim takes a due delivery once, until its lease ends.
    let fresh = delivery(paused.id, "e9", at(60));
    s.insert_deliveries(std::slice::from_ref(&fresh))
        .await
        .unwrap();
    let ids = [fresh.id, DeliveryId::new()];
    assert_eq!(
        s.claim_deliveries(&ids, at(59), at(90)).await.unwrap(),
        [] as [DeliveryId; 0]
    );
    assert_eq!(
        s.claim_deliveries(&ids, at(60), at(90)).await.unwrap(),
        [fresh.id]
    );
    assert!(s
        .claim_deliveries(&ids, at(61), at(95))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.delivery(fresh.id).await.unwrap().next_attempt_at,
        Some(at(90))
    );
    assert!(s
        .due_deliveries(at(89), 10)
        .await
        .unwrap()
        .iter()
        .all(|(d, _)| d.id != fresh.id));
    assert_eq!(
        s.claim_deliveries(&ids, at(90), at(120)).await.unwrap(),
        [fresh.id]
    );
    assert!(s
        .claim_deliveries(&[], at(90), at(120))
        .await
        .unwrap()
        .is_empty());

    // Deleting an endpoint takes its deliveries and attempts along.
    assert!(!s
        .delete_webhook(OrganizationId::new(), live.id)
        .await
        .unwrap());
    assert!(s.delete_webhook(org, live.id).await.unwrap());
    assert!(matches!(
        s.webhook(live.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delivery(after.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.attempts_of(after.id).await.unwrap().is_empty());
    s.close().await;
}

on_both_backends!(
    constraint_violations_are_typed,
    users_and_refresh_tokens,
    events_filters_pagination_and_bundles,
    booking_batches_transitions_and_outbox,
    idempotency_keys,
    webhook_endpoints_deliveries_and_attempts
);

fn event_at(seq: i64) -> boxoffice::store::OutboxEvent {
    boxoffice::store::OutboxEvent {
        seq,
        id: uuid::Uuid::now_v7().to_string(),
        event_type: "booking.confirmed".into(),
        aggregate_id: BookingId::new().to_string(),
        payload: serde_json::json!({"quantity": 2, "note": "ünïcode"}),
        created_at: at(seq),
        trace_context: None,
    }
}

on_both_backends!(
    retries_and_dead_letters,
    notifications_once_per_event_and_user
);

async fn retries_and_dead_letters(backend: Backend) {
    use boxoffice::store::{
        DeadLetterFilter, DeadLetterRecord, DeadLetterStatus, OutboxUpkeepStore, RetryRecord,
    };
    let (s, _db) = store(backend).await;
    // Written under a trace: its retries and its dead letter keep the link to it.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let event = boxoffice::store::OutboxEvent {
        trace_context: Some(traceparent.into()),
        ..event_at(7)
    };
    let mut retry = RetryRecord {
        consumer: "c1".into(),
        event: event.clone(),
        attempts: 1,
        first_failed_at: at(10),
        last_failed_at: at(10),
        next_attempt_at: at(1_000),
        last_error: "first".into(),
    };
    s.put_retry(&retry).await.unwrap();
    assert!(s.due_retries("c1", at(999), 10).await.unwrap().is_empty());
    retry.attempts = 2;
    retry.last_error = "second".into();
    retry.next_attempt_at = at(500);
    s.put_retry(&retry).await.unwrap();
    let due = s.due_retries("c1", at(500), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].attempts, due[0].last_error.as_str()), (2, "second"));
    assert_eq!(due[0].first_failed_at, at(10), "the first failure is kept");
    assert_eq!(due[0].event.payload, event.payload);
    assert_eq!(due[0].event.trace_context.as_deref(), Some(traceparent));
    assert!(s.due_retries("c2", at(500), 10).await.unwrap().is_empty());

    let mut letter = DeadLetterRecord {
        id: uuid::Uuid::now_v7().to_string(),
        consumer: "c1".into(),
        event: event.clone(),
        last_error: "third".into(),
        attempts: 3,
        first_failed_at: at(10),
        last_failed_at: at(600),
        status: DeadLetterStatus::Open,
        resolved_at: None,
    };
    s.bury(&letter).await.unwrap();
    assert!(
        s.retry_of("c1", &event.id).await.unwrap().is_none(),
        "buried with its retry"
    );
    let stored = s.dead_letter(&letter.id).await.unwrap();
    assert_eq!((stored.attempts, stored.event.seq), (3, 7));
    assert_eq!(stored.event.trace_context.as_deref(), Some(traceparent));
    let page = Page {
        page: 1,
        per_page: 10,
    };
    let open = DeadLetterFilter {
        consumer: Some("c1".into()),
        status: Some(DeadLetterStatus::Open),
    };
    assert_eq!(s.dead_letters(&open, page).await.unwrap().1, 1);
    letter.status = DeadLetterStatus::Replayed;
    letter.resolved_at = Some(at(700));
    assert!(s.update_open_letter(&letter).await.unwrap());
    assert!(
        !s.update_open_letter(&letter).await.unwrap(),
        "resolved once"
    );
    assert_eq!(s.dead_letters(&open, page).await.unwrap().1, 0);
    assert_eq!(
        s.dead_letters(&DeadLetterFilter::default(), page)
            .await
            .unwrap()
            .1,
        1
    );
    assert_eq!(
        s.prune_dead_letters(at(700), 10).await.unwrap(),
        0,
        "not before its time"
    );
    assert_eq!(s.prune_dead_letters(at(701), 10).await.unwrap(), 1);
    assert!(matches!(
        s.dead_letter(&letter.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn notifications_once_per_event_and_user(backend: Backend) {
    use boxoffice::store::{EmailStatus, NotificationRecord, NotificationStore};
    let (s, _db) = store(backend).await;
    let ana = user("ana@example.com", Role::Buyer);
    let bo = user("bo@example.com", Role::Buyer);
    s.insert_users(&[ana.clone(), bo.clone()]).await.unwrap();
    let note = |user: UserId, event: &str, minute: i64| NotificationRecord {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user,
        event_id: event.into(),
        kind: "booking.confirmed".into(),
        title: "Booking confirmed".into(),
        body: "2 × Floor".into(),
        detail: serde_json::json!({"total": "50.00 EUR"}),
        email_status: EmailStatus::Pending,
        emailed_at: None,
        created_at: at(minute * 60_000),
        read_at: None,
    };
    let first = s.put_notification(&note(ana.id, "e1", 1)).await.unwrap();
    let again = s.put_notification(&note(ana.id, "e1", 2)).await.unwrap();
    assert_eq!(first.id, again.id, "one per event and user");
    s.put_notification(&note(bo.id, "e1", 1)).await.unwrap();
    let second = s.put_notification(&note(ana.id, "e2", 3)).await.unwrap();
    s.set_email_status(&first.id, EmailStatus::Sent, Some(at(HOUR)))
        .await
        .unwrap();
    s.set_email_status(&second.id, EmailStatus::RateLimited, None)
        .await
        .unwrap();
    assert_eq!(s.emails_sent_since(ana.id, at(HOUR)).await.unwrap(), 1);
    assert_eq!(s.emails_sent_since(ana.id, at(HOUR + 1)).await.unwrap(), 0);
    assert_eq!(s.emails_sent_since(bo.id, at(0)).await.unwrap(), 0);
    let page = Page {
        page: 1,
        per_page: 10,
    };
    let (items, total) = s.notifications_of(ana.id, false, page).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(items[0].id, second.id, "newest first");
    assert_eq!(items[0].email_status, EmailStatus::RateLimited);
    assert!(matches!(
        s.mark_notification_read(bo.id, &first.id, at(HOUR)).await,
        Err(StoreError::NotFound)
    ));
    let read = s
        .mark_notification_read(ana.id, &first.id, at(HOUR))
        .await
        .unwrap();
    assert_eq!(read.read_at, Some(at(HOUR)));
    let reread = s
        .mark_notification_read(ana.id, &first.id, at(2 * HOUR))
        .await
        .unwrap();
    assert_eq!(reread.read_at, Some(at(HOUR)), "the first read is kept");
    assert_eq!(s.notifications_of(ana.id, true, page).await.unwrap().1, 1);
    assert_eq!(
        s.mark_all_notifications_read(ana.id, at(HOUR))
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.notifications_of(ana.id, true, page).await.unwrap().1, 0);
    assert_eq!(s.delete_notifications_of(ana.id).await.unwrap(), 2);
    assert_eq!(
        s.notifications_of(bo.id, false, page).await.unwrap().1,
        1,
        "others keep theirs"
    );
}

/// A node killed mid-commit frees the inventory lock at once, but the commit it sent
/// may still be running on another of its connections: the next owner waits for it
/// before reading the store, or its rebuilt counters would miss that commit.
#[tokio::test]
async fn a_new_inventory_owner_waits_for_transactions_begun_before_it() {
    use sqlx::Connection as _;
    let (old, db) = store(Backend::Postgres).await;
    let lock = old.claim_inventory_ownership().await.unwrap();
    // The old owner's other connection, inside a transaction it has not finished.
    let mut writer = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut writer).await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM users")
        .execute(&mut writer)
        .await
        .unwrap();
    drop(lock); // the lock's connection goes back to the pool…
    old.close().await; // …and the pool closes: the lock is free.

    let next = SqlStore::connect(&db.url, 2, Default::default())
        .await
        .unwrap();
    let claim =
        tokio::spawn(async move { next.claim_inventory_ownership().await.map(|c| c.is_some()) });
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(
        !claim.is_finished(),
        "the owner waits for the earlier transaction"
    );
    sqlx::query("COMMIT").execute(&mut writer).await.unwrap();
    let owned = tokio::time::timeout(std::time::Duration::from_secs(5), claim)
        .await
        .expect("done once it committed")
        .unwrap()
        .unwrap();
    assert!(owned);
}
