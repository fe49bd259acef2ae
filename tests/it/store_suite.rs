//! One store test suite, run on both stores: the embedded sled store, and PostgreSQL (from
//! `PARCOURS_TEST_DATABASE_URL`, a fresh schema per test; skipped, saying so, when it is unset).

use parcours::message::{Channel, Delivery};
use parcours::store::pg_store::PgStore;
use parcours::store::sled_store::{ERASED, SledStore};
use parcours::store::{
    ConversationFilter, Identity, ImportBatch, Irritant, OpenConversation, Outcome, Owner,
    ProfileStore, Speaker, Touchpoint, Turn, TurnCommit,
};
use parcours::time::Timestamp;
use std::sync::Arc;

/// A store under test, and what keeps it alive (a directory, a schema dropped at the end).
pub struct Under {
    pub store: Arc<dyn ProfileStore>,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<Schema>,
}

pub fn sled() -> Under {
    let dir = tempfile::tempdir().expect("temp dir");
    Under {
        store: Arc::new(SledStore::open(dir.path()).expect("sled store")),
        _dir: Some(dir),
        _schema: None,
    }
}

/// A schema of its own in the test database, dropped when the test ends (even when it fails).
pub struct Schema {
    pub url: String,
    base: String,
    name: String,
}

impl Schema {
    /// A fresh schema, or `None` (after saying the test is skipped) without `PARCOURS_TEST_DATABASE_URL`.
    pub async fn new(test: &str) -> Option<Schema> {
        let Some(base) = std::env::var("PARCOURS_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!(
                "skipped {test}: PARCOURS_TEST_DATABASE_URL is unset (PostgreSQL tests need it)"
            );
            return None;
        };
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "t_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            Timestamp::now().0 % 1_000_000
        );
        let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .expect("PARCOURS_TEST_DATABASE_URL reaches a server");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create a schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Some(Schema { url, base, name })
    }
}

impl Schema {
    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database URL without the schema option.
    pub fn base(&self) -> &str {
        &self.base
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Its own thread and runtime: the test's runtime may be gone.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&base, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// The PostgreSQL store on a fresh, migrated schema.
pub async fn postgres(test: &str) -> Option<Under> {
    let schema = Schema::new(test).await?;
    let store = PgStore::connect(&schema.url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.check_schema().await.expect("schema up to date");
    Some(Under {
        store: Arc::new(store),
        _dir: None,
        _schema: Some(schema),
    })
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod on_sled {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let under = super::sled();
                    super::$name(under.store.clone()).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(under) = super::postgres(stringify!($name)).await else { return };
                    super::$name(under.store.clone()).await;
                }
            )*
        }
    };
}

on_both_stores!(
    a_turn_is_one_read_and_one_commit_and_turns_are_appended,
    a_caller_id_known_on_the_phone_is_the_same_customer,
    the_time_index_pages_through_a_range_both_ways,
    every_staff_filter_is_applied_by_the_store,
    the_recent_contacts_come_newest_first_from_the_index,
    an_erased_customer_is_anonymised_and_never_saved_again,
    merge_and_split_move_identities_and_conversations,
    a_merge_and_a_split_wait_for_a_turn_under_way,
    a_link_code_is_used_once_and_expires,
    a_link_code_is_spent_with_the_turn_that_used_it,
    retention_empties_the_words_of_closed_conversations_only,
    a_delivery_is_answered_once,
    a_delivery_is_committed_with_its_turn_and_replayed,
    turns_of_one_conversation_are_serialised_by_its_lock,
    a_turn_dropped_before_its_commit_leaves_no_conversation,
    the_queue_and_the_open_conversations_come_from_the_store,
    a_whole_store_is_listed_imported_and_counted,
    a_link_code_as_a_new_senders_first_message_joins_the_identities,
    a_nul_from_a_caller_is_dropped_not_an_error,
);

fn ident(channel: Channel, id: &str) -> Identity {
    Identity {
        channel,
        id: id.into(),
    }
}

fn turn(at: u64, speaker: Speaker, text: &str) -> Turn {
    Turn::said(Timestamp(at), speaker, text.into())
}

async fn conversation(
    store: &dyn ProfileStore,
    customer: &str,
    who: &Identity,
    at: u64,
) -> Touchpoint {
    Touchpoint::new(
        store.new_id("tp").await.unwrap(),
        customer.into(),
        who.channel,
        who.id.clone(),
        Timestamp(at),
    )
}

