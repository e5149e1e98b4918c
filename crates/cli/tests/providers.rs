//! `baton provider …` and the submit flags for real providers, through the real
//! binary. The provider kind `mock` stands in for a server: it needs no network;
//! with an engine running, a fake OpenAI-compatible server (crates/fake-llm) does.

mod common;

use common::{count, Baton};
use fake_llm::{FakeServer, Reply};

#[test]
fn a_provider_is_added_listed_used_tested_and_removed() {
    let baton = Baton::new();
    let saved = baton.ok(&[
        "provider",
        "add",
        "local",
        "--kind",
        "mock",
        "--model",
        "echo",
        "--rpm",
        "600",
        "--max-concurrency",
        "2",
        "--key-env",
        "LOCAL_KEY",
        "--input-price",
        "1",
        "--output-price",
        "2",
    ]);
    assert_eq!(
        saved,
        "provider 'local' saved (mock, key from $LOCAL_KEY)\n"
    );

    let listed = baton.ok(&["provider", "list"]);
    assert!(listed.contains("mock  (built-in)"), "{listed}");
    assert!(
        listed.contains("local  mock") && listed.contains("600 rpm"),
        "{listed}"
    );
    let json = baton.json(&["provider", "list", "--json"]);
    assert_eq!(json[0]["name"], "local");
    assert_eq!(json[0]["key"]["var"], "LOCAL_KEY");
    assert_eq!(json[0]["limits"]["max_concurrency"], 2);

    let id = baton.submit(&[
        "hello",
        "--provider",
        "local",
        "--system",
        "be brief",
        "--temperature",
        "0.5",
        "--max-tokens",
        "32",
    ]);
    baton.run_until_idle();
    let task = baton.task(&id);
    assert_eq!(task["status"], "completed");
    assert_eq!(task["llm_provider"], "local");
    assert_eq!(task["system"], "be brief");
    assert_eq!(task["temperature"], 0.5);
    assert_eq!(task["max_tokens"], 32);
    // The mock reports usage at about four bytes a token: "hello", "echo: hello".
    assert_eq!(
        (
            task["prompt_tokens"].as_u64(),
            task["completion_tokens"].as_u64()
        ),
        (Some(2), Some(3))
    );
    assert!(task["cost_usd"].as_f64().unwrap() > 0.0);
    let shown = baton.ok(&["show", &id]);
    assert!(
        shown.contains("tokens:") && shown.contains("2 prompt, 3 completion"),
        "{shown}"
    );

    let tested = baton.ok(&["provider", "test", "local"]);
    assert!(
        tested.starts_with("provider 'local' answered: model echo,"),
        "{tested}"
    );

    assert_eq!(
        baton.ok(&["provider", "remove", "local"]),
        "provider 'local' removed\n"
    );
    let refused = baton.refuse(&["submit", "x", "--provider", "local"]);
    assert_eq!(refused.status, 2);
    assert!(
        refused.message.contains("unknown provider 'local'"),
        "{}",
        refused.message
    );
}

#[test]
fn bad_provider_and_generation_flags_are_refused_with_exit_2() {
    let baton = Baton::new();
    for (args, says) in [
        (
            &[
                "provider",
                "add",
                "x",
                "--kind",
                "gemini",
                "--base-url",
                "http://h",
            ][..],
            "unknown provider kind",
        ),
        (
            &["provider", "add", "x", "--kind", "anthropic"][..],
            "--base-url",
        ),
        (
            &["provider", "add", "a b", "--kind", "mock"][..],
            "may only hold",
        ),
        (
            &["provider", "add", "mock", "--kind", "mock"][..],
            "built-in",
        ),
        (
            &[
                "provider",
                "add",
                "x",
                "--kind",
                "openai-compatible",
                "--base-url",
                "ftp://h",
            ][..],
            "http://",
        ),
        (
            &["provider", "remove", "nothing"][..],
            "no provider is named 'nothing'",
        ),
        (
            &["submit", "x", "--temperature", "3"][..],
            "between 0 and 2",
        ),
        (
            &["submit", "x", "--max-tokens", "0"][..],
            "max_tokens must be between",
        ),
    ] {
        let refused = baton.refuse(args);
        assert_eq!(refused.status, 2, "{args:?}: {}", refused.message);
        assert!(
            refused.message.contains(says),
            "{args:?}: {}",
            refused.message
        );
    }
}

