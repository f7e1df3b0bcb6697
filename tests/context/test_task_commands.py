"""The task-command parser: many phrasings of each command, and ordinary chat left alone."""

from __future__ import annotations

import pytest

from server.context.task_commands import TaskCommand, parse_command


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("add task buy milk", "buy milk"),
        ("Add a task: Buy Milk", "Buy Milk"),
        ("ADD TASK call mom", "call mom"),
        ("please add buy milk to my task list", "buy milk"),
        ("Add buy eggs to my to-do list please", "buy eggs"),
        ("new task - call the plumber", "call the plumber"),
        ("create a new task: renew passport.", "renew passport"),
        ("can you add a task to water the plants", "water the plants"),
        ("remind me to pay rent!", "pay rent"),
        ("todo: fix the bike", "fix the bike"),
        ('add task "Call the bank"', "Call the bank"),
        ("  add   task   spaced    out  ", "spaced out"),
    ],
)
def test_add_phrasings(text: str, description: str) -> None:
    """Every way of asking to add a task yields the description, in its original case."""
    assert parse_command(text) == TaskCommand("add", description=description)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("complete task 2", 2),
        ("COMPLETE TASK 1", 1),
        ("mark 2 done", 2),
        ("Mark task #3 as done.", 3),
        ("mark the 2nd task as complete", 2),
        ("task 2 is done", 2),
        ("Task 3 completed!", 3),
        ("#4 done", 4),
        ("I finished task 4", 4),
        ("done with task 1", 1),
        ("check off task two", 2),
        ("finish the second task", 2),
        ("complete 3 please", 3),
        ("could you mark task 12 as finished?", 12),
    ],
)
def test_complete_phrasings(text: str, position: int) -> None:
    """Completing names the task by its 1-based position, in digits, words or ordinals."""
    assert parse_command(text) == TaskCommand("complete", position=position)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("delete task 2", 2),
        ("Remove Task 3", 3),
        ("remove task 3 from my list", 3),
        ("Drop #4", 4),
        ("get rid of task five", 5),
        ("cancel task 1", 1),
        ("could you please delete task 2?", 2),
        ("remove the first task", 1),
        ("erase item 7", 7),
    ],
)
def test_delete_phrasings(text: str, position: int) -> None:
    """Deleting accepts delete, remove, drop, erase, cancel and "get rid of"."""
    assert parse_command(text) == TaskCommand("delete", position=position)


@pytest.mark.parametrize(
    "text",
    [
        "list tasks",
        "List my tasks",
        "show my tasks",
        "Show me my task list",
        "show all my tasks please",
        "what are my tasks?",
        "What is on my to-do list",
        "what do I have on my list",
        "list my todos",
        "my tasks",
        "Tasks?",
    ],
)
def test_list_phrasings(text: str) -> None:
    """Asking to see the list in any of these ways lists it."""
    assert parse_command(text) == TaskCommand("list")


@pytest.mark.parametrize(
    "text",
    [
        "hello there",
        "what is the meaning of life",
        "tasks are hard",
        "add task",
        "delete everything",
        "mark task done",
        "complete the project report",
        "remove the 12 eggs from the recipe",
        "I did it",
        "tell me about the first computer program",
    ],
)
def test_ordinary_chat_is_not_a_command(text: str) -> None:
    """Messages that only mention tasks or numbers are chat, not commands."""
    assert parse_command(text) is None
