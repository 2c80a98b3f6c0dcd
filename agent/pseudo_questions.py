"""Questions made from a corpus' own text, and questions it cannot answer: the training
data of the calibrated router (agent/calibration.py), built without labels or a model.

Positives come from each section's title and headings ("What is {heading}?"), its
opening sentence and its key phrases (its rarest words in this corpus), some with a
filler or a word left out, as people paraphrase. Negatives are small talk, general
questions, and the same templates about subjects this corpus never mentions: words of a
general vocabulary (the caller passes one, e.g. the embedder's) absent from the corpus,
and made-up names (halves of two such words), alone or beside a word the corpus uses,
so no negative asks about something the knowledge base does cover.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from askloop.agent.calibration import CorpusStats, terms
from askloop.agent.text import content_words

__all__ = [
    "FILLERS",
    "GENERAL",
    "PHRASE_TEMPLATES",
    "SMALL_TALK",
    "SUBJECT_TEMPLATES",
    "Section",
    "negative_questions",
    "positive_questions",
]

#: (title, heading path, text) of one section or chunk of the corpus.
Section = tuple[str, Sequence[str], str]

SUBJECT_TEMPLATES = (
    "What is {s}?",
    "Tell me about {s}",
    "How does {s} work?",
    "What are the rules for {s}?",
    "Where can I find information about {s}?",
    "What should I know about {s}?",
    "Explain {s}",
    "{s}?",
)
PHRASE_TEMPLATES = (
    "What about {a} and {b}?",
    "How do I handle {a} {b}?",
    "What is the {a} for {b}?",
    "Is there a {a} {b}?",
    "{a} {b}",
    "When is the {a} {b}?",
)


def _lines(block: str) -> tuple[str, ...]:
    return tuple(q.strip() for q in block.replace("\n", "|").split("|") if q.strip())


FILLERS = ("exactly", "these days", "for my team", "as a newcomer", "right now", "again")

SMALL_TALK = _lines(
    """good morning team|hi!|hello, anyone here?|hey bot|thanks a lot|thank you!|ty
    cheers|okay|ok thanks|great, that works|perfect|bye for now|talk to you tomorrow
    have a good evening|how are you?|how is your day going|what's new?|are you human?
    who built you?|what are you able to do?|could you help me out?|what should I call you?
    haha|lmao|nice|well done|you rock|that was not helpful|wrong answer|forget it
    oops, wrong chat|test message|just testing|hello world|what's 12 times 12
    what is 5 plus 7|how much is 20% of 150|divide 100 by 4|what's the square of 12
    how many minutes are in a week|write a poem about the moon|write a short story
    tell me a riddle|say something funny|give me an inspiring quote|write a song about rain
    write a toast for a wedding|name ideas for a cat|help me write an apology
    translate 'thank you' into Italian|how do you say hello in Japanese
    what rhymes with blue|another word for big|opposite of ancient|how do you spell rhythm
    will it snow this week?|how hot is it outside|what's the date today|what time is it now
    I'm hungry|I'm tired|I like coffee|what should I eat tonight|suggest a film
    suggest a novel|recommend some music|make this shorter please|reword this
    correct my spelling|draft a polite reminder|give me some conversation starters
    toss a coin|pick a number|what's the point of it all|do you have feelings?
    let's chat|what's your favourite food|good night all|happy monday|congratulations!
    welcome aboard|yes|no|maybe|sure, go ahead|can you repeat that?|what?"""
)

GENERAL = _lines(
    """Who wrote War and Peace?|How far is the Moon from the Earth?|What is the capital of Canada?
    How do volcanoes form?|Who discovered penicillin?|What causes the seasons?
    How many bones are in the human body?|What is the speed of light?
    Who was the first person on the Moon?|How do airplanes stay in the air?
    What is the largest ocean on Earth?|How do I boil an egg?|What is a black hole?
    When did the Second World War end?|How does the stock market work?
    Who composed the Four Seasons?|What language is spoken in Brazil?
    How long do elephants live?|Why is the sky blue?|What is the tallest building in the world?
    How do vaccines work?|Who invented the telephone?|What is the population of Japan?
    How do I make pancakes?|What is inflation?|Which planet is closest to the Sun?
    How many players are on a football team?|What does DNA stand for?
    How do bees make honey?|Who painted Starry Night?|What is the longest river in Africa?
    How do I tie a tie?|What is the freezing point of water?|Who is the author of Don Quixote?
    What is quantum computing?|How do tides work?|What is the Pythagorean theorem?
    How many continents are there?|What is the chemical symbol for gold?
    How do I get rid of hiccups?|What is the best way to learn a language?
    How do solar panels work?|Who built the pyramids?|What is a haiku?
    How much sleep does an adult need?|What is the difference between weather and climate?
    How do I care for a cactus?|What is the Olympic motto?|Why do cats purr?
    What is the GDP of Germany?|How are rainbows made?|Who was Cleopatra?"""
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_NUMBERING = re.compile(r"^\s*[\d.]+\s+")
_QUALIFIER = re.compile(r"\s*\([^)]*\)")


def _subject(name: str) -> str:
    return _NUMBERING.sub("", _QUALIFIER.sub("", name)).strip(" :#*`")


def _opening(text: str, words: int = 14) -> str:
    first = _SENTENCE_END.split(" ".join(text.split()), maxsplit=1)[0]
    return " ".join(first.split()[:words]).rstrip(".,;:")


def _paraphrase(question: str, rng: random.Random, *, drop: bool = True) -> str:
    """Now and then a filler added or (with ``drop``) a content word left out."""
    roll = rng.random()
    if roll < 0.25:
        end = "?" if question.endswith("?") else ""
        return f"{question.rstrip('?')} {rng.choice(FILLERS)}{end}"
    if roll < 0.45 and drop:
        words = question.split()
        droppable = [i for i, w in enumerate(words) if content_words(w) and i > 0]
        if len(droppable) > 2:
            del words[rng.choice(droppable)]
            return " ".join(words)
    return question


def positive_questions(
    sections: Sequence[Section], stats: CorpusStats, *, limit: int = 400, seed: int = 0
) -> list[str]:
    """Up to ``limit`` questions the corpus answers, from a seeded sample of its sections."""
    rng = random.Random(seed)
    order = list(range(len(sections)))
    rng.shuffle(order)
    out: list[str] = []
    seen: set[str] = set()
    per_section = max(1, -(-limit // max(1, len(sections))))
    for i in order * per_section:
        if len(out) >= limit:
            break
        title, headings, text = sections[i]
        names = [s for s in (_subject(n) for n in (title, *headings)) if s]
        key = sorted(
            {w for w in content_words(text) if len(w) > 2 and not w.isdigit()},
            key=lambda w: (-stats.idf(terms(w)[0]) if terms(w) else 0.0, w),
        )[:6]
        candidates = [rng.choice(SUBJECT_TEMPLATES).format(s=rng.choice(names))] if names else []
        opening = _opening(text)
        if len(opening.split()) >= 4:
            candidates.append(opening)
        if len(key) >= 2:
            a, b = rng.sample(key, 2)
            candidates.append(rng.choice(PHRASE_TEMPLATES).format(a=a, b=b))
        if not candidates:
            continue
        question = _paraphrase(rng.choice(candidates), rng)
        if question.lower() not in seen:
            seen.add(question.lower())
            out.append(question)
    return out


def _name(rng: random.Random, words: Sequence[str]) -> str:
    a, b = rng.choice(words), rng.choice(words)
    return (a[: (len(a) + 1) // 2] + b[len(b) // 2 :]).capitalize()


def negative_questions(
    general_words: Sequence[str], stats: CorpusStats, *, limit: int = 400, seed: int = 0
) -> list[str]:
    """Small talk, general questions and up to ``limit`` questions in all about subjects
    this corpus never mentions (made from ``general_words``: those it does not contain,
    and names made from them that neither it nor ``general_words`` contain)."""
    rng = random.Random(seed + 1)
    fixed = [*SMALL_TALK, *GENERAL]
    stemmed = {w: t[0] for w in general_words if w.isalpha() and len(w) > 3 and (t := terms(w))}
    absent = sorted(w for w, t in stemmed.items() if t not in stats.df)
    known = sorted(w for w, t in stemmed.items() if t in stats.df)
    common = set(stemmed.values())
    out = list(dict.fromkeys(fixed))
    if len(absent) < 2:
        return out[:limit]
    for _ in range(20 * limit):  # made-up names that turn out real are skipped
        if len(out) >= limit:
            break
        roll = rng.random()
        if roll < 0.3:
            question = rng.choice(SUBJECT_TEMPLATES).format(s=rng.choice(absent))
        elif roll < 0.45:
            a, b = rng.sample(absent, 2)
            question = rng.choice(PHRASE_TEMPLATES).format(a=a, b=b)
        else:
            name = _name(rng, absent)
            stem = terms(name)
            if not stem or stem[0] in stats.df or stem[0] in common:
                continue
            if roll < 0.7 or not known:
                subject = name if rng.random() < 0.5 else f"{name} {_name(rng, absent)}"
            else:
                subject = f"{name} {rng.choice(known)}"
            question = rng.choice(SUBJECT_TEMPLATES).format(s=subject)
        # Never a word left out: it could be the one the corpus lacks.
        out.append(_paraphrase(question, rng, drop=False))
    return out[:limit]
