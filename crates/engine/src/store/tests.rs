//! Opening files: fresh, locked, foreign, too new, and migrating an old layout.

use super::tables::*;
use super::*;
use crate::storage::{Storage, TaskTxn, UnitOfWork};
use crate::task::TaskId;
use chrono::Utc;
use redb::{Database, ReadableDatabase};

fn sample_task(status: TaskState, parent: Option<TaskId>) -> Task {
    Task {
        name: "t".into(),
        status,
        parent_task_id: parent,
        ..Task::sample("p")
    }
}

#[test]
fn a_new_file_gets_the_current_schema_and_empty_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/baton.redb");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.counts().unwrap(), StatusCounts::default());
    drop(store);
    let db = Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    assert_eq!(
        meta.get(SCHEMA_KEY).unwrap().unwrap().value(),
        SCHEMA_VERSION
    );
}

#[test]
fn a_second_open_of_the_same_file_is_refused_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.redb");
    let _first = Store::open(&path).unwrap();
    let err = Store::open(&path).err().expect("second open must fail");
    assert!(matches!(err, OpenError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("in use by another Baton process"));
}

#[test]
fn a_foreign_file_is_refused_and_left_byte_for_byte_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.redb");
    let bytes: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(&path)
        .err()
        .expect("a foreign file must be refused");
    assert_eq!(err.code(), "database_corrupt", "{err}");
    assert!(err.to_string().contains("is not a Baton database"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_redb_file_of_another_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.redb");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let def: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("theirs");
        txn.open_table(def).unwrap().insert(1, 2).unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&path).err().expect("must be refused");
    assert_eq!(err.code(), "database_corrupt", "{err}");
}

#[test]
fn a_newer_schema_is_refused_with_both_versions_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.redb");
    drop(Store::open(&path).unwrap());
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_KEY, SCHEMA_VERSION + 7)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&path).err().expect("must be refused");
    assert!(matches!(err, OpenError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 7));
    let text = err.to_string();
    assert!(
        text.contains(&(SCHEMA_VERSION + 7).to_string()) && text.contains("upgrade Baton"),
        "{text}"
    );
}

#[test]
fn a_version_1_file_is_migrated_and_its_indexes_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.redb");
    let parent = sample_task(TaskState::Completed, None);
    let queued = sample_task(TaskState::Queued, None);
    let waiting = sample_task(TaskState::Waiting, Some(parent.id));
    let mut scheduled = sample_task(TaskState::Scheduled, None);
    scheduled.start_at = Some(Utc::now() + chrono::Duration::hours(1));
    // The version 1 layout: only `meta` and `tasks`.
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert(SCHEMA_KEY, 1).unwrap();
        {
            let mut tasks = txn.open_table(TASKS).unwrap();
            for t in [&parent, &queued, &waiting, &scheduled] {
                tasks
                    .insert(t.id.as_u128(), encode(t).unwrap().as_slice())
                    .unwrap();
            }
        }
        txn.commit().unwrap();
    }

    let store = Store::open(&path).unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(
        (
            counts.completed,
            counts.queued,
            counts.waiting,
            counts.scheduled
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(store.children(parent.id).unwrap(), vec![waiting.id]);
    let batch = store.begin().unwrap();
    let txn = batch.txn();
    assert_eq!(txn.queue_head(10).unwrap(), vec![queued.id]);
    let (due_now, next) = txn.due_by(Utc::now()).unwrap();
    assert!(due_now.is_empty());
    assert_eq!(next, scheduled.start_at.map(|t| from_micros(micros(t))));
    drop(txn);
    drop(batch);
    let listed = store
        .list(&ListQuery {
            filter: TaskFilter {
                status: Some(TaskState::Queued),
                ..TaskFilter::default()
            },
            limit: 10,
            ..ListQuery::default()
        })
        .unwrap();
    assert_eq!(listed, vec![queued]);
    drop(store);

    // Reopening a migrated file changes nothing.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.counts().unwrap(), counts);
}

#[test]
fn list_pages_newest_first_with_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("b.redb")).unwrap();
    let tasks: Vec<Task> = (0..7)
        .map(|_| sample_task(TaskState::Queued, None))
        .collect();
    let batch = store.begin().unwrap();
    let mut txn = batch.txn();
    for t in &tasks {
        txn.put(None, t).unwrap();
    }
    drop(txn);
    batch.commit().unwrap();

    let page1 = store
        .list(&ListQuery {
            limit: 3,
            ..ListQuery::default()
        })
        .unwrap();
    let ids1: Vec<TaskId> = page1.iter().map(|t| t.id).collect();
    assert_eq!(ids1, vec![tasks[6].id, tasks[5].id, tasks[4].id]);
    let page2 = store
        .list(&ListQuery {
            limit: 3,
            before: Some(tasks[4].id),
            filter: TaskFilter {
                status: Some(TaskState::Queued),
                ..TaskFilter::default()
            },
        })
        .unwrap();
    let ids2: Vec<TaskId> = page2.iter().map(|t| t.id).collect();
    assert_eq!(ids2, vec![tasks[3].id, tasks[2].id, tasks[1].id]);
}

