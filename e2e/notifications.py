#!/usr/bin/env python3
"""A stand-in for the desktop's notification server (org.freedesktop.Notifications, the
Desktop Notifications Specification) on the session bus of DBUS_SESSION_BUS_ADDRESS, for the
desktop end-to-end tests: Xvfb has no notification daemon.

Writes one JSON line per event on stdout: {"ready": true} once it owns the name, then
{"notify": {...}} for each Notify call (id, app_name, summary, body, actions, sender). Reads
commands on stdin, one a line:

    invoke ID ACTION   ActionInvoked(ID, ACTION), then NotificationClosed(ID, 2), as a server
                       does when the notification is clicked
    close ID           NotificationClosed(ID, 3)

Signals go to the connection that sent the notification, as GNOME Shell and dunst send them,
so the app must listen on the connection it sent with. It exits when stdin closes.
"""

import json
import sys

import dbus
import dbus.bus
import dbus.lowlevel
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
INTERFACE = NAME

# NotificationClosed reasons.
DISMISSED = 2
CLOSED_BY_CALL = 3


def say(event):
    print(json.dumps(event), flush=True)


class Server(dbus.service.Object):
    def __init__(self, bus):
        super().__init__(bus, PATH)
        self.bus = bus
        self.last_id = 0
        # Notification id -> the unique name of the connection that sent it.
        self.senders = {}

    @dbus.service.method(INTERFACE, in_signature="susssasa{sv}i", out_signature="u", sender_keyword="sender")
    def Notify(self, app_name, replaces_id, app_icon, summary, body, actions, hints, expire_timeout, sender=None):
        if replaces_id:
            nid = int(replaces_id)
        else:
            self.last_id += 1
            nid = self.last_id
        self.senders[nid] = str(sender)
        say(
            {
                "notify": {
                    "id": nid,
                    "app_name": str(app_name),
                    "summary": str(summary),
                    "body": str(body),
                    "actions": [str(a) for a in actions],
                    "expire_timeout": int(expire_timeout),
                    "sender": str(sender),
                }
            }
        )
        return dbus.UInt32(nid)

    @dbus.service.method(INTERFACE, in_signature="u", out_signature="")
    def CloseNotification(self, nid):
        self.closed(int(nid), CLOSED_BY_CALL)

    @dbus.service.method(INTERFACE, in_signature="", out_signature="as")
    def GetCapabilities(self):
        return ["actions", "body"]

    @dbus.service.method(INTERFACE, in_signature="", out_signature="ssss")
    def GetServerInformation(self):
        return ("baton-e2e-notifications", "baton", "1.0", "1.2")

    def signal(self, nid, member, signature, *args):
        message = dbus.lowlevel.SignalMessage(PATH, INTERFACE, member)
        sender = self.senders.get(nid)
        if sender:
            message.set_destination(sender)
        message.append(*args, signature=signature)
        self.bus.send_message(message)

    def invoke(self, nid, action):
        self.signal(nid, "ActionInvoked", "us", dbus.UInt32(nid), action)
        self.closed(nid, DISMISSED)

    def closed(self, nid, reason):
        self.signal(nid, "NotificationClosed", "uu", dbus.UInt32(nid), dbus.UInt32(reason))
        self.senders.pop(nid, None)


def main():
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    server = Server(bus)
    # Do not queue behind another server: fail if the name is taken.
    reply = bus.request_name(NAME, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
    if reply != dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER:
        sys.exit(f"notifications.py: {NAME} is taken on this bus")
    loop = GLib.MainLoop()

    def on_stdin(source, condition):
        line = sys.stdin.readline()
        if not line:
            loop.quit()
            return False
        words = line.split()
        if words[:1] == ["invoke"] and len(words) == 3:
            server.invoke(int(words[1]), words[2])
        elif words[:1] == ["close"] and len(words) == 2:
            server.closed(int(words[1]), CLOSED_BY_CALL)
        elif words:
            print(f"notifications.py: unknown command {line.strip()!r}", file=sys.stderr, flush=True)
        say({"done": line.strip()})
        return True

    GLib.io_add_watch(sys.stdin, GLib.IO_IN | GLib.IO_HUP, on_stdin)
    say({"ready": True})
    loop.run()


if __name__ == "__main__":
    main()