/// Saves a conversation the way every writer does: under its sender's lock.
async fn save(store: &dyn ProfileStore, tp: &Touchpoint) {
    let guard = store.lock(tp.channel, &tp.user).await.unwrap();
    store
        .commit(
            guard,
            TurnCommit {
                touchpoints: vec![tp.clone()],
                customer: None,
                delivery: None,
            },
        )
        .await
        .unwrap();
}

async fn a_turn_is_one_read_and_one_commit_and_turns_are_appended(store: Arc<dyn ProfileStore>) {
    let store = store.as_ref();
    let who = ident(Channel::Telegram, "42");
    let (guard, load) = store
        .begin_turn(&who, None, None, Timestamp(1_000))
        .await
        .unwrap();
    assert!(load.created, "first contact creates the customer");
    assert!(load.open.is_none());
    assert_eq!(
        load.recent.as_deref().map(Vec::as_slice),
        Some(&[][..]),
        "read: a conversation starts"
    );
    let mut tp = conversation(store, &load.customer.id, &who, 1_000).await;
    tp.turns.push(turn(1_000, Speaker::Customer, "hi"));
    tp.turns.push(turn(1_001, Speaker::Bot, "Hello!"));
    tp.state = serde_json::json!({ "topic": "greeting" }).into();
    let mut customer = parcours::store::Customer::clone(&load.customer);
    customer.name = Some("Zoé".into());
    store
        .commit(
            guard,
            TurnCommit {
                touchpoints: vec![tp.clone()],
                customer: Some(customer),
                delivery: None,
            },
        )
        .await
        .unwrap();

    let (guard, load) = store
        .begin_turn(&who, None, None, Timestamp(2_000))
        .await
        .unwrap();
    assert!(!load.created);
    assert_eq!(load.customer.name.as_deref(), Some("Zoé"));
    let mut open = load.open.expect("the conversation is open");
    assert_eq!(open.id, tp.id);
    assert_eq!(open.turns, tp.turns);
    assert_eq!(open.state, tp.state);
    assert!(
        load.recent.is_none(),
        "an ongoing conversation does not read the history"
    );
    assert_eq!(
        store
            .recent_contacts(&open.customer_id)
            .await
            .unwrap()
            .len(),
        1
    );
    open.turns
        .push(turn(2_000, Speaker::Customer, "where is my order <b>&</b>"));
    open.turns.push(turn(2_001, Speaker::Bot, "Which order?"));
    open.last_at = Timestamp(2_001);
    store
        .commit(
            guard,
            TurnCommit {
                touchpoints: vec![open.clone()],
                customer: None,
                delivery: None,
            },
        )
        .await
        .unwrap();
    let stored = store.touchpoint(&tp.id).await.unwrap().unwrap();
    let texts: Vec<&str> = stored.turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(
        texts,
        ["hi", "Hello!", "where is my order <b>&</b>", "Which order?"]
    );
    assert_eq!(stored, open);
    assert_eq!(store.identities(&load.customer.id).await.unwrap(), [who]);
}

async fn a_caller_id_known_on_the_phone_is_the_same_customer(store: Arc<dyn ProfileStore>) {
    let store = store.as_ref();
    let phone = ident(Channel::Twilio, "+33600000001");
    let known = store.resolve(&phone, Timestamp(1)).await.unwrap();
    let voice = ident(Channel::Voice, "+33600000001");
    let (guard, load) = store
        .begin_turn(&voice, Some(&phone), None, Timestamp(2))
        .await
        .unwrap();
    store.commit(guard, TurnCommit::default()).await.unwrap();
    assert_eq!(load.customer.id, known.id);
    assert!(!load.created);
    let mut ids = store.identities(&known.id).await.unwrap();
    ids.sort();
    let mut want = vec![phone, voice];
    want.sort();
    assert_eq!(ids, want);
}

async fn the_time_index_pages_through_a_range_both_ways(store: Arc<dyn ProfileStore>) {
    let store = store.as_ref();
    let who = ident(Channel::Chat, "u");
    for t in [5_000, 1_000, 3_000, 4_000, 2_000, 9_000] {
        save(store, &conversation(store, "c", &who, t).await).await;
    }
    let all = ConversationFilter::default();
    let times = |p: &parcours::store::Page| -> Vec<u64> {
        p.items.iter().map(|t| t.started_at.0).collect()
    };
    let page = store
        .touchpoints_between(Timestamp(2_000), Timestamp(9_000), 2, None, &all, false)
        .await
        .unwrap();
    assert_eq!(times(&page), [2_000, 3_000]);
    let next = store
        .touchpoints_between(
            Timestamp(2_000),
            Timestamp(9_000),
            10,
            page.next_cursor.as_deref(),
            &all,
            false,
        )
        .await
        .unwrap();
    assert_eq!(times(&next), [4_000, 5_000]);
    assert!(next.next_cursor.is_none());
    let newest = store
        .touchpoints_between(Timestamp(0), Timestamp(u64::MAX), 4, None, &all, true)
        .await
        .unwrap();
    assert_eq!(times(&newest), [9_000, 5_000, 4_000, 3_000]);
    let rest = store
        .touchpoints_between(
            Timestamp(0),
            Timestamp(u64::MAX),
            4,
            newest.next_cursor.as_deref(),
            &all,
            true,
        )
        .await
        .unwrap();
    assert_eq!(times(&rest), [2_000, 1_000]);
}

