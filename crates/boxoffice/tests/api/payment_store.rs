//! The payment store on both backends: every change moves its record once, and only
//! the change that moved it writes the ledger row, the booking step and the events.
use crate::on_both_backends;
use crate::store_suite::{at, booking, event, organizations, show, store, user, zone, HOUR};
use crate::support::Backend;
use boxoffice::store::{
    AccountStore, BookingStep, BookingStore, BookingWrite, CatalogStore, Deadline, LedgerEntry,
    LedgerKind, PaymentChange, PaymentOutcome, PaymentRecord, PaymentStore, PaymentWrite,
    RefundChange, RefundRecord, ShowRecord, StoreError, UserRecord, ZoneRecord,
};
use boxoffice_domain::account::Role;
use boxoffice_domain::booking::{BookingAction, BookingStatus};
use boxoffice_domain::payment::{
    PaymentStatus, RefundPolicy, RefundReason, RefundStatus, RefundTier,
};
use boxoffice_domain::{BookingId, Money, Timestamp};

fn payment(b: &boxoffice::store::BookingRecord, attempt: u32, now: Timestamp) -> PaymentRecord {
    PaymentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        booking_id: b.id,
        user_id: b.user_id,
        show_id: b.show_id,
        attempt,
        amount: b.unit_price.times(b.quantity).unwrap(),
        payment_method: "pm_card_visa".into(),
        status: PaymentStatus::Pending,
        intent_id: None,
        failure_code: None,
        captured_at: None,
        created_at: now,
        updated_at: now,
    }
}

fn ledger(p: &PaymentRecord, kind: LedgerKind, reference: &str, amount: Money) -> LedgerEntry {
    LedgerEntry {
        id: uuid::Uuid::now_v7().to_string(),
        booking_id: p.booking_id,
        show_id: p.show_id,
        payment_id: p.id.clone(),
        refund_id: None,
        kind,
        amount,
        external_ref: reference.into(),
        at: at(0),
    }
}

fn capture(p: &PaymentRecord, intent: &str, captured: Timestamp) -> PaymentChange {
    PaymentChange {
        payment_id: p.id.clone(),
        to: PaymentStatus::Succeeded,
        at: captured,
        intent_id: Some(intent.into()),
        captured_at: Some(captured),
        failure_code: None,
        ledger: Some(ledger(p, LedgerKind::Capture, intent, p.amount)),
        booking: Some(BookingStep {
            action: BookingAction::Confirm,
            deadline: Deadline::NotPassed,
            at: captured,
        }),
    }
}

/// The provider declined `p`: the payment fails, the hold stays for another try.
fn decline(p: &PaymentRecord, when: Timestamp) -> PaymentChange {
    PaymentChange {
        payment_id: p.id.clone(),
        to: PaymentStatus::Failed,
        at: when,
        intent_id: None,
        captured_at: None,
        failure_code: Some("card_declined".into()),
        ledger: None,
        booking: Some(BookingStep {
            action: BookingAction::FailPayment,
            deadline: Deadline::Any,
            at: when,
        }),
    }
}

async fn events_of(s: &boxoffice::store::SqlStore, aggregate: &str) -> Vec<String> {
    s.outbox_after(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.aggregate_id == aggregate)
        .map(|e| e.event_type)
        .collect()
}

/// An organizer's show with a floor of 100, and a buyer, stored.
struct Sale {
    org: UserRecord,
    ana: UserRecord,
    sh: ShowRecord,
    floor: ZoneRecord,
}

async fn sale(s: &boxoffice::store::SqlStore) -> Sale {
    let org = user("olga@example.com", Role::Organizer);
    let ana = user("ana@example.com", Role::Buyer);
    s.insert_users(&[org.clone(), ana.clone()]).await.unwrap();
    organizations(s, &[&org]).await;
    let e = event(org.id, "Night", "concert", "Lyon", 0);
    s.insert_event(&e).await.unwrap();
    let sh = show(e.id, at(30 * 24 * HOUR));
    s.insert_show(&sh).await.unwrap();
    let floor = zone(sh.id, "Floor", 100);
    s.insert_zone(&floor).await.unwrap();
    Sale {
        org,
        ana,
        sh,
        floor,
    }
}

