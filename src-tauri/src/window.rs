//! The main window comes and goes; the engine stays. Closing the window destroys
//! it and its webview (most of the app's memory: the WebKit processes, the page,
//! GTK's widgets), so the app in the tray is a light runner holding the engine
//! alone. Show makes the window again from `tauri.conf.json`, and the page loads
//! its state from the engine as at first start.

use tauri::{AppHandle, Manager, Runtime, WebviewWindow, WebviewWindowBuilder};

/// The label of the window defined in `tauri.conf.json`.
pub const MAIN: &str = "main";

/// The command-line flag to start in the tray (start at login passes it).
pub const HIDDEN_ARG: &str = "--hidden";

/// Makes the app start without its window (and so without a webview) until Show.
pub fn start_hidden<R: Runtime>(context: &mut tauri::Context<R>) {
    for window in &mut context.config_mut().app.windows {
        window.create = false;
    }
}

/// Shows the main window, making it again if it was closed.
pub fn show<R: Runtime>(app: &AppHandle<R>) {
    let window = match app.get_webview_window(MAIN) {
        Some(window) => window,
        None => match create(app) {
            Ok(window) => window,
            Err(e) => {
                tracing::error!(error = %e, "could not make the window again");
                return;
            }
        },
    };
    let _ = window.show();
    let _ = window.unminimize();
    let _ = window.set_focus();
}

/// The main window from its entry in the app's config, so its size, title and
/// the rest are defined once.
pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<WebviewWindow<R>> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN)
        .cloned()
        .ok_or_else(|| tauri::Error::WindowNotFound)?;
    tracing::info!("making the window");
    WebviewWindowBuilder::from_config(app, &config)?.build()
}

/// After the window is destroyed, hands back what the window's side leaves
/// resident in this process (Linux): glibc keeps the freed heap in its arenas,
/// and the pages of GTK, WebKit, JavaScriptCore and Mesa that drew the window
/// stay mapped though nothing runs them until the window is made again.
/// Nothing is done if a window is back by then (a quick Show).
pub fn release_memory<R: Runtime>(app: &AppHandle<R>) {
    if !app.webview_windows().is_empty() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks glibc's own arenas; any thread may call it.
        unsafe { libc::malloc_trim(0) };
        stop_network_process();
        // The kernel reclaims only pages no other process maps, so wait (off
        // the main thread) for WebKit's processes, which map the same libraries,
        // to be gone.
        let app = app.clone();
        let spawned = std::thread::Builder::new()
            .name("release-memory".into())
            .spawn(move || {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                while !webkit_children().is_empty() && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                if !app.webview_windows().is_empty() {
                    return;
                }
                match reclaim_clean_file_pages() {
                    Ok(kib) => tracing::info!(kib, "handed back the window's memory"),
                    Err(e) => tracing::debug!(error = %e, "could not read /proc/self/smaps"),
                }
            });
        if let Err(e) = spawned {
            tracing::debug!(error = %e, "memory not handed back");
        }
    }
}

/// WebKitGTK keeps its network process (~60 MiB resident) while the app runs,
/// though no page is left (wry keeps the web context on Linux for this reason:
/// tauri issue 14626). Nothing of ours lives in it (the UI keeps no cookies or
/// web storage), and WebKit starts a new one for the next page, as after a
/// crash of it; so it is asked to exit. Not under WebDriver (tauri-driver sets
/// `TAURI_WEBVIEW_AUTOMATION`): WebKit ends the automation session with it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn stop_network_process() {
    if std::env::var("TAURI_WEBVIEW_AUTOMATION").as_deref() == Ok("true") {
        tracing::info!("WebKit's network process kept: WebDriver's session lives in it");
        return;
    }
    for (pid, comm) in webkit_children() {
        // comm is cut at 15 bytes.
        if comm == "WebKitNetworkPr" {
            // SAFETY: kill has no memory effects; the pid is our own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            tracing::info!(pid, "stopped WebKit's network process");
        }
    }
}

/// This process's WebKit children (pid and the 15-byte comm), from /proc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn webkit_children() -> Vec<(i32, String)> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c);
        let mut rest = tail.split_whitespace();
        let state = rest.next();
        let parent = rest.next();
        // A zombie (state Z) maps nothing any more.
        if parent == Some(me.as_str()) && state != Some("Z") && comm.starts_with("WebKit") {
            found.push((pid, comm.to_string()));
        }
    }
    found
}

