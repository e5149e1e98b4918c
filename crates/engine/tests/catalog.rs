//! The in-memory catalog follows the store and answers filtered, paged queries.

mod common;

use baton_engine::{
    Catalog, CatalogQuery, ChainFilter, NewTask, Prices, ProviderKind, ProviderSettings,
    StartFilter, TaskState,
};
use common::*;
use std::time::Duration;

fn query() -> CatalogQuery {
    CatalogQuery {
        limit: 100,
        ..CatalogQuery::default()
    }
}

#[tokio::test(start_paused = true)]
async fn the_catalog_loads_existing_tasks_and_follows_every_change() {
    let t = open_with(|_| {}).await;
    let before = t
        .engine
        .submit(task("loaded at start", "echo"))
        .await
        .unwrap();
    let catalog = Catalog::follow(&t.engine).await.unwrap();
    assert_eq!(catalog.len(), 1);

    let mut changes = catalog.changes();
    let mut rx = t.engine.subscribe();
    let after = t.engine.submit(task("added later", "echo")).await.unwrap();
    t.engine.start().await;
    reach_all(
        &mut rx,
        vec![
            (after.id, TaskState::Completed),
            (before.id, TaskState::Completed),
        ],
    )
    .await;
    // The catalog applies events on its own task: wait on its changes until it
    // has caught up.
    let completed = CatalogQuery {
        status: Some(TaskState::Completed),
        ..query()
    };
    tokio::time::timeout(
        PATIENCE,
        changes.wait_for(|_| catalog.query(&completed).total == 2),
    )
    .await
    .expect("the catalog never saw both completions")
    .unwrap();
    let page = catalog.query(&query());
    assert_eq!(page.total, 2);
    assert_eq!(page.rows[0].id, after.id, "newest first");
}

#[tokio::test(start_paused = true)]
async fn filters_search_and_paging_select_the_right_rows() {
    let t = open_with(|_| {}).await;
    let root = t
        .engine
        .submit(task("Weekly report", "echo"))
        .await
        .unwrap();
    let child = t
        .engine
        .chain(root.id, task("Summarise it", "echo"))
        .await
        .unwrap();
    let later = t
        .engine
        .submit(NewTask {
            start_at: Some(t.engine.now() + chrono::Duration::hours(1)),
            ..task("Call Bob", "echo")
        })
        .await
        .unwrap();
    for i in 0..5 {
        t.engine
            .submit(task(&format!("filler {i}"), "echo"))
            .await
            .unwrap();
    }
    let catalog = Catalog::follow(&t.engine).await.unwrap();

    let ids = |q: CatalogQuery| {
        catalog
            .query(&q)
            .rows
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(CatalogQuery {
            status: Some(TaskState::Waiting),
            ..query()
        }),
        vec![child.id]
    );
    assert_eq!(
        ids(CatalogQuery {
            start: Some(StartFilter::Scheduled),
            ..query()
        }),
        vec![later.id]
    );
    assert_eq!(
        catalog
            .query(&CatalogQuery {
                start: Some(StartFilter::Immediate),
                ..query()
            })
            .total,
        7
    );
    assert_eq!(
        ids(CatalogQuery {
            chain: Some(ChainFilter::WithChildren),
            ..query()
        }),
        vec![root.id]
    );
    assert_eq!(
        catalog
            .query(&CatalogQuery {
                chain: Some(ChainFilter::Roots),
                ..query()
            })
            .total,
        7
    );
    assert_eq!(
        ids(CatalogQuery {
            search: Some("  WEEKLY ".into()),
            ..query()
        }),
        vec![root.id]
    );
    assert_eq!(
        ids(CatalogQuery {
            search: Some(later.id.to_string()),
            ..query()
        }),
        vec![later.id]
    );

    let page = catalog.query(&CatalogQuery {
        offset: 2,
        limit: 3,
        ..query()
    });
    assert_eq!(page.total, 8);
    assert_eq!(page.rows.len(), 3);
    let all = catalog.query(&query()).rows;
    assert_eq!(page.rows, all[2..5].to_vec());
    assert_eq!(all.iter().find(|r| r.id == root.id).unwrap().children, 1);
}