async fn payments_settle_once(backend: Backend) {
    let (s, _db) = store(backend).await;
    let Sale {
        org,
        ana,
        sh,
        floor,
    } = sale(&s).await;
    let deadline = at(10 * 60 * 1000);
    let paid = booking(ana.id, &floor, 2, deadline);
    let late = booking(ana.id, &floor, 1, deadline);
    s.apply(&[
        BookingWrite::Hold(paid.clone()),
        BookingWrite::Hold(late.clone()),
    ])
    .await
    .unwrap();

    // Starting: the booking moves to payment_pending with the payment row; a second
    // start while it is pending writes nothing.
    let p1 = payment(&paid, 1, at(1_000));
    let started = s.start_payment(&p1, at(1_000)).await.unwrap().unwrap();
    assert_eq!(started.status, BookingStatus::PaymentPending);
    let p2 = payment(&paid, 2, at(2_000));
    assert!(s.start_payment(&p2, at(2_000)).await.unwrap().is_none());
    assert!(matches!(s.payment(&p2.id).await, Err(StoreError::NotFound)));
    // Nobody else's booking, and not after the deadline.
    let mut foreign = payment(&late, 1, at(1_000));
    foreign.user_id = org.id;
    assert!(s
        .start_payment(&foreign, at(1_000))
        .await
        .unwrap()
        .is_none());
    assert!(s
        .start_payment(&payment(&late, 1, deadline), deadline)
        .await
        .unwrap()
        .is_none());

    let charge = ledger(&p1, LedgerKind::Charge, "pi_1", p1.amount);
    let processing = s
        .payment_processing(&p1.id, "pi_1", &charge, at(1_500))
        .await
        .unwrap();
    assert_eq!(processing.status, PaymentStatus::Processing);
    assert_eq!(processing.intent_id.as_deref(), Some("pi_1"));
    assert_eq!(s.payment_by_intent("pi_1").await.unwrap().id, p1.id);

    // The capture confirms the booking, once.
    let done = s
        .change_payment(&capture(&p1, "pi_1", at(5_000)))
        .await
        .unwrap();
    assert!(done.changed);
    assert_eq!(done.record.status, PaymentStatus::Succeeded);
    assert_eq!(done.booking.unwrap().status, BookingStatus::Confirmed);
    let again = s
        .change_payment(&capture(&p1, "pi_1", at(6_000)))
        .await
        .unwrap();
    assert!(!again.changed, "a duplicate webhook changes nothing");
    assert!(again.booking.is_none());
    let rows = s.ledger_of(paid.id).await.unwrap();
    let kinds: Vec<LedgerKind> = rows.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, vec![LedgerKind::Charge, LedgerKind::Capture]);
    assert_eq!(events_of(&s, &p1.id).await, vec!["payment.succeeded"]);
    let booking_events = events_of(&s, &paid.id.to_string()).await;
    assert_eq!(
        booking_events,
        vec![
            "booking.reserved",
            "booking.payment_started",
            "booking.confirmed"
        ]
    );

    // A full refund takes the sale back, once, with its ledger row.
    let refund = RefundRecord {
        id: uuid::Uuid::now_v7().to_string(),
        booking_id: paid.id,
        payment_id: p1.id.clone(),
        show_id: paid.show_id,
        user_id: ana.id,
        amount: p1.amount,
        percent: 100,
        reason: RefundReason::Requested,
        status: RefundStatus::Processing,
        requested_by: Some(ana.id),
        decided_by: None,
        gateway_refund_id: None,
        failure: None,
        created_at: at(7_000),
        updated_at: at(7_000),
    };
    s.insert_refund(&refund).await.unwrap();
    let succeed = RefundChange {
        refund_id: refund.id.clone(),
        from: vec![RefundStatus::Processing, RefundStatus::Failed],
        to: RefundStatus::Succeeded,
        at: at(8_000),
        decided_by: None,
        amount: None,
        gateway_refund_id: Some("re_1".into()),
        failure: None,
        ledger: Some(LedgerEntry {
            refund_id: Some(refund.id.clone()),
            ..ledger(&p1, LedgerKind::Refund, "re_1", p1.amount)
        }),
        booking: Some(BookingStep {
            action: BookingAction::Refund,
            deadline: Deadline::Any,
            at: at(8_000),
        }),
    };
    let refunded = s.change_refund(&succeed).await.unwrap();
    assert!(refunded.changed);
    assert_eq!(refunded.booking.unwrap().status, BookingStatus::Refunded);
    assert!(!s.change_refund(&succeed).await.unwrap().changed);
    assert_eq!(s.refund_by_gateway_id("re_1").await.unwrap().id, refund.id);
    let money = s.show_money(sh.id).await.unwrap();
    assert_eq!(money.len(), 1);
    assert_eq!(money[0].captured_minor, p1.amount.amount_minor);
    assert_eq!(money[0].refunded_minor, p1.amount.amount_minor);

    // A failed attempt keeps the hold; a capture of it after the deadline moves the
    // payment but not the booking (the saga decides what happens to the money).
    let p3 = payment(&late, 1, at(1_000));
    s.start_payment(&p3, at(1_000)).await.unwrap().unwrap();
    s.payment_processing(
        &p3.id,
        "pi_3",
        &ledger(&p3, LedgerKind::Charge, "pi_3", p3.amount),
        at(1_100),
    )
    .await
    .unwrap();
    let failed = s.change_payment(&decline(&p3, at(2_000))).await.unwrap();
    assert_eq!(failed.booking.unwrap().status, BookingStatus::PaymentFailed);
    let overdue = s.overdue_payment_holds(deadline, 10).await.unwrap();
    assert_eq!(
        overdue.iter().map(|b| b.id).collect::<Vec<BookingId>>(),
        vec![late.id]
    );
    assert!(s
        .overdue_payment_holds(at(1_000), 10)
        .await
        .unwrap()
        .is_empty());
    let after = s
        .change_payment(&capture(&p3, "pi_3", deadline.plus_secs(1)))
        .await
        .unwrap();
    assert!(after.changed, "a capture overrides a failure");
    assert!(after.booking.is_none(), "but not the deadline");
    assert_eq!(
        s.booking(late.id).await.unwrap().status,
        BookingStatus::PaymentFailed
    );

    // Refund policies round-trip and replace.
    assert_eq!(s.refund_policy(sh.id).await.unwrap(), None);
    let policy = RefundPolicy::parse(vec![RefundTier {
        min_hours_before: 24,
        percent: 80,
    }])
    .unwrap();
    s.set_refund_policy(sh.id, &policy, at(0)).await.unwrap();
    s.set_refund_policy(sh.id, &policy, at(1)).await.unwrap();
    assert_eq!(s.refund_policy(sh.id).await.unwrap(), Some(policy));
    s.close().await;
}

