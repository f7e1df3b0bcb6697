"""The one reply pipeline (ask a replica, stream deltas, keep the reply, report failure) and the replica directory."""

from .directory import ReplicaDirectory
from .jobs import Audience, Reply, ReplyJob, RoomAudience, UserAudience
from .leases import Leases
from .pipeline import Replies
from .storages import CallerReplies, DurableStorage, ReplyStorage, StreamReplies

__all__ = [
    "Audience",
    "CallerReplies",
    "DurableStorage",
    "Leases",
    "Reply",
    "ReplyJob",
    "Replies",
    "ReplicaDirectory",
    "ReplyStorage",
    "RoomAudience",
    "StreamReplies",
    "UserAudience",
]
