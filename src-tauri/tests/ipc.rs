//! The window's command layer through Tauri's mock runtime: real IPC requests,
//! forwarded over the runner's real socket to a runner served in this process
//! (as `baton-tray` serves it) with a real engine on a temporary redb file;
//! engine events arrive over the socket as Tauri events.

use baton_desktop::{configure, start, ShellOptions};
use baton_shell::{MemoryPasswords, PasswordStore};
use baton_tray::InProcess;
use fake_llm::{FakeServer, Reply};
use serde_json::{json, Value};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, WebviewWindow, WebviewWindowBuilder};

/// A bound, not a pause: every wait below ends as soon as its event arrives.
const PATIENCE: Duration = Duration::from_secs(30);

struct Shell {
    /// The runner the window is connected to; quit when the test ends.
    runner: Option<InProcess>,
    dir: tempfile::TempDir,
    app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    /// The keychain this shell files passwords in (CI has no keychain daemon).
    passwords: Arc<MemoryPasswords>,
}

fn shell() -> Shell {
    shell_in(tempfile::tempdir().unwrap())
}

fn shell_in(dir: tempfile::TempDir) -> Shell {
    let passwords = Arc::new(MemoryPasswords::default());
    let runner = tauri::async_runtime::block_on(InProcess::start(dir.path(), passwords.clone()))
        .expect("the runner serves");
    let options = || ShellOptions {
        data_dir: dir.path().to_path_buf(),
        start_runner: false,
    };
    let app = configure(mock_builder(), options())
        .build(mock_context(noop_assets()))
        .expect("the shell builds");
    start(app.handle(), &options()).expect("the shell starts");
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    Shell {
        runner: Some(runner),
        dir,
        app,
        window,
        passwords,
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        if let Some(runner) = self.runner.take() {
            tauri::async_runtime::block_on(runner.quit());
        }
    }
}

impl Shell {
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|body| body.deserialize::<Value>().unwrap())
    }
}

#[test]
fn a_task_submitted_over_ipc_completes_and_its_events_reach_the_window() {
    let shell = shell();
    let (tx, rx) = mpsc::channel::<Value>();
    shell.app.listen_any("task-event", move |event| {
        let _ = tx.send(serde_json::from_str(event.payload()).unwrap());
    });
    let task = shell
        .call(
            "submit_task",
            json!({"input": {"prompt": "hello", "model": "stream=3"}}),
        )
        .unwrap();
    assert_eq!(task["status"], "queued");
    let id = task["id"].as_str().unwrap().to_string();

    let mut chunks = 0;
    loop {
        let event = rx.recv_timeout(PATIENCE).expect("no completion event");
        if event["task_id"] != id {
            continue;
        }
        match event["type"].as_str().unwrap() {
            "output" => chunks += 1,
            "state" if event["to"] == "completed" => {
                assert_eq!(event["task"]["output"], "echo: hello");
                break;
            }
            _ => {}
        }
    }
    assert_eq!(chunks, 3);
    let detail = shell.call("get_task", json!({"id": id})).unwrap();
    assert_eq!(detail["task"]["status"], "completed");
}

#[test]
fn a_database_that_cannot_be_opened_is_named_by_every_engine_command_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("baton.redb");
    std::fs::write(&db, b"not a database, and not Baton's").unwrap();
    // The shell starts (the window opens) even so; the engine opens behind it.
    let shell = shell_in(dir);
    for (cmd, args) in [
        (
            "query_tasks",
            json!({"query": {"status": null, "start": null, "chain": null, "search": null, "offset": 0, "limit": 10}}),
        ),
        ("submit_task", json!({"input": {"prompt": "hello"}})),
        ("list_providers", json!({})),
        ("engine_status", json!({})),
    ] {
        let err = shell.call(cmd, args).unwrap_err();
        assert_eq!(err["code"], "engine_unavailable", "{cmd}: {err}");
        let message = err["message"].as_str().unwrap();
        assert!(
            message.starts_with("Baton could not open its database: "),
            "{cmd}: {message}"
        );
    }
    // What needs no engine still answers.
    assert_eq!(shell.call("get_settings", json!({})).unwrap()["workers"], 4);
    assert_eq!(
        std::fs::read(shell.dir.path().join("baton.redb")).unwrap(),
        b"not a database, and not Baton's"
    );
}