#[test]
fn a_key_from_stdin_goes_to_the_keychain_or_is_refused_saying_there_is_none() {
    let baton = Baton::new();
    let name = format!("kc-test-{}", std::process::id());
    let out = baton.output_with_stdin(
        &[
            "provider",
            "add",
            &name,
            "--kind",
            "anthropic",
            "--base-url",
            "https://api.anthropic.com",
            "--key-stdin",
        ],
        b"sk-ant-cli-keychain-test\n",
    );
    if out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("key in the OS keychain"), "{said}");
        baton.ok(&["provider", "remove", &name]);
    } else {
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("no OS keychain") && said.contains("--key-env"),
            "{said}"
        );
        assert!(!said.contains("sk-ant-cli"), "{said}");
        assert_eq!(baton.ok(&["provider", "list"]).trim(), "mock  (built-in)");
    }
    let db = std::fs::read(baton.db_file()).unwrap();
    assert!(
        !db.windows(10).any(|w| w == b"sk-ant-cli"),
        "the key is in the database file"
    );
}

#[test]
fn provider_commands_go_through_a_running_engine_api() {
    // The key lives in the engine's environment only: the commands never see it.
    const VAR: &str = "BATON_CLI_TEST_PROVIDER_KEY";
    const KEY: &str = "sk-cli-env-0123456789abcdef";
    const SENT: &str = "sk-cli-sent-fedcba9876543210";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(FakeServer::start(Reply::text(&["po", "ng"]).usage(9, 1)));
    let baton = Baton::new();
    let mut engine = baton.spawn_env(&["run"], &[(VAR, KEY)]);
    engine.wait_for("the engine to start", |log| {
        count(log, &["engine started"]) > 0
    });

    let base_url = format!("{}/v1", server.url());
    assert_eq!(
        baton.ok(&[
            "provider",
            "add",
            "fake",
            "--kind",
            "openai-compatible",
            "--base-url",
            &base_url,
            "--model",
            "fake-model",
            "--key-env",
            VAR,
            "--rpm",
            "600",
        ]),
        format!("provider 'fake' saved (openai-compatible, key from ${VAR})\n")
    );
    let listed = baton.ok(&["provider", "list"]);
    assert!(listed.contains("mock  (built-in)"), "{listed}");
    assert!(
        listed.contains("fake  openai-compatible") && listed.contains("600 rpm"),
        "{listed}"
    );
    let json = baton.json(&["provider", "list", "--json"]);
    assert_eq!(json[0]["name"], "fake");
    assert_eq!(json[0]["key"]["var"], VAR);

    let tested = baton.ok(&["provider", "test", "fake"]);
    assert!(
        tested.starts_with("provider 'fake' answered: model fake-model,")
            && tested.contains("9 prompt + 1 completion tokens"),
        "{tested}"
    );
    let tested = baton.json(&["provider", "test", "fake", "--json"]);
    assert_eq!(tested["output"], "pong");
    let bearer = format!("Bearer {KEY}");
    for request in server.requests() {
        assert_eq!(request.header("authorization"), Some(bearer.as_str()));
    }
    // A task names it at once: the running engine installed it.
    let id = baton.submit(&["hello", "--provider", "fake"]);
    baton.ok(&["wait"]);
    assert_eq!(baton.task(&id)["output"], "pong");

    // The provider echoes the key in its refusal; the command does not.
    server.push(Reply::error(
        401,
        &format!("Incorrect API key provided: {KEY}"),
    ));
    let refused = baton.refuse(&["provider", "test", "fake", "--model", "other"]);
    assert_eq!(refused.status, 1, "{}", refused.message);
    assert!(
        refused.message.contains("[redacted]") && !refused.message.contains(&KEY[..12]),
        "{}",
        refused.message
    );

    // A key for the keychain, refused (before the keychain is reached) without
    // being echoed, though the bad URL holds it.
    let out = baton.output_with_stdin(
        &[
            "provider",
            "add",
            "kc",
            "--kind",
            "anthropic",
            "--base-url",
            &format!("ftp://{SENT}"),
            "--key-stdin",
        ],
        SENT.as_bytes(),
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("must start with http://") && !said.contains(&SENT[..12]),
        "{said}"
    );
    for (args, says) in [
        (
            &["provider", "add", "mock", "--kind", "mock"][..],
            "built-in",
        ),
        (
            &["provider", "remove", "nothing"][..],
            "no provider is named 'nothing'",
        ),
    ] {
        let refused = baton.refuse(args);
        assert_eq!(refused.status, 2, "{args:?}: {}", refused.message);
        assert!(
            refused.message.contains(says),
            "{args:?}: {}",
            refused.message
        );
    }

    assert_eq!(
        baton.ok(&["provider", "remove", "fake"]),
        "provider 'fake' removed\n"
    );
    engine.kill();
    // Without an engine the commands open the database, which holds the change.
    assert_eq!(baton.ok(&["provider", "list"]).trim(), "mock  (built-in)");
    let export = baton.ok(&["export"]);
    assert!(!export.contains(&KEY[..12]) && !export.contains(&SENT[..12]));
    let db = std::fs::read(baton.db_file()).unwrap();
    assert!(
        !db.windows(12)
            .any(|w| w == &KEY.as_bytes()[..12] || w == &SENT.as_bytes()[..12]),
        "a key is in the database file"
    );
}

