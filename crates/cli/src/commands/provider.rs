//! `baton provider add|list|remove|test|models|detect`: the LLM providers tasks
//! can name, the models each lists, and local servers found on loopback.
//! Settings go to the database (through the running engine's API when there is
//! one); a key given with `--key-stdin` goes to the OS keychain of the machine
//! running the engine, and `--key-env VAR` stores only the variable's name (the
//! variable is read by the process that runs the tasks).

use super::with_backend;
use crate::error::CliError;
use crate::output;
use baton_api::wire::Secret;
use baton_engine::{ApiKey, KeyRef, Limits, ProviderKind, ProviderSettings};
use clap::{Args, Subcommand};
use std::io::Read;
use std::path::Path;

#[derive(Debug, Args)]
pub struct ProviderArgs {
    #[command(subcommand)]
    pub command: ProviderCommand,
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Add a provider, or replace one of the same name
    Add(Box<AddArgs>),
    /// List the providers tasks can use
    List(ListArgs),
    /// Remove a provider (and its key from the keychain)
    Remove(NameArgs),
    /// Send one tiny request; print the model, latency and tokens
    Test(TestArgs),
    /// List the models a provider offers
    Models(ModelsArgs),
    /// Look for Ollama, LM Studio, llama.cpp's server, Jan and vLLM on this
    /// machine (127.0.0.1, their usual ports); add one with --add NAME
    Detect(DetectArgs),
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    pub name: String,
    /// Print one JSON array
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Add the server found under this NAME (the NAME column) as a provider
    #[arg(long, value_name = "NAME")]
    pub add: Option<String>,
    /// Print what was found as JSON (with --add: the added provider)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Letters, digits, '-', '_' and '.'; tasks name it with --provider
    pub name: String,
    /// openai-compatible (OpenAI, Ollama, LM Studio, llama.cpp, vLLM, LiteLLM,
    /// OpenRouter, Groq), anthropic, or mock
    #[arg(long, value_name = "K")]
    pub kind: String,
    /// e.g. https://api.openai.com/v1, http://localhost:11434/v1, https://api.anthropic.com
    #[arg(long, value_name = "URL", default_value = "")]
    pub base_url: String,
    /// The model tasks get when they name none
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// Read the API key from this environment variable at each request
    #[arg(long, value_name = "VAR", conflicts_with = "key_stdin")]
    pub key_env: Option<String>,
    /// Read the API key from standard input and store it in the OS keychain
    #[arg(long)]
    pub key_stdin: bool,
    /// Requests in flight at once
    #[arg(long, value_name = "N")]
    pub max_concurrency: Option<u32>,
    /// Requests per minute
    #[arg(long, value_name = "N")]
    pub rpm: Option<u32>,
    /// Tokens per minute (prompt estimate + max_tokens, reconciled with reported usage)
    #[arg(long, value_name = "N")]
    pub tpm: Option<u64>,
    /// Price in USD per million input tokens (with --output-price, gives task costs)
    #[arg(long, value_name = "USD", requires = "output_price")]
    pub input_price: Option<f64>,
    /// Price in USD per million output tokens
    #[arg(long, value_name = "USD", requires = "input_price")]
    pub output_price: Option<f64>,
    /// Extra header sent with every request, NAME:VALUE (repeatable)
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// Longest silence from the server before a request counts as stalled (e.g. 120s)
    #[arg(long, value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// A model's context window in tokens, MODEL=TOKENS (repeatable): which
    /// fallbacks a prompt too long for one model moves to [default: from the model list]
    #[arg(long = "context-window", value_name = "MODEL=TOKENS")]
    pub context_windows: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print one JSON array
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    pub name: String,
    /// The model to try [default: the provider's]
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn run(db: &Path, args: ProviderArgs) -> Result<(), CliError> {
    match args.command {
        ProviderCommand::Add(a) => add(db, *a).await,
        ProviderCommand::List(a) => list(db, a).await,
        ProviderCommand::Remove(a) => remove(db, a).await,
        ProviderCommand::Test(a) => test(db, a).await,
        ProviderCommand::Models(a) => models(db, a).await,
        ProviderCommand::Detect(a) => detect(db, a).await,
    }
}

/// The settings `add` describes, checked before the database is opened.
fn settings(args: &AddArgs) -> Result<ProviderSettings, CliError> {
    let kind: ProviderKind = args.kind.parse().map_err(CliError::Usage)?;
    if kind != ProviderKind::Mock && args.base_url.trim().is_empty() {
        return Err(CliError::usage(format!(
            "a {kind} provider needs --base-url URL"
        )));
    }
    let mut s = ProviderSettings::new(args.name.clone(), kind, args.base_url.clone());
    s.model = args.model.clone();
    s.limits = Limits {
        max_concurrency: args.max_concurrency,
        rpm: args.rpm,
        tpm: args.tpm,
    };
    if let Some(var) = &args.key_env {
        s.key = KeyRef::Env { var: var.clone() };
    }
    if let (Some(input), Some(output)) = (args.input_price, args.output_price) {
        s.prices = Some(baton_engine::Prices {
            input_per_mtok: input,
            output_per_mtok: output,
        });
    }
    for header in &args.headers {
        let (name, value) = header.split_once(':').ok_or_else(|| {
            CliError::usage(format!("--header '{header}' must look like NAME:VALUE"))
        })?;
        s.headers
            .insert(name.trim().to_string(), value.trim().to_string());
    }
    if let Some(idle) = &args.idle_timeout {
        s.idle_timeout_ms =
            Some(crate::input::duration("--idle-timeout", idle)?.as_millis() as u64);
    }
    for window in &args.context_windows {
        let parsed = window
            .rsplit_once('=')
            .and_then(|(m, n)| Some((m.trim(), n.trim().parse::<u32>().ok()?)))
            .filter(|(m, n)| !m.is_empty() && *n > 0);
        let (model, tokens) = parsed.ok_or_else(|| {
            CliError::usage(format!(
                "--context-window '{window}' must look like MODEL=TOKENS, with TOKENS a whole number above 0"
            ))
        })?;
        s.context_windows.insert(model.to_string(), tokens);
    }
    Ok(s)
}

async fn add(db: &Path, args: AddArgs) -> Result<(), CliError> {
    let settings = settings(&args)?;
    let key = if args.key_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            CliError::usage(format!("cannot read the key from standard input: {e}"))
        })?;
        if ApiKey::new(text.as_str()).is_none() {
            return Err(CliError::usage(
                "--key-stdin read an empty key from standard input",
            ));
        }
        Some(Secret::new(text.trim()))
    } else {
        None
    };
    let saved = with_backend(db, |backend| async move {
        backend.save_provider(settings, key).await
    })
    .await?;
    output::emit(&format!(
        "provider '{}' saved ({}{})\n",
        saved.name,
        saved.kind,
        key_note(&saved.key)
    ))
}

