"""What a chat message asks of the user's task list, in command words or ordinary ones (sans I/O).

Numbered commands ("mark task 2 done", :mod:`.task_commands`) come first. Otherwise one sentence of the message
is read as ordinary words: "I need to buy milk on Friday" and "don't let me forget the dentist" add a task,
"I called Bob" and "done with the milk" complete the open task they name, "forget the dentist" deletes one,
"what do I have to do?" lists them. A phrase is matched to tasks by the words it shares with their descriptions
(after a light stemming: "called" matches "call"); when it names no task or several equally well, the intent is
``clarify``: the replica asks back instead of guessing. A past-tense remark that names no task ("I called my mum")
is ordinary chat.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from .task_commands import parse_command

IntentKind = Literal["add", "complete", "delete", "list", "clarify"]
Pointing = Literal["complete", "delete"]


@dataclass(frozen=True)
class TaskRequest:
    """What a message asks, read from its words alone: ``add`` (``description``), ``list``, or ``complete`` /
    ``delete`` of task ``number`` or of the task its ``words`` name (``verb``: the past-tense verb of "I called
    Bob"; ``sure``: the words plainly mean a task, so naming none is asked back)."""

    kind: Literal["add", "complete", "delete", "list"]
    description: str | None = None
    number: int | None = None
    words: str | None = None
    verb: str = ""
    sure: bool = True


@dataclass(frozen=True)
class KnownTask:
    """A task as the parser sees it: its number (as chat names it), words and status."""

    number: int
    description: str
    completed: bool = False


@dataclass(frozen=True)
class TaskIntent:
    """What a message asks of the list as it is: ``add`` (``description``), ``complete``/``delete`` (task
    ``number``), ``list``, or ``clarify``: it means to ``wanted`` a task, but its ``words`` name several
    (``candidates``) or none."""

    kind: IntentKind
    description: str | None = None
    number: int | None = None
    wanted: Pointing | None = None
    words: str | None = None
    candidates: tuple[int, ...] = ()


_FILLER = re.compile(
    r"^(?:(?:oh|ok|okay|so|and|also|btw|by the way|hey|hi|well|um|uh|anyway|alright|right|yes|yeah|oh and)"
    r"[\s,!.]+)+",
    re.IGNORECASE,
)
_TRAIL = re.compile(r"[\s,]*(?:please|pls|thanks|thank you|for me|ok\??)?[\s.!?]*$", re.IGNORECASE)
_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")

_ADD: Final = [
    r"^(?:i|we)(?:'ll| will)? (?:really |still |also |definitely )?(?:need|have) to (?P<x>.+)$",
    r"^(?:i|we)(?:'ve| have)? (?:got to|gotta) (?P<x>.+)$",
    r"^(?:i|we) must(?: remember to)? (?P<x>.+)$",
    r"^(?:please )?(?:don'?t|do not) let me forget (?:to |about )?(?P<x>.+)$",
    r"^(?:please )?(?:don'?t|do not) forget (?:to |about |that i (?:need|have) to )?(?P<x>.+)$",
    r"^(?:i|we) (?:mustn'?t|must not|can'?t|cannot|shouldn'?t|should not) forget (?:to |about )?(?P<x>.+)$",
    r"^(?:please )?remind me (?:to |about |of )(?P<x>.+)$",
    r"^note to self[:,]? (?P<x>.+)$",
]
_DID: Final = r"(?:(?:i|we)(?:'ve| have)? )?(?:(?:just|already|finally) )*"
_COMPLETE: Final = [
    r"^(?:i'?m |i am |we'?re |we are )?(?:all |finally )?(?:done|finished|through) with (?P<x>.+)$",
    rf"^{_DID}(?:done|finished|completed) (?P<x>.+)$",
    rf"^{_DID}(?:took care of|taken care of|dealt with|sorted out|handled) (?P<x>.+)$",
    r"^(?:please )?(?:mark|tick|check|cross) (?:off )?(?P<x>.+?)(?: off)?(?: as)? "
    r"(?:done|complete|completed|finished)$",
    r"^(?:please )?(?:tick|check|cross) off (?P<x>.+)$",
    r"^(?P<x>.+?)(?: is| are|'s| has been| have been) (?:all )?(?:done|finished|sorted|complete|completed|"
    r"taken care of|dealt with|handled)$",
]
_DELETE: Final = [
    r"^(?:please |just )?forget (?:about )?(?P<x>.+)$",
    r"^never ?mind (?:about )?(?P<x>.+)$",
    r"^(?:please )?(?:remove|delete|drop|scrap|scratch|erase|get rid of) (?P<x>.+?)"
    r"(?: (?:from|off) (?:my|the) (?:list|to-?do list|to-?dos|tasks?|task list))?$",
    r"^(?:please )?take (?P<x>.+?) off (?:my|the) (?:list|to-?do list|to-?dos|tasks?|task list)$",
    r"^(?:i|we) (?:don'?t|do not|no longer) (?:need|have) to (?P<x>.+?)(?: any ?more| after all)?$",
    r"^(?P<x>.+?) (?:is|was|has been|got) (?:cancell?ed|called off)$",
]
_LIST: Final = [
    r"^what (?:else )?(?:do|did|should) (?:i|we) (?:still )?(?:need|have) to do(?: today| now| next)?$",
    r"^what'?s (?:on|in) my (?:list|plate|agenda|to-?do list)(?: today)?$",
    r"^what'?s (?:left|next|still open)(?: to do)?(?: on my list)?$",
    r"^(?:is there )?anything (?:i(?:'m| am) forgetting|i forgot|(?:else )?i (?:need|have) to do)$",
]
_PAST = re.compile(
    r"^(?:i|we)(?:'ve|'d)? (?:(?:just|already|finally|have|had|also|now) )*(?P<v>[a-z]+) (?P<x>.+)$", re.IGNORECASE
)


def _compile(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE | re.DOTALL) for p in patterns]