/// Fake servers on the REAL ports of Ollama (11434), LM Studio (1234), llama.cpp's
/// server (8080), Jan (1337) and vLLM (8000), each answering in its own server's
/// model-list format. This is the only test that binds those ports (one
/// function, so no other test here runs against them at the same time).
#[test]
fn local_servers_on_their_usual_ports_are_detected_and_added_only_when_asked() {
    use fake_llm::ListFormat;
    let servers: [(u16, ListFormat, &[&str]); 5] = [
        (
            11434,
            ListFormat::Ollama,
            &["llama3.2:latest", "qwen2.5:7b"],
        ),
        (1234, ListFormat::LmStudio, &["qwen2.5-7b-instruct"]),
        (
            8080,
            ListFormat::LlamaCpp,
            &["Llama-3.2-3B-Instruct-Q4_K_M.gguf"],
        ),
        (
            1337,
            ListFormat::Jan,
            &[
                "llama3.2-3b-instruct",
                "mistral-ins-7b-q4",
                "qwen2.5-coder",
                "phi-4",
            ],
        ),
        (
            8000,
            ListFormat::Vllm,
            &["meta-llama/Llama-3.1-8B-Instruct"],
        ),
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fakes: Vec<FakeServer> = servers
        .iter()
        .map(|(port, format, models)| {
            let fake = runtime
                .block_on(FakeServer::start_on(
                    ([127, 0, 0, 1], *port).into(),
                    Reply::text(&["local ", "answer"]),
                ))
                .unwrap_or_else(|e| {
                    panic!("cannot listen on 127.0.0.1:{port} ({e}); stop what listens there")
                });
            fake.set_models(*format, models);
            fake
        })
        .collect();
    let baton = Baton::new();
    let unchanged = baton.ok(&["provider", "list", "--json"]);

    let found = baton.json(&["provider", "detect", "--json"]);
    let expected = [
        ("ollama", "ollama", "Ollama"),
        ("lm-studio", "lm-studio", "LM Studio"),
        ("llama-cpp", "llama-cpp", "llama.cpp server"),
        ("jan", "jan", "Jan"),
        ("vllm", "vllm", "vLLM"),
    ];
    let list = found["found"].as_array().unwrap();
    assert_eq!(list.len(), 5, "{found}");
    for ((server, (kind, name, label)), (port, _, models)) in
        list.iter().zip(expected).zip(&servers)
    {
        assert_eq!(server["kind"], kind, "{server}");
        assert_eq!(server["name"], name, "{server}");
        assert_eq!(server["label"], label, "{server}");
        assert_eq!(server["base_url"], format!("http://127.0.0.1:{port}/v1"));
        assert_eq!(server["models"], serde_json::json!(models), "{server}");
        assert_eq!(server["configured_as"], serde_json::Value::Null);
    }
    assert_eq!(found["unrecognised"], serde_json::json!([]));
    let table = baton.ok(&["provider", "detect"]);
    assert!(
        table.starts_with("KIND")
            && table.contains("llama.cpp server  llama-cpp  http://127.0.0.1:8080/v1")
            && table.contains("4: llama3.2-3b-instruct, mistral-ins-7b-q4, qwen2.5-coder, …")
            && table.contains("--add NAME"),
        "{table}"
    );
    // Nothing was added by looking.
    assert_eq!(baton.ok(&["provider", "list", "--json"]), unchanged);

    // A name that was not found: refused, naming what was, and nothing added.
    let refused = baton.refuse(&["provider", "detect", "--add", "gpt4all"]);
    assert_eq!(refused.status, 2, "{}", refused.message);
    assert_eq!(
        refused.message,
        "no local server to add as 'gpt4all' answered on 127.0.0.1 \
         (found: ollama, lm-studio, llama-cpp, jan, vllm)"
    );
    assert_eq!(baton.ok(&["provider", "list", "--json"]), unchanged);

    // The step: added, and a task runs on it.
    assert_eq!(
        baton.ok(&["provider", "detect", "--add", "ollama"]),
        "provider 'ollama' saved (openai-compatible at http://127.0.0.1:11434/v1, \
         default model llama3.2:latest, no key)\n"
    );
    let providers = baton.json(&["provider", "list", "--json"]);
    assert_eq!(providers.as_array().unwrap().len(), 1);
    assert_eq!(providers[0]["name"], "ollama");
    assert_eq!(providers[0]["kind"], "openai-compatible");
    assert_eq!(providers[0]["key"]["source"], "none");
    assert_eq!(
        baton.ok(&["provider", "models", "ollama"]),
        "llama3.2:latest\nqwen2.5:7b\n"
    );
    let id = baton.submit(&["hello", "--provider", "ollama"]);
    baton.run_until_idle();
    let task = baton.task(&id);
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["output"], "local answer");
    assert_eq!(task["llm_model"], "llama3.2:latest");
    let asked = fakes[0].requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].body["model"], "llama3.2:latest");

    // Found again, it is the provider it became.
    let again = baton.json(&["provider", "detect", "--json"]);
    assert_eq!(again["found"][0]["configured_as"], "ollama");
    assert!(baton
        .ok(&["provider", "detect"])
        .contains("Ollama            ollama (added)"));
    let twice = baton.refuse(&["provider", "detect", "--add", "ollama"]);
    assert_eq!(twice.status, 2);
    assert!(
        twice.message.contains("is provider 'ollama' already"),
        "{}",
        twice.message
    );

    // Through a running engine's API: the same, and the engine adds it.
    let mut engine = baton.spawn(&["run"]);
    engine.wait_for("the engine to start", |log| {
        count(log, &["engine started"]) > 0
    });
    let through_api = baton.json(&["provider", "detect", "--json"]);
    assert_eq!(through_api["found"], again["found"]);
    let refused = baton.refuse(&["provider", "detect", "--add", "gpt4all"]);
    assert_eq!(refused.status, 2, "{}", refused.message);
    assert!(refused
        .message
        .starts_with("no local server to add as 'gpt4all'"));
    let added = baton.json(&["provider", "detect", "--add", "vllm", "--json"]);
    assert_eq!(added["base_url"], "http://127.0.0.1:8000/v1");
    assert_eq!(added["model"], "meta-llama/Llama-3.1-8B-Instruct");
    let names: Vec<String> = baton
        .json(&["provider", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["ollama", "vllm"]);
    assert_eq!(
        baton.json(&["provider", "models", "vllm", "--json"]),
        serde_json::json!(["meta-llama/Llama-3.1-8B-Instruct"])
    );
    engine.kill();
    drop(fakes);
}