fn key_note(key: &KeyRef) -> String {
    match key {
        KeyRef::None => ", no key".into(),
        KeyRef::Env { var } => format!(", key from ${var}"),
        KeyRef::Keychain => ", key in the OS keychain".into(),
    }
}

async fn list(db: &Path, args: ListArgs) -> Result<(), CliError> {
    let (configured, builtin) =
        with_backend(db, |backend| async move { backend.providers().await }).await?;
    if args.json {
        return output::emit(&output::json(&configured)?);
    }
    let mut out = String::new();
    for name in builtin {
        out.push_str(&format!("{name}  (built-in)\n"));
    }
    for s in &configured {
        let mut limits = Vec::new();
        if let Some(n) = s.limits.max_concurrency {
            limits.push(format!("max {n} at once"));
        }
        if let Some(n) = s.limits.rpm {
            limits.push(format!("{n} rpm"));
        }
        if let Some(n) = s.limits.tpm {
            limits.push(format!("{n} tpm"));
        }
        if let Some(l) = &s.lowered_concurrency {
            limits.push(format!(
                "for now {} at once until {} (it kept interrupting answers)",
                l.max_concurrency,
                l.until.format("%H:%M:%S UTC")
            ));
        }
        out.push_str(&format!(
            "{}  {}  {}  model {}{}{}\n",
            s.name,
            s.kind,
            if s.base_url.is_empty() {
                "-"
            } else {
                &s.base_url
            },
            s.model.as_deref().unwrap_or("-"),
            key_note(&s.key),
            if limits.is_empty() {
                String::new()
            } else {
                format!(", {}", limits.join(", "))
            }
        ));
    }
    output::emit(&out)
}

async fn remove(db: &Path, args: NameArgs) -> Result<(), CliError> {
    let name = args.name.trim().to_string();
    let removed = with_backend(
        db,
        |backend| async move { backend.remove_provider(&name).await },
    )
    .await?;
    output::emit(&format!("provider '{}' removed\n", removed.name))
}