_ADD_RULES = _compile(_ADD)
_COMPLETE_RULES = _compile(_COMPLETE)
_DELETE_RULES = _compile(_DELETE)
_LIST_RULES = _compile(_LIST)
_AIMED: Final[list[tuple[Pointing, list[re.Pattern[str]]]]] = [
    ("complete", _COMPLETE_RULES),
    ("delete", _DELETE_RULES),
]

# "I need to know …" asks the replica something; it is no task. Nor is a one-word "I need to go".
_NOT_TASKS = re.compile(
    r"^(?:know|understand|think|say|admit|confess|mention|tell you|ask you|ask|talk|chat|hear|see what|figure out "
    r"what|decide what|be honest|be careful|go now|leave now|stop|sleep|rest)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"\b(?:not|never|n't|didn'?t|couldn'?t|wasn'?t|but)\b", re.IGNORECASE)
_PRONOUNS = frozenset("it that this them those these everything all something anything stuff".split())

_IRREGULAR: Final = {
    **dict.fromkeys(["bought"], "buy"),
    **dict.fromkeys(["paid"], "pay"),
    **dict.fromkeys(["sent"], "send"),
    **dict.fromkeys(["wrote", "written"], "write"),
    **dict.fromkeys(["took", "taken"], "take"),
    **dict.fromkeys(["went", "gone"], "go"),
    **dict.fromkeys(["made"], "make"),
    **dict.fromkeys(["did", "done"], "do"),
    **dict.fromkeys(["got", "gotten"], "get"),
    **dict.fromkeys(["gave", "given"], "give"),
    **dict.fromkeys(["brought"], "bring"),
    **dict.fromkeys(["met"], "meet"),
    **dict.fromkeys(["rang", "rung"], "ring"),
    **dict.fromkeys(["spoke", "spoken"], "speak"),
    **dict.fromkeys(["ate", "eaten"], "eat"),
    **dict.fromkeys(["found"], "find"),
    **dict.fromkeys(["sold"], "sell"),
    **dict.fromkeys(["told"], "tell"),
    **dict.fromkeys(["saw", "seen"], "see"),
    **dict.fromkeys(["ran"], "run"),
    **dict.fromkeys(["fed"], "feed"),
    **dict.fromkeys(["kept"], "keep"),
    **dict.fromkeys(["built"], "build"),
    **dict.fromkeys(["drove", "driven"], "drive"),
    **dict.fromkeys(["swept"], "sweep"),
    **dict.fromkeys(["hung"], "hang"),
    **dict.fromkeys(["caught"], "catch"),
    **dict.fromkeys(["taught"], "teach"),
    **dict.fromkeys(["left"], "leave"),
    **dict.fromkeys(["forgot", "forgotten"], "forget"),
    **dict.fromkeys(["began", "begun"], "begin"),
}
_PRESENT_TENSE_PAST = frozenset("put set cut read shut hit quit".split())
# Past-tense verbs that say nothing was done ("I needed to call Bob", "I forgot the milk").
_NOT_DONE = frozenset(
    "need want try forget plan decide hope mean intend wish like love hate wonder think miss fail start begin use "
    "promise expect remember hear learn say tell ask add schedule postpone delay skip cancel".split()
)
_STOP_WORDS = frozenset(
    """a an the my our your his her their its to with about for of on at in by from up off out and or it that this
    these those some task tasks list todo todos item please just already finally all i me we you is are was were be
    been being have has had do did done doing get got make made go went today tonight tomorrow yesterday next
    week weekend morning afternoon evening night am pm noon midnight monday tuesday wednesday thursday friday
    saturday sunday mon tue wed thu fri sat sun o'clock oclock before after until then now again also still""".split()
)


def read(text: str) -> TaskRequest | None:
    """What ``text`` asks of the task list, from its words alone; ``None``: ordinary chat."""
    command = parse_command(text)
    if command is not None:
        if command.kind in ("add", "list"):
            return TaskRequest(command.kind, description=command.description)
        return TaskRequest(command.kind, number=command.position)
    for sentence in _sentences(text):
        request = _ordinary(sentence)
        if request is not None:
            return request
    return None


def resolve(request: TaskRequest, tasks: Sequence[KnownTask]) -> TaskIntent | None:
    """The request against the list as it is: the task its words name, or ``clarify`` when they name several
    equally well or (``sure``) none; ``None`` for a past-tense remark that names no open task."""
    if request.words is None:
        return TaskIntent(request.kind, description=request.description, number=request.number)
    wanted: Pointing = "delete" if request.kind == "delete" else "complete"
    objects = _keywords(request.words)
    query = objects | ({_stem(request.verb)} if request.verb else set())
    scored = []
    for task in tasks:
        if wanted == "complete" and task.completed:
            continue
        own = _keywords(task.description)
        if own & objects:
            scored.append((len(own & query), task.number))
    if not scored:
        return TaskIntent("clarify", wanted=wanted, words=request.words) if request.sure else None
    best = max(score for score, _ in scored)
    top = tuple(sorted(number for score, number in scored if score == best))
    if len(top) == 1:
        return TaskIntent(wanted, number=top[0])
    return TaskIntent("clarify", wanted=wanted, words=request.words, candidates=top)


def understand(text: str, tasks: Sequence[KnownTask]) -> TaskIntent | None:
    """:func:`read` then :func:`resolve`."""
    request = read(text)
    return resolve(request, tasks) if request is not None else None


def _sentences(text: str) -> list[str]:
    found = []
    for part in _SENTENCES.split(text.strip()):
        part = _FILLER.sub("", " ".join(part.split()))
        part = _TRAIL.sub("", part)
        if part:
            found.append(part)
    return found


def _ordinary(sentence: str) -> TaskRequest | None:
    if any(rule.match(sentence) for rule in _LIST_RULES):
        return TaskRequest("list")
    for rule in _ADD_RULES:
        if found := rule.match(sentence):
            description = _clean(found["x"])
            if len(description.split()) >= 2 and not _NOT_TASKS.match(description):
                return TaskRequest("add", description=description)
            return None
    for wanted, rules in _AIMED:
        for rule in rules:
            if found := rule.match(sentence):
                return _named(wanted, found["x"])
    return _past_tense(sentence)


def _past_tense(sentence: str) -> TaskRequest | None:
    """ "I called Bob": done, if it names an open task (a remark that names none is ordinary chat)."""
    found = _PAST.match(sentence)
    if found is None or _NEGATION.search(sentence):
        return None
    verb = found["v"].lower()
    if verb in _IRREGULAR:
        lemma = _IRREGULAR[verb]
    elif verb.endswith("ed") and len(verb) > 3 or verb in _PRESENT_TENSE_PAST:
        lemma = _stem(verb)
    else:
        return None
    if _stem(lemma) in _NOT_DONE_STEMS:
        return None
    return _named("complete", found["x"], verb=lemma, sure=False)


def _named(wanted: Pointing, words: str, *, verb: str = "", sure: bool = True) -> TaskRequest | None:
    words = _clean(words)
    if not _keywords(words) or set(words.lower().split()) <= _PRONOUNS:
        return None
    return TaskRequest(wanted, words=words, verb=verb, sure=sure)


def _keywords(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9']+", text.lower().replace("’", "'"))
    stems = set()
    for word in words:
        word = word.removesuffix("'s").strip("'")
        if not word or word in _STOP_WORDS or word.isdigit():
            continue
        stems.add(_stem(_IRREGULAR.get(word, word)))
    return stems - {_stem(w) for w in _STOP_WORDS}


def _stem(word: str) -> str:
    """A light stem, the same for "call", "calls", "called" and "calling" (both sides are stemmed alike)."""
    if len(word) > 4 and word.endswith(("ies", "ied")):
        word = word[:-3] + "y"
    elif len(word) > 5 and word.endswith("ing"):
        word = _undouble(word[:-3])
    elif len(word) > 4 and word.endswith("ed"):
        word = _undouble(word[:-2])
    elif len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def _undouble(word: str) -> str:
    if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "lsz":
        return word[:-1]
    return word


def _clean(words: str) -> str:
    return words.strip().strip("\"'“”‘’`").strip().rstrip(".,!?;:").strip()


_NOT_DONE_STEMS: Final = frozenset(_stem(word) for word in _NOT_DONE)