async fn every_staff_filter_is_applied_by_the_store(store: Arc<dyn ProfileStore>) {
    let store = store.as_ref();
    let tg = ident(Channel::Telegram, "1");
    let ph = ident(Channel::Twilio, "+331");
    let mut a = conversation(store, "ann", &tg, 1_000).await;
    a.intents = vec!["greeting".into(), "order_status".into()];
    a.survey.insert("rating".into(), "3".into());
    a.turns.push(Turn {
        irritants: vec![Irritant::NegativeSentiment],
        ..turn(1_000, Speaker::Customer, "useless")
    });
    let mut b = conversation(store, "bob", &ph, 2_000).await;
    b.intents = vec!["refund_status".into()];
    b.survey.insert("rating".into(), "9".into());
    let mut c = conversation(store, "ann", &ph, 3_000).await;
    c.intents = vec!["order_status".into()];
    for tp in [&a, &b, &c] {
        save(store, tp).await;
    }
    let ids = |f: ConversationFilter| async move {
        let page = store
            .touchpoints_between(Timestamp(0), Timestamp(u64::MAX), 50, None, &f, true)
            .await
            .unwrap();
        page.items.into_iter().map(|t| t.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(ConversationFilter {
            channel: Some(Channel::Twilio),
            ..Default::default()
        })
        .await,
        [c.id.clone(), b.id.clone()]
    );
    assert_eq!(
        ids(ConversationFilter {
            intent: Some("order_status".into()),
            ..Default::default()
        })
        .await,
        [c.id.clone(), a.id.clone()]
    );
    assert_eq!(
        ids(ConversationFilter {
            customer: Some("bob".into()),
            ..Default::default()
        })
        .await,
        [b.id.clone()]
    );
    assert_eq!(
        ids(ConversationFilter {
            max_rating: Some(6),
            ..Default::default()
        })
        .await,
        [a.id.clone()]
    );
    assert_eq!(
        ids(ConversationFilter {
            irritant: Some(true),
            ..Default::default()
        })
        .await,
        [a.id.clone()]
    );
    assert_eq!(
        ids(ConversationFilter {
            irritant: Some(false),
            ..Default::default()
        })
        .await,
        [c.id.clone(), b.id.clone()]
    );
    assert!(
        ids(ConversationFilter {
            channel: Some(Channel::Telegram),
            intent: Some("refund_status".into()),
            ..Default::default()
        })
        .await
        .is_empty()
    );
}

async fn the_recent_contacts_come_newest_first_from_the_index(store: Arc<dyn ProfileStore>) {
    let store = store.as_ref();
    let who = ident(Channel::Voice, "+33700000000");
    let customer = store.resolve(&who, Timestamp(1)).await.unwrap();
    for i in 0..12u64 {
        let mut tp = conversation(store, &customer.id, &who, 1_000 + i).await;
        tp.ended_at = Some(Timestamp(1_000 + i));
        tp.outcome = Some(if i == 11 {
            Outcome::Abandoned
        } else {
            Outcome::Resolved
        });
        tp.intents = vec![format!("i{i}")];
        if i == 10 {
            tp.outbox.push("A reply from Sam".into());
        }
        save(store, &tp).await;
    }
    let (_guard, load) = store
        .begin_turn(&who, None, None, Timestamp(5_000))
        .await
        .unwrap();
    let recent = load
        .recent
        .expect("no conversation is open: the history is read");
    let starts: Vec<u64> = recent.iter().map(|c| c.started_at.0).collect();
    assert_eq!(starts, (1_003..=1_011).rev().collect::<Vec<_>>());
    assert_eq!(recent[0].outcome, Some(Outcome::Abandoned));
    assert_eq!(recent[0].intents, ["i11"]);
    assert!(recent[1].outbox && !recent[0].outbox);
    assert!(load.open.is_none());
}

async fn an_erased_customer_is_anonymised_and_never_saved_again(store: Arc<dyn ProfileStore>) {
    let store = store.as_ref();
    let who = ident(Channel::Telegram, "7");
    let mut customer = store.resolve(&who, Timestamp(1)).await.unwrap();
    customer.name = Some("Eve Secret".into());
    customer.email = Some("eve@example.com".into());
    store.put_customer(&customer).await.unwrap();
    let mut tp = conversation(store, &customer.id, &who, 10).await;
    tp.turns
        .push(turn(10, Speaker::Customer, "my name is Eve Secret"));
    tp.survey.insert("rating".into(), "4".into());
    tp.survey.insert("comment".into(), "Eve was here".into());
    tp.intents = vec!["order_status".into()];
    save(store, &tp).await;
    store
        .put_link_code("123456", &customer.id, Timestamp(u64::MAX / 2))
        .await
        .unwrap();

    assert_eq!(store.forget(&customer.id).await.unwrap(), 1);
    assert!(store.customer(&customer.id).await.unwrap().is_none());
    assert!(store.customer_of(&who).await.unwrap().is_none());
    assert!(store.identities(&customer.id).await.unwrap().is_empty());
    assert!(
        store
            .take_link_code("123456", Timestamp(20), None)
            .await
            .unwrap()
            .is_none()
    );
    let kept = store.touchpoint(&tp.id).await.unwrap().unwrap();
    assert_eq!(kept.customer_id, ERASED);
    assert_eq!(kept.user, "");
    assert!(kept.turns.iter().all(|t| t.text.is_empty()));
    assert_eq!(kept.turns.len(), 1);
    assert_eq!(kept.survey.get("rating").map(String::as_str), Some("4"));
    assert!(!kept.survey.contains_key("comment"));
    assert_eq!(kept.intents, ["order_status"]);

    // A turn that raced the erasure commits afterwards: nothing is saved under the erased id.
    let mut late = conversation(store, &customer.id, &who, 30).await;
    late.turns.push(turn(30, Speaker::Customer, "Eve again"));
    save(store, &late).await;
    assert!(store.touchpoint(&late.id).await.unwrap().is_none());
    store.put_customer(&customer).await.unwrap();
    assert!(store.customer(&customer.id).await.unwrap().is_none());
    store.link(&who, &customer.id).await.unwrap();
    assert!(store.customer_of(&who).await.unwrap().is_none());
    // The same person writing again is a new customer.
    let again = store.resolve(&who, Timestamp(40)).await.unwrap();
    assert_ne!(again.id, customer.id);
    assert!(store.erased_ids().await.unwrap().contains(&customer.id));
}

async fn merge_and_split_move_identities_and_conversations(store: Arc<dyn ProfileStore>) {
    let store = store.as_ref();
    let tg = ident(Channel::Telegram, "100");
    let ph = ident(Channel::Twilio, "+33100");
    let mut a = store.resolve(&tg, Timestamp(1)).await.unwrap();
    a.name = Some("Ann".into());
    a.attributes.insert("tier".into(), "gold".into());
    store.put_customer(&a).await.unwrap();
    let mut b = store.resolve(&ph, Timestamp(2)).await.unwrap();
    b.email = Some("ann@example.com".into());
    b.attributes.insert("tier".into(), "silver".into());
    store.put_customer(&b).await.unwrap();
    let on_phone = conversation(store, &b.id, &ph, 50).await;
    save(store, &on_phone).await;

    store.merge(&b.id, &a.id, None).await.unwrap();
    assert!(store.customer(&b.id).await.unwrap().is_none());
    let merged = store.customer(&a.id).await.unwrap().unwrap();
    assert_eq!(merged.name.as_deref(), Some("Ann"));
    assert_eq!(merged.email.as_deref(), Some("ann@example.com"));
    assert_eq!(
        merged.attributes.get("tier").map(String::as_str),
        Some("gold")
    );
    assert_eq!(store.customer_of(&ph).await.unwrap().unwrap().id, a.id);
    let tps = store.touchpoints_of(&a.id).await.unwrap();
    assert_eq!(tps.len(), 1);
    assert_eq!(tps[0].customer_id, a.id);

    let new = store.split(&a.id, &ph, Timestamp(60)).await.unwrap();
    assert_eq!(store.customer_of(&ph).await.unwrap().unwrap().id, new);
    assert_eq!(store.identities(&a.id).await.unwrap(), [tg]);
    assert!(store.touchpoints_of(&a.id).await.unwrap().is_empty());
    let moved = store.touchpoints_of(&new).await.unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].id, on_phone.id);
    assert_eq!(moved[0].customer_id, new);
}