async fn test(db: &Path, args: TestArgs) -> Result<(), CliError> {
    let name = args.name.trim().to_string();
    let model = args.model;
    let report = with_backend(db, |backend| async move {
        backend.test_provider(&name, model).await
    })
    .await?;
    if args.json {
        return output::emit(&output::json(&report)?);
    }
    let tokens = |n: Option<u64>| n.map_or("?".into(), |n| n.to_string());
    output::emit(&format!(
        "provider '{}' answered: model {}, {} ms (first token after {}), {} prompt + {} completion tokens\n",
        report.provider,
        report.model,
        report.latency_ms,
        report.ttft_ms.map_or("-".into(), |ms| format!("{ms} ms")),
        tokens(report.prompt_tokens),
        tokens(report.completion_tokens),
    ))
}

async fn models(db: &Path, args: ModelsArgs) -> Result<(), CliError> {
    let name = args.name.trim().to_string();
    let models = with_backend(
        db,
        |backend| async move { backend.provider_models(&name).await },
    )
    .await?;
    if args.json {
        return output::emit(&output::json(&models)?);
    }
    if models.is_empty() {
        return output::emit(&format!(
            "provider '{}' lists no models\n",
            args.name.trim()
        ));
    }
    output::emit(&models.iter().map(|m| format!("{m}\n")).collect::<String>())
}

async fn detect(db: &Path, args: DetectArgs) -> Result<(), CliError> {
    if let Some(name) = args.add {
        let name = name.trim().to_string();
        let added = with_backend(db, |backend| async move {
            backend.add_local_server(&name).await
        })
        .await?;
        if args.json {
            return output::emit(&output::json(&added)?);
        }
        return output::emit(&format!(
            "provider '{}' saved (openai-compatible at {}, default model {}, no key)\n",
            added.name,
            added.base_url,
            added.model.as_deref().unwrap_or("none")
        ));
    }
    let found = with_backend(
        db,
        |backend| async move { backend.detect_local_servers().await },
    )
    .await?;
    if args.json {
        return output::emit(&output::json(&found)?);
    }
    output::emit(&output::local_servers(&found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: ProviderCommand,
    }

    fn add_args(args: &[&str]) -> AddArgs {
        let mut all = vec!["provider", "add"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).unwrap().command {
            ProviderCommand::Add(a) => *a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn add_flags_become_settings() {
        let s = settings(&add_args(&[
            "groq",
            "--kind",
            "openai-compatible",
            "--base-url",
            "https://api.groq.com/openai/v1",
            "--model",
            "llama-3.1-8b-instant",
            "--key-env",
            "GROQ_API_KEY",
            "--rpm",
            "30",
            "--tpm",
            "6000",
            "--max-concurrency",
            "4",
            "--header",
            "X-Title: Baton",
            "--input-price",
            "0.05",
            "--output-price",
            "0.08",
            "--idle-timeout",
            "90s",
            "--context-window",
            "llama-3.1-8b=131072",
            "--context-window",
            "qwen:7b=32768",
        ]))
        .unwrap();
        assert_eq!(s.kind, ProviderKind::OpenaiCompatible);
        assert_eq!(
            s.key,
            KeyRef::Env {
                var: "GROQ_API_KEY".into()
            }
        );
        assert_eq!(
            (s.limits.rpm, s.limits.tpm, s.limits.max_concurrency),
            (Some(30), Some(6000), Some(4))
        );
        assert_eq!(s.headers.get("X-Title").map(String::as_str), Some("Baton"));
        assert_eq!(s.idle_timeout_ms, Some(90_000));
        assert!(s.prices.is_some());
        assert_eq!(
            s.context_windows.into_iter().collect::<Vec<_>>(),
            [
                ("llama-3.1-8b".to_string(), 131_072),
                ("qwen:7b".to_string(), 32_768)
            ]
        );
    }

    #[test]
    fn bad_add_flags_are_refused_before_anything_opens() {
        let err = settings(&add_args(&[
            "x",
            "--kind",
            "gemini",
            "--base-url",
            "http://h",
        ]))
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown provider kind 'gemini'"),
            "{err}"
        );
        let err = settings(&add_args(&["x", "--kind", "anthropic"])).unwrap_err();
        assert!(err.to_string().contains("--base-url"), "{err}");
        let err = settings(&add_args(&["x", "--kind", "mock", "--header", "nocolon"])).unwrap_err();
        assert!(err.to_string().contains("NAME:VALUE"), "{err}");
        for bad in ["m", "m=0", "=5", "m=lots"] {
            let err =
                settings(&add_args(&["x", "--kind", "mock", "--context-window", bad])).unwrap_err();
            assert!(err.to_string().contains("MODEL=TOKENS"), "{bad}: {err}");
        }
        let both = Cli::try_parse_from([
            "p",
            "add",
            "x",
            "--kind",
            "mock",
            "--key-env",
            "V",
            "--key-stdin",
        ]);
        assert!(both.is_err());
    }
}
