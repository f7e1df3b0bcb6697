"""What the services share, below them: what a replica is told and what a message asks of the task list.

- :mod:`.briefing`: the context a replica is told before a message (memories, bonds, evolution), once per change.
- :mod:`.task_commands` and :mod:`.task_list`: what a chat message asks of the user's task list, and carrying it out.
- :mod:`.due_times`: due times said in words ("tomorrow at 5pm").
- :mod:`.evolution_paths`: the evolution paths a replica can be told it follows.
- :mod:`.conversation`: one replica conversation turn (store the message, apply its task command, brief the
  replica, run the reply), used by chat and by the prototypes that talk to a replica.
"""
