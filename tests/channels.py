"""A channel for tests that run real Celery workers: it counts every send per delivery in
Redis, so the test process can see across processes that each went out exactly once."""

import os
import time

import redis
from django.conf import settings

from notifications.channels import Channel, Message

SENDS_KEY = "afterglow:test:sends"


def sends_client() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


class RecordingChannel(Channel):
    name = "console"

    def __init__(self):
        self._redis = sends_client()
        self._delay = int(os.environ.get("AFTERGLOW_TEST_CHANNEL_DELAY_MS", "0")) / 1000

    def send(self, delivery, message: Message) -> str:
        if self._delay:
            time.sleep(self._delay)  # a slow provider, so a test can kill a worker mid-send
        self._redis.hincrby(SENDS_KEY, str(delivery.id), 1)
        return f"recorded-{delivery.id}"