#[tokio::test(start_paused = true)]
async fn activity_counts_todays_outcomes_retries_and_latency() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let ok = t.engine.submit(task("ok", "sleep=100")).await.unwrap();
    let flaky = t.engine.submit(task("flaky", "fail=1")).await.unwrap();
    let bad = t
        .engine
        .submit(NewTask {
            max_attempts: Some(1),
            ..task("bad", "fatal")
        })
        .await
        .unwrap();
    reach_all(
        &mut rx,
        vec![
            (ok.id, TaskState::Completed),
            (flaky.id, TaskState::Completed),
            (bad.id, TaskState::Failed),
        ],
    )
    .await;
    let catalog = Catalog::follow(&t.engine).await.unwrap();
    let activity = catalog.activity(t.engine.now(), t.engine.now() - chrono::Duration::hours(1));
    assert_eq!((activity.completed_today, activity.failed_today), (2, 1));
    assert_eq!(activity.retries_today, 1);
    assert_eq!(activity.finished_per_minute.iter().sum::<u32>(), 3);
    let rate = activity.success_rate.unwrap();
    assert!((rate - 2.0 / 3.0).abs() < 1e-9, "{rate}");
    assert!(activity.latency_p95_ms.unwrap() >= activity.latency_p50_ms.unwrap());
    assert!(activity.latency_p95_ms.unwrap() >= 100);
}

#[tokio::test(start_paused = true)]
async fn tokens_and_cost_today_sum_the_tasks_finished_since_the_day_start() {
    let t = started_with(|_| {}).await;
    // The mock reports usage; under a configured name it gets prices.
    let mut priced = ProviderSettings::new("priced", ProviderKind::Mock, "");
    priced.prices = Some(Prices {
        input_per_mtok: 3.0,
        output_per_mtok: 15.0,
    });
    t.engine.save_provider(priced, None).await.unwrap();
    let mut rx = t.engine.subscribe();
    let paid = t
        .engine
        .submit(NewTask {
            provider: Some("priced".into()),
            ..task("a prompt that costs something", "echo")
        })
        .await
        .unwrap();
    let free = t
        .engine
        .submit(task("free of charge", "echo"))
        .await
        .unwrap();
    let paid = reach(&mut rx, paid.id, TaskState::Completed).await;
    let free = reach(&mut rx, free.id, TaskState::Completed).await;
    let catalog = Catalog::follow(&t.engine).await.unwrap();

    let tokens =
        |task: &baton_engine::Task| task.prompt_tokens.unwrap() + task.completion_tokens.unwrap();
    let now = t.engine.now();
    let today = catalog.activity(now, now - chrono::Duration::hours(1));
    assert_eq!(today.tokens_today, tokens(&paid) + tokens(&free));
    let cost = paid.cost_usd.unwrap().0;
    assert!(cost > 0.0);
    assert!((today.cost_today_usd - cost).abs() < 1e-12, "{today:?}");

    // Finished before the day began: yesterday's, not today's.
    let tomorrow = catalog.activity(now, now + chrono::Duration::seconds(1));
    assert_eq!((tomorrow.tokens_today, tomorrow.cost_today_usd), (0, 0.0));
    assert_eq!(tomorrow.completed_today, 0);
}

#[tokio::test(start_paused = true)]
async fn worker_count_changes_at_runtime_within_bounds() {
    let counter = std::sync::Arc::new(Counter {
        hold: Duration::from_millis(10),
        ..Default::default()
    });
    let t = started_with(|c| {
        c.workers = 2;
        c.providers.insert("count", counter.clone());
    })
    .await;
    assert!(t.engine.set_workers(0).is_err());
    assert!(t.engine.set_workers(100_000).is_err());
    t.engine.set_workers(6).unwrap();
    assert_eq!(t.engine.workers(), 6);
    for i in 0..60 {
        t.engine
            .submit(NewTask {
                provider: Some("count".into()),
                ..NewTask::new(format!("t{i}"))
            })
            .await
            .unwrap();
    }
    idle(&t.engine).await;
    let max = counter
        .max_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(max > 2 && max <= 6, "ran {max} at once with 6 slots");
}

