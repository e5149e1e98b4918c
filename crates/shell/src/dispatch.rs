//! A command by name, with its arguments as JSON: how a window in another
//! process reaches the shell (docs/tray-runner.md). Generated from the same
//! list as the Tauri commands, so each command is still written once, and its
//! arguments are named as the TypeScript bindings send them (camelCase).

use crate::commands;
use crate::error::CommandError;
use crate::state::AppState;
use serde_json::Value;

macro_rules! dispatcher {
    ($($(#[$doc:meta])* $module:ident::$name:ident($($arg:ident: $ty:ty),*) -> $answer:ty;)*) => {
        /// Runs the command `name` with `args` (a JSON object of its
        /// arguments; `null` for none) and answers its result as JSON. An
        /// unknown name or arguments that do not fit are one sentence, and
        /// nothing runs.
        pub async fn dispatch(
            state: &AppState,
            name: &str,
            args: Value,
        ) -> Result<Value, CommandError> {
            use commands::signature::*;
            match name {
                $(stringify!($name) => {
                    #[derive(serde::Deserialize)]
                    #[serde(rename_all = "camelCase", deny_unknown_fields)]
                    struct Args { $($arg: $ty),* }
                    let Args { $($arg),* } = arguments(name, args)?;
                    answer(commands::$module::$name(state, $($arg),*).await?)
                })*
                _ => Err(CommandError::new(
                    "unknown_command",
                    format!("there is no command '{name}'"),
                )),
            }
        }

        /// Every command [`dispatch`] knows, in the list's order.
        pub const COMMANDS: &[&str] = &[$(stringify!($name)),*];
    };
}

crate::for_each_command!(dispatcher);

fn arguments<T: serde::de::DeserializeOwned>(name: &str, args: Value) -> Result<T, CommandError> {
    let args = match args {
        Value::Null => Value::Object(Default::default()),
        args => args,
    };
    serde_json::from_value(args).map_err(|e| {
        CommandError::new(
            "invalid_arguments",
            format!("the arguments of '{name}' do not fit: {e}"),
        )
    })
}

fn answer<T: serde::Serialize>(value: T) -> Result<Value, CommandError> {
    serde_json::to_value(value)
        .map_err(|e| CommandError::new("internal", format!("the answer could not be encoded: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::follow::ToWindow;
    use crate::testing::opened;
    use serde_json::json;

    #[tokio::test]
    async fn a_command_runs_by_name_with_the_arguments_the_bindings_send() {
        let dir = tempfile::tempdir().unwrap();
        let (state, mut window) = opened(dir.path(), None).await;
        let parent = dispatch(&state, "submit_task", json!({"input": {"prompt": "p"}}))
            .await
            .unwrap();
        // `parent_id` arrives as the bindings name it.
        let child = dispatch(
            &state,
            "chain_task",
            json!({"parentId": parent["id"], "input": {"prompt": "c"}}),
        )
        .await
        .unwrap();
        assert_eq!(child["parent_task_id"], parent["id"]);
        let detail = dispatch(&state, "get_task", json!({"id": parent["id"]}))
            .await
            .unwrap();
        assert_eq!(detail["children"][0]["id"], child["id"]);
        // What it changed reaches the window as events.
        let completed = async {
            while let Some(event) = window.recv().await {
                if let ToWindow::Task(event) = event {
                    if let baton_engine::EventKind::State { to, task, .. } = &event.kind {
                        if *to == baton_engine::TaskState::Completed
                            && serde_json::json!(task.id) == parent["id"]
                        {
                            return;
                        }
                    }
                }
            }
            panic!("the events stopped");
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), completed)
            .await
            .expect("no completion reached the window");
        // No arguments: `null` as well as `{}`.
        let settings = dispatch(&state, "get_settings", Value::Null).await.unwrap();
        assert_eq!(
            settings,
            dispatch(&state, "get_settings", json!({})).await.unwrap()
        );
        state.shutdown().await;
    }

    #[tokio::test]
    async fn an_unknown_command_or_arguments_that_do_not_fit_are_one_sentence_and_run_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (state, _window) = opened(dir.path(), None).await;
        let err = dispatch(&state, "drop_tables", json!({}))
            .await
            .unwrap_err();
        assert_eq!(err.code, "unknown_command");
        assert_eq!(err.message, "there is no command 'drop_tables'");
        for args in [
            json!({}),
            json!({"input": {"prompt": 3}}),
            json!({"input": {"prompt": "p"}, "extra": 1}),
        ] {
            let err = dispatch(&state, "submit_task", args.clone())
                .await
                .unwrap_err();
            assert_eq!(err.code, "invalid_arguments", "{args}");
            assert!(err
                .message
                .starts_with("the arguments of 'submit_task' do not fit: "));
        }
        // The engine's own refusals come through as they are.
        let err = dispatch(&state, "submit_task", json!({"input": {"prompt": " "}}))
            .await
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("prompt"));
        let page = dispatch(
            &state,
            "query_tasks",
            json!({"query": {"offset": 0, "limit": 10}}),
        )
        .await
        .unwrap();
        assert_eq!(page["counts"]["queued"], 0, "nothing was stored");
        state.shutdown().await;
    }

    #[test]
    fn every_command_name_is_listed_once() {
        let mut names = COMMANDS.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len());
    }
}