#[test]
fn bad_input_comes_back_as_a_coded_error_naming_the_field() {
    let shell = shell();
    let err = shell
        .call("submit_task", json!({"input": {"prompt": "  "}}))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_input");
    assert_eq!(err["field"], "prompt");
    assert_eq!(err["message"], "the prompt is empty");

    let err = shell
        .call(
            "submit_task",
            json!({"input": {"prompt": "p", "start_at": "tomorrow", "max_attempts": 3}}),
        )
        .unwrap_err();
    assert_eq!(err["field"], "start_at");
    // The form's field under its name before the rename is still read.
    let err = shell
        .call(
            "submit_task",
            json!({"input": {"prompt": "p", "run_at": "tomorrow"}}),
        )
        .unwrap_err();
    assert_eq!(err["field"], "start_at");

    let err = shell
        .call(
            "cancel_task",
            json!({"id": "0190a8a0-0000-7000-8000-000000000000"}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "not_found");
    let err = shell.call("get_task", json!({"id": "nope"})).unwrap_err();
    assert_eq!(err["code"], "invalid_input");
    // `schedule`: the start filter's name before the rename, still read.
    let page = shell.call("query_tasks", json!({"query": {"status": null, "schedule": "scheduled", "chain": null, "search": null, "offset": 0, "limit": 10}})).unwrap();
    assert_eq!(page["page"]["total"], 0, "nothing was stored");
}

#[test]
fn query_chain_cancel_and_retry_work_over_ipc() {
    let shell = shell();
    let (tx, events) = mpsc::channel::<Value>();
    shell.app.listen_any("task-event", move |event| {
        let _ = tx.send(serde_json::from_str(event.payload()).unwrap());
    });
    shell.call("set_paused", json!({"paused": true})).unwrap();
    let parent = shell
        .call(
            "submit_task",
            json!({"input": {"prompt": "parent", "start_in_minutes": 60, "tags": ["Ops"]}}),
        )
        .unwrap();
    assert_eq!(parent["status"], "scheduled");
    let pid = parent["id"].as_str().unwrap();
    let child = shell
        .call(
            "chain_task",
            json!({"parentId": pid, "input": {"prompt": "child"}}),
        )
        .unwrap();
    assert_eq!(child["status"], "waiting");

    let query = |extra: Value| {
        let mut q = json!({"status": null, "start": null, "chain": null, "search": null, "offset": 0, "limit": 10});
        q.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        shell.call("query_tasks", json!({"query": q})).unwrap()
    };
    assert_eq!(
        child["tags"],
        json!(["ops"]),
        "a chained task carries its parent's tags"
    );
    // The list follows the engine's events, and applies each before the
    // window hears it: once the child's event is here, the list has it.
    while events
        .recv_timeout(PATIENCE)
        .expect("no event for the child")["task_id"]
        != child["id"]
    {}
    let page = query(json!({"tag": "OPS"}));
    assert_eq!(page["page"]["total"], 2);
    assert_eq!(page["page"]["rows"][0]["tags"], json!(["ops"]));
    assert_eq!(query(json!({"tag": "weekly"}))["page"]["total"], 0);
    let page = query(json!({"chain": "with_children"}));
    assert_eq!(page["counts"]["scheduled"], 1);
    assert_eq!(page["counts"]["waiting"], 1);

    let cancelled = shell
        .call(
            "cancel_task",
            json!({"id": pid, "reason": "changed my mind"}),
        )
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "changed my mind");
    let detail = shell.call("get_task", json!({"id": pid})).unwrap();
    assert_eq!(detail["children"][0]["status"], "cancelled");

    let err = shell
        .call("retry_task", json!({"id": pid, "maxAttempts": 0}))
        .unwrap_err();
    assert_eq!(err["field"], "max_attempts");
    let retried = shell
        .call("retry_task", json!({"id": pid, "maxAttempts": 5}))
        .unwrap();
    assert_eq!(retried["status"], "queued");
    assert_eq!(retried["max_attempts"], 5);
}

#[test]
fn export_and_import_go_through_files_and_report_bad_records() {
    let shell = shell();
    shell.call("set_paused", json!({"paused": true})).unwrap();
    let a = shell
        .call("submit_task", json!({"input": {"prompt": "a"}}))
        .unwrap();
    shell
        .call("submit_task", json!({"input": {"prompt": "b"}}))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("some.json");
    let path = path.to_str().unwrap();
    let n = shell
        .call("export_tasks", json!({"path": path, "ids": [a["id"]]}))
        .unwrap();
    assert_eq!(n, 1);
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("\"format_version\": 3"));

    let report = shell.call("import_tasks", json!({"path": path})).unwrap();
    assert_eq!(report["imported"], 0);
    assert_eq!(report["skipped_existing"][0], a["id"]);

    let mut file: Value = serde_json::from_str(&text).unwrap();
    file["tasks"][0]["id"] = json!("0190a8a0-0000-7000-8000-000000000001");
    file["tasks"][0]["max_attempts"] = json!(99);
    std::fs::write(path, file.to_string()).unwrap();
    let err = shell
        .call("import_tasks", json!({"path": path}))
        .unwrap_err();
    assert_eq!(err["code"], "import_bad_records");
    assert_eq!(err["records"][0]["index"], 0);
    assert!(err["records"][0]["message"]
        .as_str()
        .unwrap()
        .contains("between 1 and 20"));
}

