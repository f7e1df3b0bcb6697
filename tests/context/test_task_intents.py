"""Tasks in ordinary words: what a sentence asks of the list, read without I/O, and the task it names."""

from __future__ import annotations

import pytest

from server.context.task_intents import KnownTask, TaskIntent, TaskRequest, read, resolve, understand

TASKS = [
    KnownTask(1, "call Bob"),
    KnownTask(2, "buy milk on Friday"),
    KnownTask(3, "the dentist next Tuesday at 9"),
    KnownTask(4, "call the plumber tomorrow at 5pm"),
    KnownTask(7, "pick up milk from Sam"),
    KnownTask(8, "renew passport", completed=True),
]


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("I need to buy milk on Friday", "buy milk on Friday"),
        ("don't let me forget the dentist next Tuesday at 9", "the dentist next Tuesday at 9"),
        ("Oh, and I have to renew my passport by next Monday.", "renew my passport by next Monday"),
        ("I've got to water the plants", "water the plants"),
        ("we must fix the fence this weekend!", "fix the fence this weekend"),
        ("Don't forget to email Carol", "email Carol"),
        ("I mustn't forget about the gas bill", "the gas bill"),
        ("remind me about the dentist", "the dentist"),
        ("note to self: book the flights", "book the flights"),
        ("Thanks for that. I still need to pack my bag tonight.", "pack my bag tonight"),
        ("add task call the plumber tomorrow at 5pm", "call the plumber tomorrow at 5pm"),
    ],
)
def test_a_sentence_that_says_something_is_to_be_done_adds_it(text: str, description: str) -> None:
    """Needing, having to, not letting forget and reminding add a task with the words that say what."""
    assert understand(text, TASKS) == TaskIntent("add", description=description)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("I called Bob", 1),
        ("I've called Bob.", 1),
        ("Hi! I phoned Bob today.", 1),
        ("I bought milk", 2),
        ("the dentist is done", 3),
        ("cross off the dentist", 3),
        ("I took care of the plumber", 4),
        ("finally finished the plumber", 4),
        ("mark task 2 done", 2),
        ("Mark task #7 as done.", 7),
    ],
)
def test_a_sentence_that_says_it_was_done_completes_the_task_it_names(text: str, number: int) -> None:
    """Past tense, "done with", "is done" and "cross off" complete the open task whose words they share."""
    assert understand(text, TASKS) == TaskIntent("complete", number=number)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("forget the dentist", 3),
        ("never mind the plumber", 4),
        ("take the dentist off my list", 3),
        ("I don't need to call Bob anymore", 1),
        ("delete the passport", 8),
        ("delete task 2", 2),
    ],
)
def test_a_sentence_that_drops_a_task_deletes_the_task_it_names(text: str, number: int) -> None:
    """ "forget", "never mind", "take off my list" and "no longer need to" delete it (a completed one too)."""
    assert understand(text, TASKS) == TaskIntent("delete", number=number)


def test_words_that_name_several_tasks_equally_are_asked_back() -> None:
    """ "done with the milk" could be task 2 or task 7: nothing is guessed."""
    assert understand("done with the milk", TASKS) == TaskIntent(
        "clarify", wanted="complete", words="the milk", candidates=(2, 7)
    )
    assert understand("forget the milk", TASKS) == TaskIntent(
        "clarify", wanted="delete", words="the milk", candidates=(2, 7)
    )


def test_the_closer_match_wins_over_a_word_in_common() -> None:
    """ "I bought milk" shares "buy" and "milk" with task 2, only "milk" with task 7: task 2, no question."""
    assert understand("I bought the milk", TASKS) == TaskIntent("complete", number=2)


def test_plain_words_that_name_no_task_are_asked_back() -> None:
    """ "done with the report" plainly means a task, but none matches: asked back with no candidates."""
    assert understand("done with the report", TASKS) == TaskIntent("clarify", wanted="complete", words="the report")
    assert understand("forget the report", TASKS) == TaskIntent("clarify", wanted="delete", words="the report")


def test_a_completed_task_is_not_completed_again_by_name() -> None:
    """ "I renewed the passport": task 8 is done already, so the remark names no open task: ordinary chat."""
    assert understand("I renewed the passport", TASKS) is None


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "what is virtue",
        "I called my mum",
        "I went to the park",
        "I didn't call Bob",
        "I needed to call Bob",
        "I forgot to call Bob",
        "I called Bob but he was out",
        "I need to know what you think",
        "I have to say, that's clever",
        "I need to go",
        "forget it",
        "done with it",
        "tell me about the first computer program",
        "complete the project report",
    ],
)
def test_ordinary_chat_asks_nothing(text: str) -> None:
    """Remarks that name no open task, negations, wishes and questions to the replica change nothing."""
    assert understand(text, TASKS) is None


@pytest.mark.parametrize("text", ["what do I have to do?", "What's on my list today", "anything I'm forgetting?"])
def test_asking_what_is_left_lists_the_tasks(text: str) -> None:
    assert understand(text, TASKS) == TaskIntent("list")


def test_a_message_is_read_once_without_the_list_and_resolved_against_it() -> None:
    """:func:`read` needs only the words; the task they name is found in the list as it is when applied."""
    request = read("I called Bob")
    assert request == TaskRequest("complete", words="Bob", verb="call", sure=False)
    assert resolve(request, TASKS) == TaskIntent("complete", number=1)
    assert resolve(request, [KnownTask(5, "call Bob", completed=True)]) is None
    assert resolve(request, [KnownTask(5, "call Bob"), KnownTask(6, "visit Bob")]) == TaskIntent("complete", number=5)