on_both_backends!(payments_settle_once);

/// What one payment write of a batch did.
fn outcome(o: &boxoffice::store::WriteOutcome) -> &PaymentOutcome {
    match o {
        boxoffice::store::WriteOutcome::Payment(p) => p,
        other => panic!("not a payment outcome: {other:?}"),
    }
}

fn started(o: &boxoffice::store::WriteOutcome) -> Option<BookingStatus> {
    match outcome(o) {
        PaymentOutcome::Started(b) => b.as_ref().map(|b| b.status),
        other => panic!("not a start: {other:?}"),
    }
}

fn changed(o: &boxoffice::store::WriteOutcome) -> (bool, PaymentStatus, Option<BookingStatus>) {
    match outcome(o) {
        PaymentOutcome::Changed(c) => (
            c.changed,
            c.record.status,
            c.booking.as_ref().map(|b| b.status),
        ),
        other => panic!("not a change: {other:?}"),
    }
}

fn pay(w: PaymentWrite) -> BookingWrite {
    BookingWrite::Payment(Box::new(w))
}

/// The group-commit writer hands the store many payment writes at once, applied
/// set-based: each must end exactly as it would alone, including two writes of one
/// batch naming the same booking or payment.
async fn payment_writes_of_one_batch_end_as_alone(backend: Backend) {
    let (s, _db) = store(backend).await;
    let Sale {
        org, ana, floor, ..
    } = sale(&s).await;
    let deadline = at(10 * 60 * 1000);
    let holds: Vec<_> = (0..4)
        .map(|_| booking(ana.id, &floor, 1, deadline))
        .collect();
    s.apply(
        &holds
            .iter()
            .cloned()
            .map(BookingWrite::Hold)
            .collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    let (b1, b2, b3, b4) = (&holds[0], &holds[1], &holds[2], &holds[3]);

    // Starts: two fine, a second one for the same booking, someone else's, too late.
    let p1 = payment(b1, 1, at(1_000));
    let p2 = payment(b2, 1, at(1_000));
    let twice = payment(b1, 2, at(1_000));
    let mut foreign = payment(b3, 1, at(1_000));
    foreign.user_id = org.id;
    let late = payment(b4, 1, deadline);
    let start = |p: &PaymentRecord, when| {
        pay(PaymentWrite::Start {
            payment: p.clone(),
            at: when,
        })
    };
    let out = s
        .apply(&[
            start(&p1, at(1_000)),
            start(&p2, at(1_000)),
            start(&twice, at(1_000)),
            start(&foreign, at(1_000)),
            start(&late, deadline),
        ])
        .await
        .unwrap();
    let starts: Vec<_> = out.iter().map(started).collect();
    assert_eq!(
        starts,
        vec![
            Some(BookingStatus::PaymentPending),
            Some(BookingStatus::PaymentPending),
            None,
            None,
            None
        ]
    );
    for (p, kept) in [
        (&p1, true),
        (&p2, true),
        (&twice, false),
        (&foreign, false),
        (&late, false),
    ] {
        assert_eq!(
            s.payment(&p.id).await.is_ok(),
            kept,
            "payment row of attempt {}",
            p.attempt
        );
    }

    // Intents recorded, and a capture of p1 in the same batch (after its intent).
    let processing = |p: &PaymentRecord, intent: &str| {
        pay(PaymentWrite::Processing {
            payment_id: p.id.clone(),
            intent_id: intent.into(),
            ledger: ledger(p, LedgerKind::Charge, intent, p.amount),
            at: at(1_500),
        })
    };
    let out = s
        .apply(&[
            processing(&p1, "pi_1"),
            processing(&p2, "pi_2"),
            pay(PaymentWrite::Change(capture(&p1, "pi_1", at(2_000)))),
        ])
        .await
        .unwrap();
    for (o, intent) in out[..2].iter().zip(["pi_1", "pi_2"]) {
        match outcome(o) {
            PaymentOutcome::Processing(p) => {
                assert_eq!(p.status, PaymentStatus::Processing);
                assert_eq!(p.intent_id.as_deref(), Some(intent));
            }
            other => panic!("not processing: {other:?}"),
        }
    }
    assert_eq!(
        changed(&out[2]),
        (
            true,
            PaymentStatus::Succeeded,
            Some(BookingStatus::Confirmed)
        )
    );

    // A capture, a late failure of what succeeded, and the capture's duplicate.
    let fail_p1 = decline(&p1, at(3_000));
    let out = s
        .apply(&[
            pay(PaymentWrite::Change(capture(&p2, "pi_2", at(3_000)))),
            pay(PaymentWrite::Change(fail_p1)),
            pay(PaymentWrite::Change(capture(&p2, "pi_2", at(3_001)))),
        ])
        .await
        .unwrap();
    assert_eq!(
        changed(&out[0]),
        (
            true,
            PaymentStatus::Succeeded,
            Some(BookingStatus::Confirmed)
        )
    );
    assert_eq!(changed(&out[1]), (false, PaymentStatus::Succeeded, None));
    assert_eq!(changed(&out[2]), (false, PaymentStatus::Succeeded, None));

    // Every row and event once, as if each write had been alone.
    for (b, p, intent) in [(b1, &p1, "pi_1"), (b2, &p2, "pi_2")] {
        assert_eq!(
            s.booking(b.id).await.unwrap().status,
            BookingStatus::Confirmed
        );
        let kinds: Vec<LedgerKind> = s
            .ledger_of(b.id)
            .await
            .unwrap()
            .iter()
            .map(|r| r.kind)
            .collect();
        assert_eq!(kinds, vec![LedgerKind::Charge, LedgerKind::Capture]);
        let record = s.payment(&p.id).await.unwrap();
        assert_eq!(record.intent_id.as_deref(), Some(intent));
        assert!(record.captured_at.is_some());
        assert_eq!(events_of(&s, &p.id).await, vec!["payment.succeeded"]);
        assert_eq!(
            events_of(&s, &b.id.to_string()).await,
            vec![
                "booking.reserved",
                "booking.payment_started",
                "booking.confirmed"
            ]
        );
    }
    for b in [b3, b4] {
        assert_eq!(s.booking(b.id).await.unwrap().status, BookingStatus::Held);
        assert_eq!(
            events_of(&s, &b.id.to_string()).await,
            vec!["booking.reserved"]
        );
    }
    s.close().await;
}

on_both_backends!(payment_writes_of_one_batch_end_as_alone);
