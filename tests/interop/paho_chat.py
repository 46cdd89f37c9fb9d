#!/usr/bin/env python3
"""The origin's terminal chat, as the paho-mqtt sample does it (client id = user name,
subscribe chat/<room>/#, publish plain text on chat/<room>/<name>, own messages filtered).
Used by tests/integration/classic.test.ts to prove the web app and this client talk both ways.

usage: paho_chat.py HOST PORT ROOM NAME
Reads lines from stdin and publishes them; prints "[HH:MM:SS] user: text" for others' messages.
"""
import sys
import time

import paho.mqtt.client as mqtt

host, port, room, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
topic = f"chat/{room}/{name}"


def on_connect(client, userdata, flags, rc):
    client.subscribe(f"chat/{room}/#", qos=1)


def on_subscribe(client, userdata, mid, granted_qos):
    print("READY", flush=True)


def on_message(client, userdata, message):
    sender = message.topic.split("/")[-1]
    if sender == name:  # own messages are filtered, as in the origin
        return
    text = message.payload.decode("utf-8", errors="replace")
    print(f"[{time.strftime('%H:%M:%S')}] {sender}: {text}", flush=True)


client = mqtt.Client(client_id=name, clean_session=True)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.will_set(topic, payload=f"{name} left", qos=1, retain=False)
client.connect(host, port, keepalive=30)
client.loop_start()
for line in sys.stdin:
    line = line.rstrip("\n")
    if line:
        client.publish(topic, line.encode("utf-8"), qos=1).wait_for_publish()
        print("SENT", flush=True)
client.loop_stop()
client.disconnect()
