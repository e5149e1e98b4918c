// Config lives at the repository root, so point tauri-build at the capabilities kept here.
// The app manifest lists the app's own commands, so each must be granted to a window
// by a capability (src-tauri/capabilities/) before the window can call it.
const COMMANDS: &[&str] = &[
    "submit_task",
    "chain_task",
    "cancel_task",
    "retry_task",
    "get_task",
    "resend_delivery",
    "store_webhook_secret",
    "query_tasks",
    "export_tasks",
    "import_tasks",
    "save_output",
    "get_settings",
    "update_settings",
    "set_paused",
    "engine_status",
    "activity",
    "open_log_folder",
    "check_for_update",
    "update_status",
    "install_update",
    "take_open_request",
    "quit",
    "list_budgets",
    "set_budget",
    "remove_budget",
    "list_providers",
    "save_provider",
    "remove_provider",
    "test_provider",
    "provider_models",
    "detect_local_servers",
    "add_local_server",
    "list_schedules",
    "get_schedule",
    "preview_schedule",
    "create_schedule",
    "update_schedule",
    "pause_schedule",
    "resume_schedule",
    "remove_schedule",
    "fire_schedule_now",
    "map_rows",
    "read_rows_file",
    "preview_rows",
    "list_groups",
    "get_group",
    "group_tasks",
    "cancel_group",
    "retry_group",
    "export_group",
    "shared_queue_settings",
    "shared_queue_status",
    "use_shared_queue",
    "use_local_database",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(error) = tauri_build::try_build(attributes) {
        eprintln!("tauri-build failed: {error:#}");
        std::process::exit(1);
    }
}