/// Asks the kernel to reclaim this process's resident pages of read-only
/// private file mappings (library and program code, constants) that were never
/// written: such a page is the file's own, so reclaiming it only unmaps it and
/// the next touch reads it back. `MADV_PAGEOUT`, not `MADV_DONTNEED`: it never
/// discards data (an anonymous page is only swapped, or kept), so a mapping
/// replaced between reading smaps and this call (a library unloaded, its range
/// reused by the allocator) loses nothing. Pages other processes map too are
/// left. Returns the KiB asked for (Linux 5.4 and later; older kernels refuse
/// the advice, and nothing changes).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn reclaim_clean_file_pages() -> std::io::Result<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut dropped = 0;
    for mapping in clean_file_mappings(&smaps) {
        // SAFETY: MADV_PAGEOUT is a hint that changes no memory's contents,
        // whatever is mapped at the range by the time it runs (see above).
        let done = unsafe {
            libc::madvise(
                mapping.start as *mut libc::c_void,
                mapping.end - mapping.start,
                libc::MADV_PAGEOUT,
            )
        };
        if done == 0 {
            dropped += mapping.rss_kib;
        }
    }
    Ok(dropped)
}

/// A mapping from `/proc/self/smaps`.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    start: usize,
    end: usize,
    rss_kib: u64,
}

/// The private, read-only, file-backed mappings with resident pages and no
/// page copied on write.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
fn clean_file_mappings(smaps: &str) -> Vec<Mapping> {
    let mut found = Vec::new();
    // (mapping, eligible so far) for the header being read.
    let mut current: Option<(Mapping, bool)> = None;
    let mut anonymous = 0;
    let mut finish = |current: Option<(Mapping, bool)>, anonymous: u64| {
        if let Some((mapping, true)) = current {
            if anonymous == 0 && mapping.rss_kib > 0 {
                found.push(mapping);
            }
        }
    };
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some((start, end)) = first.split_once('-') {
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                continue;
            };
            finish(current.take(), anonymous);
            anonymous = 0;
            let perms = words.next().unwrap_or("");
            let inode = words.nth(2).unwrap_or("0");
            let eligible =
                perms.len() == 4 && !perms.contains('w') && perms.ends_with('p') && inode != "0";
            current = Some((
                Mapping {
                    start,
                    end,
                    rss_kib: 0,
                },
                eligible,
            ));
            continue;
        }
        let kib = words
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        match (first, current.as_mut()) {
            ("Rss:", Some((mapping, _))) => mapping.rss_kib = kib,
            ("Anonymous:", Some(_)) => anonymous = kib,
            _ => {}
        }
    }
    finish(current, anonymous);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use tauri::test::{mock_builder, mock_context, noop_assets};
    use tauri::utils::config::WindowConfig;

    /// The state after a close: the app runs and its config defines the window,
    /// but there is none (the mock runtime cannot destroy one, so it starts so).
    const SMAPS: &str = "\
5600a000-5600c000 r--p 00000000 fd:01 42    /usr/lib/libfoo.so
Size:                  8 kB
Rss:                   8 kB
Anonymous:             0 kB
5600c000-5600e000 r-xp 00002000 fd:01 42    /usr/lib/libfoo.so
Rss:                   4 kB
Anonymous:             0 kB
5600e000-56010000 r--p 00004000 fd:01 42    /usr/lib/libfoo.so
Rss:                   8 kB
Anonymous:             4 kB
56010000-56012000 rw-p 00006000 fd:01 42    /usr/lib/libfoo.so
Rss:                   8 kB
Anonymous:             8 kB
56012000-56014000 r-xp 00000000 00:00 0 
Rss:                   8 kB
Anonymous:             8 kB
56014000-56016000 r--s 00000000 fd:01 43    /usr/share/shared.db
Rss:                   8 kB
Anonymous:             0 kB
56016000-56018000 r-xp 00000000 fd:01 44    /usr/lib/libcold.so
Rss:                   0 kB
Anonymous:             0 kB
";

    #[test]
    fn only_read_only_file_pages_never_written_are_dropped() {
        let found = clean_file_mappings(SMAPS);
        assert_eq!(
            found,
            vec![
                Mapping {
                    start: 0x5600a000,
                    end: 0x5600c000,
                    rss_kib: 8
                },
                Mapping {
                    start: 0x5600c000,
                    end: 0x5600e000,
                    rss_kib: 4
                },
            ],
            "relocated (copied-on-write), writable, anonymous, shared and non-resident mappings stay"
        );
    }

    #[test]
    fn show_makes_the_window_from_the_config_when_there_is_none() {
        let mut context = mock_context(noop_assets());
        context.config_mut().app.windows = vec![WindowConfig {
            label: MAIN.into(),
            title: "Baton".into(),
            create: false,
            ..Default::default()
        }];
        let app = mock_builder().build(context).unwrap();
        assert!(app.get_webview_window(MAIN).is_none());

        show(app.handle());
        assert!(
            app.get_webview_window(MAIN).is_some(),
            "Show made no window"
        );

        // Showing again shows the same window; there is one.
        show(app.handle());
        assert_eq!(app.webview_windows().len(), 1);
    }
}