/// A merge or a split by staff, while a turn of one of the customers is under way on another sender:
/// it waits for that turn's commit (which would otherwise put the conversation back under the old
/// customer), and the next turn sees it.
async fn a_merge_and_a_split_wait_for_a_turn_under_way(store: Arc<dyn ProfileStore>) {
    let tg = ident(Channel::Telegram, "m-tg");
    let ph = ident(Channel::Twilio, "+33200");
    let a = store.resolve(&tg, Timestamp(1)).await.unwrap();
    let b = store.resolve(&ph, Timestamp(2)).await.unwrap();
    let (guard, load) = store
        .begin_turn(&ph, None, None, Timestamp(10))
        .await
        .unwrap();
    assert_eq!(load.customer.id, b.id);
    let mut tp = conversation(store.as_ref(), &b.id, &ph, 10).await;
    tp.turns.push(turn(10, Speaker::Customer, "hello"));
    let merging = tokio::spawn({
        let (store, from, into) = (store.clone(), b.id.clone(), a.id.clone());
        async move { store.merge(&from, &into, None).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!merging.is_finished(), "the merge waits for the turn");
    let changes = TurnCommit {
        touchpoints: vec![tp.clone()],
        ..TurnCommit::default()
    };
    store.commit(guard, changes).await.unwrap();
    let survivor = merging.await.unwrap().unwrap().expect("the survivor");
    assert_eq!(survivor.id, a.id);
    let open = store
        .open_touchpoint(Channel::Twilio, "+33200")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(open.customer_id, a.id, "the turn's conversation moved too");
    assert!(store.customer(&b.id).await.unwrap().is_none());

    let (guard, load) = store
        .begin_turn(&ph, None, None, Timestamp(20))
        .await
        .unwrap();
    assert_eq!(load.customer.id, a.id, "the next turn is the survivor's");
    let mut tp = load.open.expect("still open");
    tp.turns.push(turn(20, Speaker::Customer, "again"));
    let splitting = tokio::spawn({
        let (store, id, who) = (store.clone(), a.id.clone(), ph.clone());
        async move { store.split(&id, &who, Timestamp(21)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!splitting.is_finished(), "the split waits for the turn");
    let changes = TurnCommit {
        touchpoints: vec![tp],
        ..TurnCommit::default()
    };
    store.commit(guard, changes).await.unwrap();
    let new = splitting.await.unwrap().unwrap();
    let open = store
        .open_touchpoint(Channel::Twilio, "+33200")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(open.customer_id, new, "the split took the conversation");
    assert_eq!(open.turns.len(), 2, "with the turn committed before it");
    assert_eq!(store.identities(&a.id).await.unwrap(), [tg]);
}

async fn a_link_code_is_used_once_and_expires(store: Arc<dyn ProfileStore>) {
    let store = store.as_ref();
    store
        .put_link_code("111111", "cus_a", Timestamp(1_000))
        .await
        .unwrap();
    store
        .put_link_code("222222", "cus_b", Timestamp(1_000))
        .await
        .unwrap();
    assert_eq!(
        store
            .take_link_code("111111", Timestamp(500), None)
            .await
            .unwrap()
            .as_deref(),
        Some("cus_a")
    );
    assert!(
        store
            .take_link_code("111111", Timestamp(600), None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .take_link_code("222222", Timestamp(2_000), None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .take_link_code("333333", Timestamp(1), None)
            .await
            .unwrap()
            .is_none()
    );
}

/// A turn that uses a code and fails (dropped before its commit) leaves the code usable; one that
/// commits spends it, and another sender giving it meanwhile finds it spent. Guards issue 17 (the code
/// was used up on a connection of its own, outside the turn's transaction).
async fn a_link_code_is_spent_with_the_turn_that_used_it(store: Arc<dyn ProfileStore>) {
    let far = Timestamp(u64::MAX / 2);
    store.put_link_code("444444", "cus_x", far).await.unwrap();
    // A sender's turn that gives the code, not committed yet.
    let give = |who: Identity, at: u64| {
        let store = store.clone();
        async move {
            let (mut turn, _) = store
                .begin_turn(&who, None, None, Timestamp(at))
                .await
                .unwrap();
            let taken = store
                .take_link_code("444444", Timestamp(at), Some(&mut turn))
                .await
                .unwrap();
            (turn, taken)
        }
    };
    let (failed, taken) = give(ident(Channel::Chat, "l1"), 10).await;
    assert_eq!(taken.as_deref(), Some("cus_x"));
    drop(failed);
    let (turn, taken) = give(ident(Channel::Telegram, "l2"), 20).await;
    assert_eq!(
        taken.as_deref(),
        Some("cus_x"),
        "the failed turn left the code"
    );
    let other = tokio::spawn({
        let store = store.clone();
        async move { store.take_link_code("444444", Timestamp(21), None).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    store.commit(turn, TurnCommit::default()).await.unwrap();
    assert_eq!(
        other.await.unwrap().unwrap(),
        None,
        "spent by the committed turn"
    );
    assert_eq!(
        store
            .take_link_code("444444", Timestamp(30), None)
            .await
            .unwrap(),
        None
    );
}

async fn retention_empties_the_words_of_closed_conversations_only(store: Arc<dyn ProfileStore>) {
    let store = store.as_ref();
    let who = ident(Channel::Chat, "r");
    let mut old = conversation(store, "c", &who, 1_000).await;
    old.turns.push(turn(1_000, Speaker::Customer, "old words"));
    old.ended_at = Some(Timestamp(1_500));
    old.survey.insert("comment".into(), "meh".into());
    old.survey.insert("rating".into(), "5".into());
    let mut open = conversation(store, "c", &ident(Channel::Chat, "s"), 1_200).await;
    open.turns
        .push(turn(1_200, Speaker::Customer, "still talking"));
    let mut recent = conversation(store, "c", &ident(Channel::Chat, "t"), 9_000).await;
    recent
        .turns
        .push(turn(9_000, Speaker::Customer, "new words"));
    recent.ended_at = Some(Timestamp(9_500));
    for tp in [&old, &open, &recent] {
        save(store, tp).await;
    }
    assert_eq!(store.purge_transcripts(Timestamp(5_000)).await.unwrap(), 1);
    let purged = store.touchpoint(&old.id).await.unwrap().unwrap();
    assert_eq!(purged.turns[0].text, "");
    assert!(!purged.survey.contains_key("comment"));
    assert_eq!(purged.survey.get("rating").map(String::as_str), Some("5"));
    assert_eq!(
        store.touchpoint(&open.id).await.unwrap().unwrap().turns[0].text,
        "still talking"
    );
    assert_eq!(
        store.touchpoint(&recent.id).await.unwrap().unwrap().turns[0].text,
        "new words"
    );
    assert_eq!(
        store.purge_transcripts(Timestamp(5_000)).await.unwrap(),
        0,
        "nothing left to purge"
    );
}

async fn a_delivery_is_answered_once(store: Arc<dyn ProfileStore>) {
    let store = store.as_ref();
    assert!(store.first_delivery("telegram", "1001").await.unwrap());
    assert!(!store.first_delivery("telegram", "1001").await.unwrap());
    assert!(store.first_delivery("telegram", "1002").await.unwrap());
    assert!(store.first_delivery("twilio", "1001").await.unwrap());
}

async fn a_delivery_is_committed_with_its_turn_and_replayed(store: Arc<dyn ProfileStore>) {
    let who = ident(Channel::Twilio, "+15550001");
    let token = Delivery::new("twilio", "idem-1").unwrap();
    let (guard, load) = store
        .begin_turn(&who, None, Some(&token), Timestamp(1))
        .await
        .unwrap();
    assert_eq!(load.replay, None, "a first delivery is a turn");
    let mut tp = conversation(store.as_ref(), &load.customer.id, &who, 1).await;
    tp.turns.push(turn(1, Speaker::Customer, "hello"));
    // Dropped before its commit: the delivery was not answered, so it is not remembered.
    drop(guard);
    let (guard, load) = store
        .begin_turn(&who, None, Some(&token), Timestamp(2))
        .await
        .unwrap();
    assert_eq!(
        load.replay, None,
        "a turn that never committed is run again"
    );
    store
        .commit(
            guard,
            TurnCommit {
                touchpoints: vec![tp.clone()],
                customer: None,
                delivery: Some((token.clone(), r#"{"said":"hi"}"#.into())),
            },
        )
        .await
        .unwrap();
    let (guard, load) = store
        .begin_turn(&who, None, Some(&token), Timestamp(3))
        .await
        .unwrap();
    drop(guard);
    assert_eq!(load.replay.as_deref(), Some(r#"{"said":"hi"}"#));
    assert_eq!(load.customer.id, tp.customer_id, "the same customer");
    // Another token, or the same id from another platform, is a new message.
    for other in [
        Delivery::new("twilio", "idem-2").unwrap(),
        Delivery::new("voice", "idem-1").unwrap(),
    ] {
        let (guard, load) = store
            .begin_turn(&who, None, Some(&other), Timestamp(4))
            .await
            .unwrap();
        drop(guard);
        assert_eq!(load.replay, None, "{other:?}");
    }
    // The turn's own delivery counts for the stand-alone check too.
    assert!(!store.first_delivery("twilio", "idem-1").await.unwrap());
}

async fn turns_of_one_conversation_are_serialised_by_its_lock(store: Arc<dyn ProfileStore>) {
    let who = ident(Channel::Telegram, "busy");
    let mut tasks = Vec::new();
    for i in 0..12u64 {
        let store = store.clone();
        let who = who.clone();
        tasks.push(tokio::spawn(async move {
            let (guard, load) = store
                .begin_turn(&who, None, None, Timestamp(100 + i))
                .await
                .unwrap();
            let mut tp = match load.open {
                Some(tp) => tp,
                None => conversation(store.as_ref(), &load.customer.id, &who, 100).await,
            };
            // Whatever another writer did in between would be lost if the lock did not hold.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let n = tp.turns.len();
            tp.turns
                .push(turn(100 + i, Speaker::Customer, &format!("turn {n}")));
            store
                .commit(
                    guard,
                    TurnCommit {
                        touchpoints: vec![tp],
                        customer: None,
                        delivery: None,
                    },
                )
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let open = store
        .open_touchpoint(Channel::Telegram, "busy")
        .await
        .unwrap()
        .unwrap();
    let texts: Vec<String> = open.turns.iter().map(|t| t.text.clone()).collect();
    let want: Vec<String> = (0..12).map(|n| format!("turn {n}")).collect();
    assert_eq!(texts, want, "every turn stored once, in order");
    assert_eq!(
        store
            .touchpoints_between(
                Timestamp(0),
                Timestamp(u64::MAX),
                50,
                None,
                &ConversationFilter::default(),
                false
            )
            .await
            .unwrap()
            .items
            .len(),
        1,
        "one conversation, not one per racing turn"
    );
}

async fn a_turn_dropped_before_its_commit_leaves_no_conversation(store: Arc<dyn ProfileStore>) {
    let who = ident(Channel::Chat, "drop");
    let (guard, load) = store
        .begin_turn(&who, None, None, Timestamp(1))
        .await
        .unwrap();
    let tp = conversation(store.as_ref(), &load.customer.id, &who, 1).await;
    drop(guard);
    // The lock is free again, and nothing was written.
    let again = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        store.begin_turn(&who, None, None, Timestamp(2)),
    )
    .await
    .expect("the lock was let go")
    .unwrap();
    assert!(again.1.open.is_none());
    assert!(store.touchpoint(&tp.id).await.unwrap().is_none());
}

async fn the_queue_and_the_open_conversations_come_from_the_store(store: Arc<dyn ProfileStore>) {
    let store = store.as_ref();
    let mut waiting = conversation(store, "c1", &ident(Channel::Twilio, "+1"), 10).await;
    waiting.owner = Owner::Waiting {
        since: Timestamp(10),
        reason: "human_agent".into(),
        callback: false,
        ticket: false,
        told_position: 1,
        told_at: Timestamp(10),
    };
    let bot = conversation(store, "c2", &ident(Channel::Chat, "2"), 20).await;
    let mut closed = conversation(store, "c3", &ident(Channel::Chat, "3"), 30).await;
    closed.ended_at = Some(Timestamp(40));
    for tp in [&waiting, &bot, &closed] {
        save(store, tp).await;
    }
    let queue: Vec<String> = store
        .handoff_touchpoints()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(queue, [waiting.id.clone()]);
    // The sweeper's view: who, when, whether a person has it (from the record, or from memory).
    let mut open = store.open_conversations().await.unwrap();
    open.sort_by(|a, b| a.id.cmp(&b.id));
    let mut want = vec![OpenConversation::of(&waiting), OpenConversation::of(&bot)];
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(open, want);
    assert!(open.iter().any(|o| o.human) && open.iter().any(|o| !o.human));
    // Back to the bot: out of the queue.
    let mut back = waiting.clone();
    back.owner = Owner::Bot;
    save(store, &back).await;
    assert!(store.handoff_touchpoints().await.unwrap().is_empty());
    assert!(
        store
            .open_touchpoint(Channel::Chat, "3")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .open_touchpoint(Channel::Chat, "2")
            .await
            .unwrap()
            .unwrap()
            .id,
        bot.id
    );
}

async fn a_whole_store_is_listed_imported_and_counted(store: Arc<dyn ProfileStore>) {
    let source = super::store_suite::sled();
    let src = source.store.as_ref();
    let mut customers = Vec::new();
    for i in 0..7 {
        let who = ident(Channel::Telegram, &format!("{i}"));
        let c = src.resolve(&who, Timestamp(i)).await.unwrap();
        let mut tp = conversation(src, &c.id, &who, 100 + i).await;
        tp.turns.push(turn(100 + i, Speaker::Customer, "hello"));
        tp.turns.push(turn(101 + i, Speaker::Bot, "hi"));
        save(src, &tp).await;
        customers.push(c);
    }
    src.forget(&customers[6].id).await.unwrap();
    let mut page_ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = src.customers_page(after.as_deref(), 4).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        let mut batch = ImportBatch::default();
        for c in page {
            page_ids.push(c.id.clone());
            let ids = src.identities(&c.id).await.unwrap();
            batch.customers.push((c, ids));
        }
        store.import(&batch).await.unwrap();
    }
    assert_eq!(page_ids.len(), 6);
    let mut sorted = page_ids.clone();
    sorted.sort();
    assert_eq!(page_ids, sorted, "customers come in id order");
    let tps = src
        .touchpoints_between(
            Timestamp(0),
            Timestamp(u64::MAX),
            100,
            None,
            &ConversationFilter::default(),
            false,
        )
        .await
        .unwrap()
        .items;
    store
        .import(&ImportBatch {
            erased: src.erased_ids().await.unwrap(),
            touchpoints: tps,
            ..ImportBatch::default()
        })
        .await
        .unwrap();
    let want = src.counts().await.unwrap();
    assert_eq!(want.customers, 6);
    assert_eq!(want.conversations, 7);
    assert_eq!(want.turns, 14);
    assert_eq!(want.erased, 1);
    assert_eq!(store.counts().await.unwrap(), want);
    let who = ident(Channel::Telegram, "3");
    assert_eq!(
        store.customer_of(&who).await.unwrap().unwrap().id,
        customers[3].id
    );
}

/// The bot on the store: a code made on one channel, typed as the very first message on another, joins
/// the new identity to the customer who made it (the merge sees the customer the turn just created).
async fn a_link_code_as_a_new_senders_first_message_joins_the_identities(
    store: Arc<dyn ProfileStore>,
) {
    use parcours::message::Inbound;
    let pack = parcours::intents::IntentPack::load(&crate::helpers::intents_dir()).unwrap();
    let bot = parcours::bot::Bot::new(pack, Default::default(), store.clone());
    let first = bot
        .handle(Inbound::text(Channel::Telegram, "tg-ann", "hello"))
        .await
        .unwrap();
    assert!(!first.text.is_empty());
    let made = bot
        .handle(Inbound::text(Channel::Telegram, "tg-ann", "/link"))
        .await
        .unwrap();
    let code: String = made
        .text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("no code in {:?}", made.text))
        .to_string();
    let ann = store
        .customer_of(&ident(Channel::Telegram, "tg-ann"))
        .await
        .unwrap()
        .unwrap();
    bot.handle(Inbound::text(
        Channel::Chat,
        "web-ann",
        format!("my code is {code}"),
    ))
    .await
    .unwrap();
    let joined = store
        .customer_of(&ident(Channel::Chat, "web-ann"))
        .await
        .unwrap()
        .expect("the new sender is known");
    assert_eq!(
        joined.id, ann.id,
        "the chat identity joined the customer who made the code"
    );
    let mut ids = store.identities(&ann.id).await.unwrap();
    ids.sort();
    assert_eq!(ids.len(), 2, "{ids:?}");
    // The conversation of the chat identity belongs to the surviving customer too.
    let tps = store.touchpoints_of(&ann.id).await.unwrap();
    assert!(tps.iter().any(|t| t.channel == Channel::Chat), "{tps:?}");
}

/// No database text type holds U+0000: a caller's NUL is dropped before the turn is stored.
async fn a_nul_from_a_caller_is_dropped_not_an_error(store: Arc<dyn ProfileStore>) {
    use parcours::message::Inbound;
    let pack = parcours::intents::IntentPack::load(&crate::helpers::intents_dir()).unwrap();
    let bot = parcours::bot::Bot::new(pack, Default::default(), store.clone());
    let mut msg = Inbound::text(Channel::Voice, "+3399\0", "hi\0 there");
    msg.session = Some("CA\u{0}1".into());
    let reply = bot.handle(msg).await.expect("a NUL is not a store failure");
    let tp = store
        .touchpoint(&reply.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tp.user, "+3399");
    assert_eq!(tp.turns[0].text, "hi there");
}
