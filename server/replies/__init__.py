"""The one reply pipeline (ask a replica, stream deltas, keep the reply, report failure) and the replica directory."""

from .directory import ReplicaDirectory
from .jobs import Audience, Reply, ReplyJob, RoomAudience, UserAudience
from .pipeline import Replies, ReplyStorage
from .storages import CallerReplies, StreamReplies

__all__ = [
    "Audience",
    "CallerReplies",
    "Reply",
    "ReplyJob",
    "Replies",
    "ReplicaDirectory",
    "ReplyStorage",
    "RoomAudience",
    "StreamReplies",
    "UserAudience",
]