#[test]
fn a_version_2_file_is_migrated_and_gains_an_empty_providers_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.redb");
    let queued = sample_task(TaskState::Queued, None);
    {
        let store = Store::open(&path).unwrap();
        let batch = store.begin().unwrap();
        let mut txn = batch.txn();
        txn.put(None, &queued).unwrap();
        drop(txn);
        batch.commit().unwrap();
    }
    // Back to the version 2 layout: no `providers` table.
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        assert!(txn.delete_table(PROVIDERS).unwrap());
        txn.open_table(META).unwrap().insert(SCHEMA_KEY, 2).unwrap();
        txn.commit().unwrap();
    }

    let store = Store::open(&path).unwrap();
    assert_eq!(store.providers().unwrap().len(), 0);
    assert_eq!(store.get(queued.id).unwrap(), Some(queued.clone()));
    let mut settings = crate::provider::ProviderSettings::new(
        "local",
        crate::provider::ProviderKind::OpenaiCompatible,
        "http://127.0.0.1:11434/v1",
    );
    settings.model = Some("llama3.2".into());
    let batch = store.begin().unwrap();
    let mut txn = batch.txn();
    txn.put_provider(&settings).unwrap();
    drop(txn);
    batch.commit().unwrap();
    drop(store);

    let store = Store::open(&path).unwrap();
    assert_eq!(store.providers().unwrap(), vec![Ok(settings)]);
    let db_version = {
        drop(store);
        let db = Database::create(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let v = txn
            .open_table(META)
            .unwrap()
            .get(SCHEMA_KEY)
            .unwrap()
            .unwrap()
            .value();
        v
    };
    assert_eq!(db_version, SCHEMA_VERSION);
}

#[test]
fn a_task_record_from_before_providers_loads_with_empty_new_fields() {
    // A version 2 record: no system, temperature, tokens, cost or failure.
    let old = r#"{"id":"01935f5e-0000-7000-8000-000000000001","name":"t","prompt":"p",
        "status":"completed","start_at":null,"created_at":"2025-01-01T00:00:00Z",
        "started_at":null,"finished_at":null,"output":"x","error":null,"parent_task_id":null,
        "llm_provider":"mock","llm_model":"echo","latency_ms":null,"attempts":1,
        "max_attempts":3,"timeout_ms":1000,"cancel_reason":null,
        "history":[{"number":1,"started_at":"2025-01-01T00:00:00Z","finished_at":null,"outcome":"completed","error":null}]}"#;
    let task = decode(old.as_bytes()).unwrap();
    assert_eq!(task.prompt_tokens, None);
    assert_eq!(task.cost_usd, None);
    assert_eq!(task.history[0].ttft_ms, None);
}