#[tokio::test(start_paused = true)]
async fn a_catalog_loaded_from_the_store_equals_one_fed_by_events() {
    let t = started_with(|_| {}).await;
    let live = Catalog::follow(&t.engine).await.unwrap();
    let mut changes = live.changes();
    // Escapes and non-ASCII in the prompt; the search covers its first 240
    // characters only, so a word past them is not found.
    let long = format!("Résumé \"Q3\"\n\tplease {} NEEDLE", "x".repeat(300));
    let a = t.engine.submit(task(&long, "echo")).await.unwrap();
    let b = t
        .engine
        .chain(a.id, task("Then ÜBERSETZEN", "echo"))
        .await
        .unwrap();
    idle(&t.engine).await;
    // Wait until the live catalog has applied both completions.
    let done = |c: &Catalog| {
        let rows = c.query(&query()).rows;
        rows.len() == 2 && rows.iter().all(|r| r.status == TaskState::Completed)
    };
    while !done(&live) {
        changes.changed().await.unwrap();
    }
    let loaded = Catalog::load(&t.engine).await.unwrap();
    assert_eq!(loaded.query(&query()), live.query(&query()));
    let search = |c: &Catalog, s: &str| {
        c.query(&CatalogQuery {
            search: Some(s.into()),
            ..query()
        })
        .rows
        .into_iter()
        .map(|r| r.id)
        .collect::<Vec<_>>()
    };
    for catalog in [&loaded, &live] {
        assert_eq!(search(catalog, "résumé \"q3\""), vec![a.id]);
        assert_eq!(search(catalog, "übersetzen"), vec![b.id]);
        assert!(search(catalog, "needle").is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn fewer_workers_take_effect_while_tasks_keep_coming() {
    use std::sync::atomic::Ordering::SeqCst;
    let counter = std::sync::Arc::new(Counter {
        hold: Duration::from_millis(10),
        ..Default::default()
    });
    let t = started_with(|c| {
        c.workers = 6;
        c.providers.insert("count", counter.clone());
    })
    .await;
    for i in 0..120 {
        t.engine
            .submit(NewTask {
                provider: Some("count".into()),
                ..NewTask::new(format!("t{i}"))
            })
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(25)).await;
    assert_eq!(counter.max_in_flight.load(SeqCst), 6);
    // A finishing attempt that claims its slot's next task must not keep the
    // slot from the shrink for ever.
    t.engine.set_workers(2).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    counter.max_in_flight.store(0, SeqCst);
    idle(&t.engine).await;
    let max = counter.max_in_flight.load(SeqCst);
    assert!(max <= 2, "ran {max} at once after going down to 2 slots");
    assert_eq!(t.engine.counts().await.unwrap().completed, 120);
}

#[tokio::test(start_paused = true)]
async fn before_the_first_load_the_store_answers_the_first_pages_exactly_as_the_catalog_will() {
    let t = open_with(|_| {}).await;
    let root = t.engine.submit(task("root", "echo")).await.unwrap();
    t.engine
        .chain(root.id, task("child", "echo"))
        .await
        .unwrap();
    t.engine
        .submit(NewTask {
            start_at: Some(t.engine.now() + chrono::Duration::hours(1)),
            ..task("later", "echo")
        })
        .await
        .unwrap();
    for i in 0..7 {
        t.engine
            .submit(task(&format!("filler {i}"), "echo"))
            .await
            .unwrap();
    }
    let waiting = Catalog::empty();
    let loaded = Catalog::load(&t.engine).await.unwrap();
    // The first pages, unfiltered or by status. Nothing ever loads `waiting`,
    // so an answer that waited for the load would time out.
    for q in [
        CatalogQuery {
            limit: 4,
            ..query()
        },
        CatalogQuery {
            offset: 3,
            limit: 4,
            ..query()
        },
        CatalogQuery {
            offset: 8,
            limit: 50,
            ..query()
        },
        CatalogQuery {
            status: Some(TaskState::Queued),
            limit: 3,
            ..query()
        },
        CatalogQuery {
            status: Some(TaskState::Waiting),
            ..query()
        },
        CatalogQuery {
            status: Some(TaskState::Failed),
            ..query()
        },
    ] {
        let early = tokio::time::timeout(PATIENCE, waiting.query_now(&t.engine, &q))
            .await
            .expect("the store did not answer before the first load")
            .unwrap();
        assert_eq!(early, loaded.query(&q), "{q:?}");
    }
    assert!(loaded.query(&query()).rows.iter().any(|r| r.children == 1));

    // Filters the store has no index for wait for the load, then answer from it.
    let search = CatalogQuery {
        search: Some("filler".into()),
        ..query()
    };
    let pending = tokio::time::timeout(PATIENCE, waiting.query_now(&t.engine, &search)).await;
    assert!(
        pending.is_err(),
        "a search answered before the catalog loaded"
    );
    waiting.reload(&t.engine).await.unwrap();
    assert_eq!(
        waiting.query_now(&t.engine, &search).await.unwrap().total,
        7
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_first_load_answers_the_queries_waiting_for_it_instead_of_hanging() {
    let t = open_with(|_| {}).await;
    t.engine.submit(task("one", "echo")).await.unwrap();
    let catalog = Catalog::empty();
    t.engine.shutdown().await;
    assert!(catalog.reload(&t.engine).await.is_err());
    let search = CatalogQuery {
        search: Some("one".into()),
        ..query()
    };
    let answer = tokio::time::timeout(PATIENCE, catalog.query_now(&t.engine, &search))
        .await
        .expect("a query waited forever for a load that had failed");
    let err = answer.unwrap_err().to_string();
    assert!(err.contains("the task list could not be loaded"), "{err}");
    assert!(catalog.loaded().await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_group_filter_lists_only_that_groups_rows_and_join() {
    let t = open_with(|_| {}).await;
    let other = t
        .engine
        .submit(task("not in a group", "echo"))
        .await
        .unwrap();
    let map = |name: &str, data: &str| baton_engine::NewMap {
        name: name.into(),
        source: baton_engine::RowSource::Lines,
        data: data.into(),
        task: task("Say {{item}}", "echo"),
        join: Some(baton_engine::NewJoin {
            instruction: "All of it: {{items}}".into(),
            on: baton_engine::JoinOn::All,
        }),
    };
    let fruit = t
        .engine
        .map(map("fruit", "apple\npear\nplum"))
        .await
        .unwrap();
    let nuts = t.engine.map(map("nuts", "pecan")).await.unwrap();
    let catalog = Catalog::load(&t.engine).await.unwrap();
    let in_group = |group| {
        let page = catalog.query(&CatalogQuery {
            group: Some(group),
            ..query()
        });
        (
            page.total,
            page.rows.into_iter().map(|r| r.id).collect::<Vec<_>>(),
        )
    };
    let (total, ids) = in_group(fruit.id);
    assert_eq!(total, 4, "three rows and the join");
    assert!(!ids.contains(&other.id));
    let join = fruit.join.as_ref().unwrap().task_id;
    assert!(ids.contains(&join));
    assert_eq!(in_group(nuts.id).0, 2);
    assert_eq!(catalog.query(&query()).total, 7, "no filter: every task");

    // Before the first load, a group filter waits for the catalog rather than
    // answering from the unfiltered store pages.
    let fresh = Catalog::empty();
    let q = CatalogQuery {
        group: Some(nuts.id),
        ..query()
    };
    let (answer, _) = tokio::join!(fresh.query_now(&t.engine, &q), fresh.reload(&t.engine));
    assert_eq!(answer.unwrap().total, 2);

    // A catalog that follows events sees the rows a new group creates.
    let live = Catalog::follow(&t.engine).await.unwrap();
    let mut changes = live.changes();
    let seeds = t.engine.map(map("seeds", "sesame\npoppy")).await.unwrap();
    let q = CatalogQuery {
        group: Some(seeds.id),
        ..query()
    };
    tokio::time::timeout(Duration::from_secs(5), async {
        while live.query(&q).total < 3 {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the new group's rows and join reach the catalog");
}
