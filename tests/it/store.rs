//! The sled store: durability across a reopen, identities and the time index.

use parcours::message::Channel;
use parcours::store::sled_store::SledStore;
use parcours::store::{Customer, Identity, Touchpoint};
use parcours::time::Timestamp;

fn touchpoint(store: &SledStore, customer: &str, at: Timestamp) -> Touchpoint {
    Touchpoint {
        ended_at: Some(at),
        intents: vec!["order_status".into()],
        ..Touchpoint::new(
            store.new_id("tp").unwrap(),
            customer.into(),
            Channel::Chat,
            "u".into(),
            at,
        )
    }
}

#[tokio::test]
async fn what_was_made_durable_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ident = Identity {
        channel: Channel::Telegram,
        id: "42".into(),
    };
    let (cid, tid) = {
        let store = SledStore::open(dir.path()).unwrap();
        let c = store.resolve(&ident, Timestamp::now()).unwrap();
        let mut named = c.clone();
        named.name = Some("Zoé".into());
        store.put_customer(&named).unwrap();
        let tp = touchpoint(&store, &c.id, Timestamp(1_000));
        store.save_touchpoint(&tp).unwrap();
        store.durable().await.unwrap();
        (c.id, tp.id)
    };
    let store = SledStore::open(dir.path()).unwrap();
    let again = store.resolve(&ident, Timestamp::now()).unwrap();
    assert_eq!(again.id, cid);
    assert_eq!(again.name.as_deref(), Some("Zoé"));
    assert_eq!(
        store.touchpoint(&tid).unwrap().unwrap().intents,
        ["order_status"]
    );
    assert_eq!(store.identities(&cid).unwrap(), [ident]);
}

#[tokio::test]
async fn concurrent_waiters_share_flushes_and_all_return() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SledStore::open(dir.path()).unwrap());
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .put_customer(&Customer {
                    id: format!("c{i}"),
                    ..Customer::default()
                })
                .unwrap();
            store.durable().await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(store.customer("c31").unwrap().is_some());
}

#[test]
fn the_time_index_pages_through_a_range_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    for t in [5_000, 1_000, 3_000, 4_000, 2_000, 9_000] {
        store
            .save_touchpoint(&touchpoint(&store, "c", Timestamp(t)))
            .unwrap();
    }
    let page = store
        .touchpoints_between(
            Timestamp(2_000),
            Timestamp(9_000),
            2,
            None,
            &Default::default(),
            false,
        )
        .unwrap();
    let times: Vec<u64> = page.items.iter().map(|t| t.started_at.0).collect();
    assert_eq!(times, [2_000, 3_000]);
    let next = store
        .touchpoints_between(
            Timestamp(2_000),
            Timestamp(9_000),
            10,
            page.next_cursor.as_deref(),
            &Default::default(),
            false,
        )
        .unwrap();
    let times: Vec<u64> = next.items.iter().map(|t| t.started_at.0).collect();
    assert_eq!(times, [4_000, 5_000]);
    assert!(next.next_cursor.is_none());
}

#[test]
fn linking_an_identity_to_another_customer_moves_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let ident = Identity {
        channel: Channel::Twilio,
        id: "+33600000000".into(),
    };
    store.link(&ident, "a").unwrap();
    store.link(&ident, "b").unwrap();
    assert!(store.identities("a").unwrap().is_empty());
    assert_eq!(store.identities("b").unwrap(), [ident]);
}

#[tokio::test]
async fn ids_are_never_given_twice_across_restarts_erasures_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let caller = |n: u32| Identity {
        channel: Channel::Voice,
        id: format!("caller-{n}"),
    };
    let mut seen = std::collections::HashSet::new();
    let mut keep = Vec::new();
    for round in 0..4u32 {
        let store = SledStore::open(dir.path()).unwrap();
        let c = store.resolve(&caller(round), Timestamp::now()).unwrap();
        let tp = touchpoint(&store, &c.id, Timestamp(1_000 + u64::from(round)));
        store.save_touchpoint(&tp).unwrap();
        assert!(
            seen.insert(c.id.clone()),
            "customer id {} given twice",
            c.id
        );
        assert!(
            seen.insert(tp.id.clone()),
            "conversation id {} given twice",
            tp.id
        );
        if round == 2 {
            // The erasure makes the shutdown compact the store: the ids must not start again.
            store.forget(&c.id).unwrap();
            assert!(store.needs_compaction());
            store.compact().unwrap();
        } else {
            keep.push((c.id.clone(), tp.id.clone(), caller(round)));
            store.durable().await.unwrap();
        }
    }
    let store = SledStore::open(dir.path()).unwrap();
    for (customer, tp, identity) in keep {
        assert_eq!(store.customer_of(&identity).unwrap().unwrap().id, customer);
        assert_eq!(
            store.touchpoint(&tp).unwrap().unwrap().customer_id,
            customer
        );
        assert_eq!(store.identities(&customer).unwrap(), [identity]);
    }
}