#[test]
fn a_version_3_file_is_migrated_and_gains_empty_schedule_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.redb");
    let queued = sample_task(TaskState::Queued, None);
    {
        let store = Store::open(&path).unwrap();
        let batch = store.begin().unwrap();
        let mut txn = batch.txn();
        txn.put(None, &queued).unwrap();
        drop(txn);
        batch.commit().unwrap();
    }
    // Back to the version 3 layout: no schedule tables.
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        for table in [
            "schedules",
            "schedule_names",
            "schedule_due",
            "schedule_runs",
        ] {
            assert!(txn
                .delete_table(redb::TableDefinition::<u8, u8>::new(table))
                .unwrap());
        }
        txn.open_table(META).unwrap().insert(SCHEMA_KEY, 3).unwrap();
        txn.commit().unwrap();
    }

    let store = Store::open(&path).unwrap();
    assert!(store.schedules().unwrap().is_empty());
    assert_eq!(store.get(queued.id).unwrap(), Some(queued.clone()));
    let batch = store.begin().unwrap();
    assert_eq!(
        batch.txn().schedules_due_by(Utc::now()).unwrap(),
        (Vec::new(), None)
    );
    drop(batch);
    drop(store);
    let db = Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let version = txn
        .open_table(META)
        .unwrap()
        .get(SCHEMA_KEY)
        .unwrap()
        .unwrap()
        .value();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn scan_reads_every_record_as_a_projection_in_creation_order() {
    #[derive(serde::Deserialize)]
    struct IdAndName {
        id: TaskId,
        name: String,
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("b.redb")).unwrap();
    // More than one core's share, so the decoding really is split.
    let tasks: Vec<Task> = (0..5000)
        .map(|i| Task {
            name: format!("task {i}"),
            ..Task::sample("p")
        })
        .collect();
    let batch = store.begin().unwrap();
    let mut txn = batch.txn();
    for t in &tasks {
        txn.put(None, t).unwrap();
    }
    drop(txn);
    batch.commit().unwrap();
    let read: Vec<IdAndName> = store.scan().unwrap();
    assert_eq!(read.len(), tasks.len());
    for (got, want) in read.iter().zip(&tasks) {
        assert_eq!((got.id, got.name.as_str()), (want.id, want.name.as_str()));
    }
}

#[test]
fn parallel_map_keeps_the_order_of_its_input() {
    let items: Vec<u32> = (0..10_007).collect();
    let doubled = parallel_map(items, |i| i * 2);
    assert_eq!(doubled, (0..10_007).map(|i| i * 2).collect::<Vec<_>>());
    assert!(parallel_map(Vec::<u32>::new(), |i| i).is_empty());
}

#[test]
fn a_file_that_makes_redb_panic_while_opening_is_reported_damaged_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.redb");
    {
        let store = Store::open(&path).unwrap();
        let batch = store.begin().unwrap();
        {
            let mut txn = batch.txn();
            for _ in 0..50 {
                txn.put(None, &sample_task(TaskState::Queued, None))
                    .unwrap();
            }
        }
        batch.commit().unwrap();
    }
    let good = std::fs::read(&path).unwrap();
    let mut damaged = 0;
    // Each variant garbles the first bytes of one page (its type byte among
    // them); the ones redb reads while opening make it panic.
    for page in 1..good.len() / 4096 {
        let mut bad = good.clone();
        for b in &mut bad[page * 4096..page * 4096 + 64] {
            *b ^= 0x5a;
        }
        std::fs::write(&path, &bad).unwrap();
        let opened = std::panic::catch_unwind(|| Store::open(&path).map(drop));
        let err = match opened {
            Err(_) => panic!("a panic escaped the open of a file with page {page} garbled"),
            Ok(Ok(())) => continue,
            Ok(Err(err)) => err,
        };
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bad,
            "page {page}: a refused file was changed"
        );
        assert_eq!(err.code(), "database_corrupt", "{err}");
        if matches!(err, OpenError::Damaged { .. }) {
            damaged += 1;
            let text = err.to_string();
            assert!(
                text.contains("is damaged")
                    && text.contains("left it unchanged")
                    && text.contains("baton import"),
                "{text}"
            );
            assert!(!text.contains("panicked"), "{text}");
        }
    }
    assert!(damaged > 0, "no variant made the open fail as damaged");
}