#[test]
fn an_answer_is_saved_whole_to_the_chosen_file_and_a_task_without_one_is_refused() {
    let shell = shell();
    let (tx, rx) = mpsc::channel::<Value>();
    shell.app.listen_any("task-event", move |event| {
        let _ = tx.send(serde_json::from_str(event.payload()).unwrap());
    });
    let done = shell
        .call(
            "submit_task",
            json!({"input": {"prompt": "# hi\n\n- there"}}),
        )
        .unwrap();
    let id = done["id"].as_str().unwrap().to_string();
    loop {
        let event = rx.recv_timeout(PATIENCE).expect("no completion event");
        if event["task_id"] == id && event["to"] == "completed" {
            break;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("answer.md");
    std::fs::write(&path, "an older, longer file that must be replaced whole").unwrap();
    let bytes = shell
        .call(
            "save_output",
            json!({"id": id, "path": path.to_str().unwrap()}),
        )
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "echo: # hi\n\n- there"
    );
    assert_eq!(bytes, "echo: # hi\n\n- there".len());
    // Nothing else is left in the folder (the temporary file was renamed over the target).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    let waiting = shell
        .call(
            "submit_task",
            json!({"input": {"prompt": "later", "start_at": "2099-01-01T00:00:00Z"}}),
        )
        .unwrap();
    let other = dir.path().join("none.md");
    let err = shell
        .call(
            "save_output",
            json!({"id": waiting["id"], "path": other.to_str().unwrap()}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "no_output");
    assert!(
        !other.exists(),
        "a file was written for a task without an answer"
    );
}

#[test]
fn settings_are_applied_saved_and_validated() {
    let shell = shell();
    let settings = shell.call("get_settings", json!({})).unwrap();
    assert_eq!(settings["workers"], 4);
    let (tx, rx) = mpsc::channel::<Value>();
    shell.app.listen_any("status-changed", move |event| {
        let _ = tx.send(serde_json::from_str(event.payload()).unwrap());
    });
    let saved = shell
        .call(
            "update_settings",
            json!({"settings": {"workers": 7, "notifications": false, "start_at_login": false, "api_enabled": false, "check_updates": true}}),
        )
        .unwrap();
    assert_eq!(saved["workers"], 7);
    // The engine's first status (4 workers, sent once it opened) may come first.
    let status = loop {
        let status = rx.recv_timeout(PATIENCE).expect("no status with 7 workers");
        if status["workers"] != 4 {
            break status;
        }
    };
    assert_eq!(status["workers"], 7);
    assert_eq!(
        shell.call("engine_status", json!({})).unwrap()["workers"],
        7
    );
    let err = shell
        .call(
            "update_settings",
            json!({"settings": {"workers": 0, "notifications": true, "start_at_login": false, "api_enabled": false, "check_updates": true}}),
        )
        .unwrap_err();
    assert_eq!(err["field"], "workers");
    assert_eq!(shell.call("get_settings", json!({})).unwrap()["workers"], 7);
    let activity = shell.call("activity", json!({})).unwrap();
    assert_eq!(
        activity["finished_per_minute"].as_array().unwrap().len(),
        30
    );
}

/// Provider settings as the settings form sends them, keyed by `VAR`.
fn provider(name: &str, base_url: &str, var: &str) -> Value {
    json!({
        "name": name,
        "kind": "openai-compatible",
        "base_url": base_url,
        "model": "fake-model",
        "headers": {},
        "limits": {"max_concurrency": 2, "rpm": 60, "tpm": null},
        "key": {"source": "env", "var": var},
        "prices": {"input_per_mtok": 1.5, "output_per_mtok": 6.0},
        "idle_timeout_ms": null
    })
}

#[test]
fn providers_are_saved_listed_validated_and_removed_over_ipc() {
    let shell = shell();
    let local = provider(
        "local",
        "http://127.0.0.1:11434/v1/",
        "BATON_IPC_UNUSED_KEY",
    );
    let saved = shell
        .call("save_provider", json!({"settings": local, "apiKey": null}))
        .unwrap();
    assert_eq!(saved["base_url"], "http://127.0.0.1:11434/v1", "normalised");
    let listed = shell.call("list_providers", json!({})).unwrap();
    assert_eq!(listed, json!([saved]));
    assert_eq!(
        listed[0]["key"],
        json!({"source": "env", "var": "BATON_IPC_UNUSED_KEY"})
    );
    assert_eq!(listed[0]["limits"]["rpm"], 60);

    let mut bad = local.clone();
    bad["base_url"] = json!("ftp://example.com");
    bad["model"] = json!("changed");
    let err = shell
        .call("save_provider", json!({"settings": bad, "apiKey": null}))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_input");
    assert_eq!(err["field"], "base_url");
    let mut zero = local.clone();
    zero["limits"]["rpm"] = json!(0);
    let err = shell
        .call("save_provider", json!({"settings": zero, "apiKey": null}))
        .unwrap_err();
    assert_eq!(err["field"], "limits");
    // A blank key is refused before anything reaches the keychain.
    let err = shell
        .call(
            "save_provider",
            json!({"settings": local, "apiKey": "  \n"}),
        )
        .unwrap_err();
    assert_eq!(err["field"], "key");
    assert_eq!(
        shell.call("list_providers", json!({})).unwrap(),
        json!([saved]),
        "a refused save changes nothing"
    );

    let removed = shell
        .call("remove_provider", json!({"name": "local"}))
        .unwrap();
    assert_eq!(removed["name"], "local");
    assert_eq!(shell.call("list_providers", json!({})).unwrap(), json!([]));
    let err = shell
        .call("remove_provider", json!({"name": "local"}))
        .unwrap_err();
    assert_eq!(err["code"], "not_found");
    let err = shell
        .call("test_provider", json!({"name": "local", "model": null}))
        .unwrap_err();
    assert_eq!(err["code"], "not_found");
}

#[test]
fn a_provider_test_reports_latency_model_and_tokens_and_never_returns_the_key() {
    const VAR: &str = "BATON_IPC_TEST_PROVIDER_KEY";
    const KEY: &str = "sk-ipc-test-0123456789abcdef";
    // A name no other test reads; set before the engine looks it up.
    std::env::set_var(VAR, KEY);
    let shell = shell();
    let server =
        tauri::async_runtime::block_on(FakeServer::start(Reply::text(&["po", "ng"]).usage(9, 1)));
    let settings = provider("fake", &format!("{}/v1", server.url()), VAR);
    shell
        .call(
            "save_provider",
            json!({"settings": settings, "apiKey": null}),
        )
        .unwrap();

    let tested = shell
        .call("test_provider", json!({"name": "fake", "model": null}))
        .unwrap();
    assert_eq!(tested["provider"], "fake");
    assert_eq!(tested["model"], "fake-model");
    assert_eq!(tested["output"], "pong");
    assert_eq!(tested["prompt_tokens"], 9);
    assert_eq!(tested["completion_tokens"], 1);
    assert!(tested["latency_ms"].is_u64());
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let bearer = format!("Bearer {KEY}");
    assert_eq!(requests[0].header("authorization"), Some(bearer.as_str()));

    // The provider echoes the key back in its refusal; the error does not.
    server.push(Reply::error(
        401,
        &format!("Incorrect API key provided: {KEY}"),
    ));
    let err = shell
        .call("test_provider", json!({"name": "fake", "model": "other"}))
        .unwrap_err();
    assert_eq!(err["code"], "provider_auth");
    let listed = shell.call("list_providers", json!({})).unwrap();
    for shown in [&tested, &err, &listed] {
        assert!(!shown.to_string().contains(&KEY[..12]), "{shown}");
    }
}

#[test]
fn a_providers_models_are_listed_and_local_servers_are_only_added_on_request() {
    const VAR: &str = "BATON_IPC_TEST_MODELS_KEY";
    const KEY: &str = "sk-ipc-models-0123456789abcdef";
    std::env::set_var(VAR, KEY);
    let shell = shell();
    let server = tauri::async_runtime::block_on(FakeServer::start(Reply::text(&["ok"])));
    server.set_models(
        fake_llm::ListFormat::LmStudio,
        &["qwen2.5-7b-instruct", "phi-4"],
    );
    let settings = provider("fake", &format!("{}/v1", server.url()), VAR);
    shell
        .call(
            "save_provider",
            json!({"settings": settings, "apiKey": null}),
        )
        .unwrap();

    let models = shell
        .call("provider_models", json!({"name": "fake"}))
        .unwrap();
    assert_eq!(models, json!(["qwen2.5-7b-instruct", "phi-4"]));
    let bearer = format!("Bearer {KEY}");
    assert_eq!(
        server.list_requests()[0].header("authorization"),
        Some(bearer.as_str())
    );
    let err = shell
        .call("provider_models", json!({"name": "nothing"}))
        .unwrap_err();
    assert_eq!(err["code"], "not_found");

    // The real ports: what answers there is this machine's business, but all
    // five are asked and nothing is added by asking.
    let detection = shell.call("detect_local_servers", json!({})).unwrap();
    assert_eq!(
        detection["looked_at"].as_array().unwrap().len(),
        5,
        "{detection}"
    );
    let err = shell
        .call("add_local_server", json!({"name": "no-such-server"}))
        .unwrap_err();
    assert_eq!(err["code"], "not_detected", "{err}");
    let listed = shell.call("list_providers", json!({})).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

/// GET /health with the bearer token, over a plain socket; returns the status line.
fn health(url: &str, token: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        socket,
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).unwrap();
    response.lines().next().unwrap_or_default().to_string()
}

#[test]
fn the_local_api_setting_starts_and_stops_the_http_api() {
    let shell = shell();
    let discovery = shell.dir.path().join("api.json");
    assert!(!discovery.exists(), "the API is off by default");
    let on = json!({"settings": {"workers": 4, "notifications": true, "start_at_login": false, "api_enabled": true, "check_updates": true}});
    shell.call("update_settings", on).unwrap();
    let api: Value = serde_json::from_str(&std::fs::read_to_string(&discovery).unwrap()).unwrap();
    let token = std::fs::read_to_string(api["token_file"].as_str().unwrap()).unwrap();
    let url = api["url"].as_str().unwrap();
    assert_eq!(health(url, token.trim()), "HTTP/1.1 200 OK");
    assert!(health(url, "wrong").starts_with("HTTP/1.1 401"));

    let off = json!({"settings": {"workers": 4, "notifications": true, "start_at_login": false, "api_enabled": false, "check_updates": true}});
    shell.call("update_settings", off).unwrap();
    assert!(
        !discovery.exists(),
        "api.json is removed when the API stops"
    );
    assert!(std::net::TcpStream::connect(url.trim_start_matches("http://")).is_err());
}

#[test]
fn schedules_are_created_previewed_paused_resumed_fired_and_removed_over_ipc() {
    let shell = shell();
    let (tx, rx) = mpsc::channel::<Value>();
    shell.app.listen_any("schedule-changed", move |event| {
        let _ = tx.send(serde_json::from_str(event.payload()).unwrap());
    });
    // The window hears of each change to the schedule with this id.
    let changed = |id: &str| loop {
        let event = rx.recv_timeout(PATIENCE).expect("no schedule event");
        if event["schedule_id"] == id {
            return event;
        }
    };

    let fires = shell
        .call(
            "preview_schedule",
            json!({"cron": "30 9 * * 1-5", "timezone": "Europe/Paris"}),
        )
        .unwrap();
    let fires = fires.as_array().unwrap();
    assert_eq!(fires.len(), 5);
    let err = shell
        .call(
            "preview_schedule",
            json!({"cron": "61 * * * *", "timezone": "UTC"}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_input");
    assert_eq!(err["field"], "cron");
    let err = shell
        .call(
            "preview_schedule",
            json!({"cron": "* * * *", "timezone": "UTC"}),
        )
        .unwrap_err();
    assert_eq!(err["field"], "cron");
    assert!(err["message"].as_str().unwrap().contains("4 fields"));
    let err = shell
        .call(
            "preview_schedule",
            json!({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}),
        )
        .unwrap_err();
    assert_eq!(err["field"], "timezone");

    let input = json!({
        "name": "standup", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris",
        "missed": "skip", "overlap": "queue", "max_lateness_minutes": 30,
        "task": {"prompt": "summarise", "model": "echo", "max_attempts": 2,
                 "timeout_ms": 60_000, "tags": ["Standup"]},
        "follow_ups": ["shorten it"],
    });
    let err = shell
        .call(
            "create_schedule",
            json!({"input": {"name": "x", "cron": "nope nope", "task": {"prompt": "p"}}}),
        )
        .unwrap_err();
    assert_eq!(err["field"], "cron");
    let created = shell
        .call("create_schedule", json!({"input": input}))
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["enabled"], true);
    assert_eq!(created["timezone"], "Europe/Paris");
    assert_eq!(created["overlap"], "queue");
    assert_eq!(created["max_lateness_ms"], 30 * 60 * 1000);
    assert_eq!(created["template"]["follow_ups"], json!(["shorten it"]));
    assert_eq!(created["template"]["tags"], json!(["standup"]));
    assert!(created["next_fire_at"].is_string());
    assert_eq!(changed(&id)["schedule"]["name"], "standup");
    let err = shell
        .call("create_schedule", json!({"input": input}))
        .unwrap_err();
    assert_eq!(err["field"], "name", "{err}");

    let list = shell.call("list_schedules", json!({})).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id);

    let paused = shell.call("pause_schedule", json!({"id": id})).unwrap();
    assert_eq!(paused["enabled"], false);
    assert_eq!(changed(&id)["schedule"]["enabled"], false);
    let resumed = shell.call("resume_schedule", json!({"id": id})).unwrap();
    assert_eq!(resumed["enabled"], true);
    assert_eq!(changed(&id)["schedule"]["enabled"], true);

    let mut edited = input.clone();
    edited["cron"] = json!("15 8 * * *");
    // What the form does not show, it sends back as the schedule has it.
    edited["task"]["name"] = json!("Stand-up notes");
    edited["task"]["system"] = json!("Be brief.");
    edited["task"]["max_tokens"] = json!(200);
    let edited = shell
        .call("update_schedule", json!({"id": id, "input": edited}))
        .unwrap();
    assert_eq!(edited["cron"], "15 8 * * *");
    assert_eq!(edited["template"]["name"], "Stand-up notes");
    assert_eq!(edited["template"]["system"], "Be brief.");
    assert_eq!(edited["template"]["max_tokens"], 200);

    shell.call("set_paused", json!({"paused": true})).unwrap();
    let fired = shell.call("fire_schedule_now", json!({"id": id})).unwrap();
    assert_eq!(fired["schedule"]["fires"], 1);
    let tasks = fired["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "the task and its follow-up");
    assert_eq!(tasks[0]["schedule_id"], id);
    assert_eq!(tasks[0]["prompt"], "summarise");
    assert_eq!(
        tasks[1]["tags"],
        json!(["standup"]),
        "a follow-up carries the tags"
    );
    let detail = shell.call("get_schedule", json!({"id": id})).unwrap();
    assert_eq!(detail["schedule"]["fires"], 1);
    assert!(detail["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == tasks[0]["id"]));

    shell.call("remove_schedule", json!({"id": id})).unwrap();
    loop {
        if changed(&id)["schedule"].is_null() {
            break;
        }
    }
    let list = shell.call("list_schedules", json!({})).unwrap();
    assert_eq!(list, json!([]));
    let err = shell.call("get_schedule", json!({"id": id})).unwrap_err();
    assert_eq!(err["code"], "not_found", "{err}");
    let err = shell
        .call("pause_schedule", json!({"id": "nope"}))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_input");
    // The tasks it created stay.
    let task = shell
        .call("get_task", json!({"id": tasks[0]["id"]}))
        .unwrap();
    assert_eq!(task["task"]["schedule_id"], id);
}

#[test]
fn a_group_is_previewed_mapped_followed_paged_exported_cancelled_and_retried_over_ipc() {
    let shell = shell();
    let (tx, rx) = mpsc::channel::<Value>();
    shell.app.listen_any("task-event", move |event| {
        let _ = tx.send(serde_json::from_str(event.payload()).unwrap());
    });

    // The preview: the columns and at most `limit` rows; a refused input names its field.
    let preview = shell
        .call(
            "preview_rows",
            json!({"source": "lines", "data": "alpha\nbeta\ngamma", "limit": 2}),
        )
        .unwrap();
    assert_eq!(preview["columns"], json!(["item"]));
    assert_eq!(
        preview["rows"],
        json!([{"item": "alpha"}, {"item": "beta"}])
    );
    let err = shell
        .call(
            "preview_rows",
            json!({"source": "lines", "data": "\n \n", "limit": 5}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_input");
    assert!(err["field"].is_string(), "{err}");

    // A refused map creates nothing.
    let map = |name: &str, data: &str| {
        json!({"input": {
            "name": name, "source": "lines", "data": data,
            "task": {"prompt": "Say {{item}}", "model": ""},
            "join": {"instruction": "All of it: {{items}}", "on": "all"},
        }})
    };
    let err = shell.call("map_rows", map("empty", "")).unwrap_err();
    assert_eq!(err["code"], "invalid_input");
    assert_eq!(shell.call("list_groups", json!({})).unwrap(), json!([]));

    let group = shell
        .call("map_rows", map("words", "alpha\nbeta\ngamma"))
        .unwrap();
    assert_eq!(group["total"], 3);
    let id = group["id"].as_str().unwrap().to_string();
    let join = group["join"]["task_id"].clone();
    // The rows run on the mock provider; the join runs last.
    loop {
        let event = rx
            .recv_timeout(PATIENCE)
            .expect("the join did not complete");
        if event["type"] == "state" && event["task_id"] == join && event["to"] == "completed" {
            assert!(event["task"]["group"]["group_id"] == id.as_str());
            break;
        }
    }
    let shown = shell.call("get_group", json!({"key": "WORDS"})).unwrap();
    assert_eq!(shown["status"], "completed");
    assert_eq!(shown["completed"], 3);

    // Rows a page at a time, in input order.
    let page = |offset: u32, limit: u32| {
        shell
            .call(
                "group_tasks",
                json!({"id": id, "offset": offset, "limit": limit}),
            )
            .unwrap()
    };
    let first = page(0, 2);
    assert_eq!(first.as_array().unwrap().len(), 2);
    assert_eq!(first[0]["group"]["row"], 1);
    assert_eq!(first[1]["prompt"], "Say beta");
    assert_eq!(page(2, 2)[0]["group"]["row"], 3);

    // The export replaces the chosen file whole; nothing else is left beside it.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("words.jsonl");
    std::fs::write(&out, "an older file\n".repeat(100)).unwrap();
    let n = shell
        .call(
            "export_group",
            json!({"id": id, "format": "jsonl", "path": out.to_str().unwrap()}),
        )
        .unwrap();
    assert_eq!(n, 3);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.lines().next().unwrap().contains("alpha"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // Cancel while nothing runs, then retry: every row comes back.
    shell.call("set_paused", json!({"paused": true})).unwrap();
    let held = shell.call("map_rows", map("held", "one\ntwo")).unwrap();
    let cancelled = shell
        .call("cancel_group", json!({"id": held["id"]}))
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancelled"], 2);
    let retried = shell
        .call("retry_group", json!({"id": held["id"]}))
        .unwrap();
    assert_eq!(retried["status"], "running");
    assert_eq!(retried["cancelled"], 0);
    let err = shell.call("retry_group", json!({"id": id})).unwrap_err();
    assert_eq!(
        err["code"], "invalid_input",
        "nothing to retry in a completed group"
    );
    let err = shell
        .call("get_group", json!({"key": "no such group"}))
        .unwrap_err();
    assert_eq!(err["code"], "not_found");
}

#[test]
fn a_rows_file_over_the_limit_is_refused_by_its_size_before_it_is_read() {
    let shell = shell();
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("rows.txt");
    std::fs::write(&small, "alpha\nbeta\n").unwrap();
    let text = shell
        .call("read_rows_file", json!({"path": small.to_str().unwrap()}))
        .unwrap();
    assert_eq!(text, "alpha\nbeta\n");

    // Sparse: the size says too big, and no disk is spent on it.
    let big = dir.path().join("big.csv");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(baton_engine::MAX_MAP_INPUT_BYTES + 1).unwrap();
    let err = shell
        .call("read_rows_file", json!({"path": big.to_str().unwrap()}))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_input");
    assert!(err["message"].as_str().unwrap().contains("limit"), "{err}");

    let missing = dir.path().join("missing.csv");
    let err = shell
        .call("read_rows_file", json!({"path": missing.to_str().unwrap()}))
        .unwrap_err();
    assert_eq!(err["code"], "file_unreadable");
}

#[test]
fn bindings_are_up_to_date() {
    let fresh = tempfile::NamedTempFile::new().unwrap();
    baton_desktop::export_bindings(fresh.path().to_str().unwrap()).unwrap();
    let fresh = std::fs::read_to_string(fresh.path()).unwrap();
    let committed = std::fs::read_to_string(baton_desktop::BINDINGS_PATH).unwrap_or_default();
    if fresh != committed {
        std::fs::write(baton_desktop::BINDINGS_PATH, &fresh).unwrap();
        panic!("ui/src/bindings.ts was stale and has been regenerated: review and commit it");
    }
}

#[test]
fn the_window_may_call_every_command_and_nothing_else() {
    let capability: Value =
        serde_json::from_str(include_str!("../capabilities/default.json")).unwrap();
    let granted: Vec<&str> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    let bindings = std::fs::read_to_string(baton_desktop::BINDINGS_PATH).unwrap();
    // Each command is invoked as `__TAURI_INVOKE("name"` or `__TAURI_INVOKE<T>("name"`.
    let invoked: Vec<String> = bindings
        .match_indices("__TAURI_INVOKE")
        .filter_map(|(i, m)| {
            let rest = &bindings[i + m.len()..];
            let rest = rest
                .strip_prefix('(')
                .or_else(|| Some(&rest[rest.find(">(")? + 2..]))?;
            let name = rest.strip_prefix('"')?;
            Some(name[..name.find('"')?].to_string())
        })
        .collect();
    assert!(!invoked.is_empty());
    for cmd in &invoked {
        let permission = format!("allow-{}", cmd.replace('_', "-"));
        assert!(
            granted.contains(&permission.as_str()),
            "{permission} is not granted"
        );
    }
    let app_grants = granted.iter().filter(|p| p.starts_with("allow-")).count();
    assert_eq!(
        app_grants,
        invoked.len(),
        "a granted command is not in the bindings"
    );
}

/// Submits a task named `name` and returns once the list has it (the
/// forwarder applies an event to the catalog before the window hears it).
fn submit_named(shell: &Shell, name: &str) {
    let (tx, rx) = mpsc::channel::<Value>();
    let listener = shell.app.listen_any("task-event", move |event| {
        let _ = tx.send(serde_json::from_str(event.payload()).unwrap());
    });
    let task = shell
        .call(
            "submit_task",
            json!({"input": {"prompt": "hello", "name": name}}),
        )
        .unwrap();
    while rx.recv_timeout(PATIENCE).expect("no event of the task")["task_id"] != task["id"] {}
    shell.app.unlisten(listener);
}

/// The tasks the list shows, by name.
fn names(shell: &Shell) -> Vec<String> {
    let page = shell
        .call(
            "query_tasks",
            json!({"query": {"status": null, "start": null, "chain": null, "search": null, "offset": 0, "limit": 100}}),
        )
        .unwrap();
    let mut names: Vec<String> = page["page"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

fn settings_file(shell: &Shell) -> String {
    std::fs::read_to_string(shell.dir.path().join("settings.json")).unwrap_or_default()
}

#[test]
fn a_shared_queue_url_that_is_not_postgres_is_one_sentence_and_changes_nothing() {
    let shell = shell();
    submit_named(&shell, "kept here");
    for url in [
        "db.example:5432/baton",
        "mysql://baton@db.example/baton",
        "postgres://baton:hunter2-in-url@db.example/baton",
    ] {
        let err = shell
            .call(
                "use_shared_queue",
                json!({"url": url, "password": "typed-secret-1", "runTasks": true}),
            )
            .unwrap_err();
        assert_eq!(err["code"], "invalid_input", "{url}: {err}");
        assert_eq!(err["field"], "url", "{url}: {err}");
        let text = err.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("typed-secret"),
            "{text}"
        );
    }
    assert_eq!(
        shell.call("shared_queue_settings", json!({})).unwrap(),
        json!({"url": null, "run_tasks": true, "password_saved": false})
    );
    assert_eq!(
        shell.call("shared_queue_status", json!({})).unwrap(),
        Value::Null
    );
    assert!(!settings_file(&shell).contains("shared_queue"));
    assert_eq!(names(&shell), ["kept here"]);
}

#[test]
fn an_unreachable_shared_queue_is_one_sentence_without_the_password_and_the_app_stays_put() {
    let shell = shell();
    submit_named(&shell, "kept here");
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let url = "postgres://baton@127.0.0.1:1/baton";
    let password = "s3cret-p@ss/word";
    let err = shell
        .call(
            "use_shared_queue",
            json!({"url": url, "password": password, "runTasks": true}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "database_unavailable", "{err}");
    assert_eq!(err["field"], "url", "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.starts_with("Baton could not open the shared queue baton@127.0.0.1:1/baton: "),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
    let text = err.to_string();
    assert!(
        !text.contains("s3cret") && !text.contains("p%40ss"),
        "the password leaked: {text}"
    );
    // Nothing changed: no password filed, no choice saved, the same database.
    assert_eq!(
        shell
            .passwords
            .get("shared-queue baton@127.0.0.1:1/baton")
            .unwrap(),
        None
    );
    assert!(!settings_file(&shell).contains("shared_queue"));
    assert_eq!(
        shell.call("shared_queue_status", json!({})).unwrap(),
        Value::Null
    );
    assert_eq!(names(&shell), ["kept here"]);
}

#[test]
fn the_app_moves_to_a_shared_queue_and_back_and_each_time_shows_that_databases_tasks() {
    let db = baton_testkit::TestDatabase::new("desktop_switch");
    let shell = shell();
    submit_named(&shell, "on this computer");
    let (resyncs, resynced) = mpsc::channel::<()>();
    shell.app.listen_any("resync", move |_| {
        let _ = resyncs.send(());
    });
    let (tx, events) = mpsc::channel::<Value>();
    shell.app.listen_any("task-event", move |event| {
        let _ = tx.send(serde_json::from_str(event.payload()).unwrap());
    });

    // The test cluster trusts loopback, so any password opens it: what matters
    // here is where it goes (the keychain) and where it never appears.
    let password = "queue-password-never-shown";
    let saved = shell
        .call(
            "use_shared_queue",
            json!({"url": db.url(), "password": password, "runTasks": true}),
        )
        .unwrap();
    assert_eq!(
        saved,
        json!({"url": db.url(), "run_tasks": true, "password_saved": true})
    );
    resynced
        .recv_timeout(PATIENCE)
        .expect("the window was not told to reload");
    let name = db.url().trim_start_matches("postgres://");
    let status = shell.call("shared_queue_status", json!({})).unwrap();
    assert_eq!(
        status,
        json!({"name": name, "runners": 1, "runs_tasks_here": true})
    );
    assert!(names(&shell).is_empty(), "{:?}", names(&shell));
    assert_eq!(
        shell
            .passwords
            .get(&format!("shared-queue {name}"))
            .unwrap()
            .as_deref(),
        Some(password)
    );
    let file = settings_file(&shell);
    assert!(
        file.contains(db.url()) && !file.contains(password),
        "{file}"
    );

    // Tasks run on the shared queue, and their events reach the window.
    let task = shell
        .call(
            "submit_task",
            json!({"input": {"prompt": "hello", "name": "on the queue"}}),
        )
        .unwrap();
    loop {
        let event = events.recv_timeout(PATIENCE).expect("no completion event");
        if event["task_id"] == task["id"] && event["to"] == "completed" {
            break;
        }
    }
    assert_eq!(names(&shell), ["on the queue"]);

    // Following only: this computer is no runner; the saved password is used.
    let saved = shell
        .call(
            "use_shared_queue",
            json!({"url": db.url(), "password": null, "runTasks": false}),
        )
        .unwrap();
    assert_eq!(
        saved,
        json!({"url": db.url(), "run_tasks": false, "password_saved": true})
    );
    let status = shell.call("shared_queue_status", json!({})).unwrap();
    assert_eq!(
        status,
        json!({"name": name, "runners": 0, "runs_tasks_here": false})
    );
    assert_eq!(names(&shell), ["on the queue"]);

    // Back on this computer's database, with its own tasks.
    let saved = shell.call("use_local_database", json!({})).unwrap();
    assert_eq!(
        saved,
        json!({"url": null, "run_tasks": true, "password_saved": false})
    );
    assert_eq!(
        shell.call("shared_queue_status", json!({})).unwrap(),
        Value::Null
    );
    assert_eq!(names(&shell), ["on this computer"]);
    assert!(!settings_file(&shell).contains("shared_queue"));
    // Nothing a command answered carried the password.
    for (cmd, args) in [
        ("get_settings", json!({})),
        ("shared_queue_settings", json!({})),
        ("engine_status", json!({})),
    ] {
        let answer = shell.call(cmd, args).unwrap().to_string();
        assert!(!answer.contains(password), "{cmd}: {answer}");
    }
}

#[test]
fn a_saved_shared_queue_that_cannot_be_reached_at_start_is_named_and_the_app_can_go_back() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("settings.json"),
        r#"{"workers": 2, "shared_queue": {"url": "postgres://baton@127.0.0.1:1/baton", "run_tasks": true}}"#,
    )
    .unwrap();
    let shell = shell_in(dir);
    let err = shell.call("engine_status", json!({})).unwrap_err();
    assert_eq!(err["code"], "engine_unavailable", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Baton could not open the shared queue baton@127.0.0.1:1/baton: "),
        "{err}"
    );
    // The form still shows the saved choice, and going back needs no engine.
    assert_eq!(
        shell.call("shared_queue_settings", json!({})).unwrap(),
        json!({"url": "postgres://baton@127.0.0.1:1/baton", "run_tasks": true, "password_saved": false})
    );
    let saved = shell.call("use_local_database", json!({})).unwrap();
    assert_eq!(saved["url"], Value::Null);
    assert_eq!(
        shell.call("engine_status", json!({})).unwrap()["workers"],
        2
    );
    assert_eq!(
        shell.call("get_settings", json!({})).unwrap()["workers"],
        2,
        "the other settings were kept"
    );
    assert!(!settings_file(&shell).contains("shared_queue"));
}
