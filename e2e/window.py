#!/usr/bin/python3
"""The app's main window as the X server sees it, for e2e/window.mjs.

    window.py state PID TITLE   prints "shown", "hidden" or "missing"
    window.py close PID TITLE   asks the window to close the way a window manager does
    window.py id PID TITLE      prints the window's X id (for `import -window`)

Closing sends the ICCCM WM_DELETE_WINDOW client message, which GTK turns into a
delete-event and Tauri into WindowEvent::CloseRequested. (Xvfb runs no window manager,
and this Debian's xdotool predates `windowclose`, hence python3-xlib.)
"""

import sys

from Xlib import X, Xatom, display, protocol


def find(d, pid, title):
    net_wm_pid = d.intern_atom("_NET_WM_PID")
    net_wm_name = d.intern_atom("_NET_WM_NAME")
    utf8 = d.intern_atom("UTF8_STRING")
    # Without a window manager, top-level windows are the root's direct children.
    for window in d.screen().root.query_tree().children:
        owner = window.get_full_property(net_wm_pid, Xatom.CARDINAL)
        if not owner or owner.value[0] != pid:
            continue
        name = window.get_full_property(net_wm_name, utf8)
        name = name.value.decode() if name else window.get_wm_name()
        if name == title:
            return window
    return None


def main():
    command, pid, title = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    d = display.Display()
    window = find(d, pid, title)
    if command == "state":
        if window is None:
            print("missing")
        else:
            shown = window.get_attributes().map_state == X.IsViewable
            print("shown" if shown else "hidden")
    elif command == "id":
        if window is None:
            sys.exit(f"window.py: no window '{title}' of process {pid}")
        print(hex(window.id))
    elif command == "close":
        if window is None:
            sys.exit(f"window.py: no window '{title}' of process {pid}")
        protocols = d.intern_atom("WM_PROTOCOLS")
        delete = d.intern_atom("WM_DELETE_WINDOW")
        if delete not in (window.get_wm_protocols() or []):
            sys.exit("window.py: the window does not accept WM_DELETE_WINDOW")
        event = protocol.event.ClientMessage(
            window=window, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])
        )
        window.send_event(event, event_mask=X.NoEventMask)
        d.flush()
    else:
        sys.exit(f"window.py: unknown command {command}")


if __name__ == "__main__":
    main()
