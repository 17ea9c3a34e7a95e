"""Labelling functions (Snorkel-style): small named rules that vote 1, 0 or abstain (None)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from moderate.labels.store import LABELS, Annotation, LabelStore, load_dataset

Vote = int | None


@dataclass(frozen=True)
class Rule:
    """One labelling function for one label: `vote(text)` is 1, 0 or None (abstain)."""

    name: str
    label: str
    vote: Callable[[str], Vote]
    description: str


@dataclass(frozen=True)
class RuleStats:
    """How one rule behaves on a set of comments (fractions of all comments)."""

    name: str
    label: str
    polarity: str
    coverage: float
    overlaps: float
    conflicts: float
    correct: int
    incorrect: int

    @property
    def accuracy(self) -> float | None:
        """Share of its votes that agree with the known (human/import) labels."""
        judged = self.correct + self.incorrect
        return self.correct / judged if judged else None


def _words(*words: str) -> re.Pattern[str]:
    """A case-insensitive pattern matching any of the words or phrases as whole words."""
    alternatives = "|".join(sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])", re.IGNORECASE)


def _matcher(pattern: re.Pattern[str], value: int) -> Callable[[str], Vote]:
    """A vote function: `value` when the pattern occurs, else abstain."""

    def vote(text: str) -> Vote:
        return value if pattern.search(text) else None

    return vote


INSULTS = _words(
    r"idiots?",
    r"morons?",
    r"moronic",
    r"imbeciles?",
    r"dumb ?ass(es)?",
    r"retards?",
    r"retarded",
    r"libtards?",
    r"trumptards?",
    r"demonrats?",
    r"democrap",
    r"repugnicans?",
    r"sissy",
    r"losers?",
    r"scumbags?",
    r"scum",
    r"jackass(es)?",
    r"assholes?",
    r"arseholes?",
    r"douche(bag)?s?",
    r"bitch(es)?",
    r"cunts?",
    r"pieces? of shit",
    r"shitheads?",
    r"dickheads?",
    r"stupid (people|fools?|liberals?|conservatives?|(you|u))",
    r"fools?",
    r"clowns?",
    r"shut up",
    r"stfu",
    r"go to hell",
)
SECOND_PERSON_ATTACK = re.compile(
    r"\b(you|u|ur|you're|youre|your kind)\b[^.!?\n]{0,30}\b"
    r"(idiot|moron|stupid|dumb|pathetic|ignorant|disgusting|retard|scum|loser|clown|troll|"
    r"sissy|liar|coward|brainwashed)",
    re.IGNORECASE,
)
SLURS = _words(
    r"niggers?",
    r"niggas?",
    r"faggots?",
    r"fags?",
    r"kikes?",
    r"spics?",
    r"chinks?",
    r"wetbacks?",
    r"ragheads?",
    r"towelheads?",
    r"sand ?niggers?",
    r"trann(y|ies)",
    r"dykes?",
    r"goys?",
    r"goyim",
    r"israhell",
    r"muzzies?",
    r"coons?",
    r"gooks?",
)
# Bare "animals", "filth", "savages", "rats" were dropped: wrong in 19 of 26 votes on Jigsaw.
DEHUMANISING = _words(
    r"vermin",
    r"cockroach(es)?",
    r"subhumans?",
    r"parasites?",
    r"(these|those|such|they are|are) (animals|savages)",
)
THREATS = re.compile(
    r"\b(kill (them|'?em|you|him|her|those) all|kill (you|him|her|them)\b|"
    r"(should|must|deserve to|ought to) (be )?(shot|hanged|hung|killed|die|executed|burn)|"
    r"(hope|wish) (you|he|she|they) (die|dies|burn|get shot|gets shot)|"
    r"i('ll| will) (find|hurt|kill|beat) you|string (them|him|her) up|"
    r"(put|line) (them|'?em) (up )?against (a|the) wall|wipe (them|'?em) out|"
    r"nuke (them|'?em))",
    re.IGNORECASE,
)
CIVIL = re.compile(
    r"^(?!.*\b(you|u)\b.*\b(idiot|moron|stupid)\b).*"
    r"\b(thank(s| you)|good point|well said|i agree|fair point|interesting (article|read)|"
    r"great (article|post|point))\b",
    re.IGNORECASE | re.DOTALL,
)
COUNTER_SPEECH = re.compile(
    r"\b(that'?s (racist|bigoted|antisemitic|hateful|uncalled for)|no need (for|to) "
    r"(insult|be rude|name[- ]calling)|please be (civil|respectful|kind)|"
    r"keep it civil|leave (the )?(slurs|insults) out)\b",
    re.IGNORECASE,
)

DEEP_STATE = _words(
    r"deep state",
    r"shadow government",
    r"shadow gov",
    r"cabal",
    r"powers that be",
    r"ruling elite",
    r"ptb",
)
FALSE_FLAG = _words(
    r"false flags?",
    r"inside job",
    r"staged (attack|event|shooting)s?",
    r"psy ?ops?",
    r"crisis actors?",
    r"paid actors?",
)  # not "hoax": in the 5G tweets it is mostly said of the theory itself
HIDDEN_TRUTH = re.compile(
    r"\b(they|the (media|government|elites?)) (don'?t|do not) want (you|us|people) to "
    r"(know|see|find out)|wake up|sheeple|do (your|ur) own research|open your eyes|"
    r"what they('re| are) not telling (you|us)|cover[- ]?ups?|covered up|"
    r"mainstream media (won'?t|will never) (tell|report)|msm (won'?t|will never)",
    re.IGNORECASE,
)
FUNDS_AND_TRAINS = re.compile(
    r"\b(funds?|funded|funding|arms?|armed|arming|created|creates|trains?|trained|"
    r"training|supports?|supported)\b[^.!?\n]{0,20}\b(and|&|/)\s*"
    r"(trains?|trained|training|arms?|armed|arming|funds?|funded|funding)\b|"
    r"\b(cia|mossad|nato|obama|israel|the us|u\.s\.|america|washington)'?s? "
    r"(creation|creature|proxy|proxies)\b|"
    r"\b(created|invented|made) by (the )?(cia|mossad|us|u\.s\.|nato|israel|obama)\b|"
    r"\b(all )?work(ed|s)? for (the )?(cia|mossad|washington|israel|the us)\b",
    re.IGNORECASE,
)
PUPPETS = _words(
    r"puppets?",
    r"puppet masters?",
    r"controlled opposition",
    r"pulling the strings",
    r"pawns? of",
    r"controlled by (the )?(jews|zionists|globalists|bankers|elites?)",
)
NEW_WORLD_ORDER = _words(
    r"new world order",
    r"nwo",
    r"one world government",
    r"globalists?",
    r"illuminati",
    r"rothschilds?",
    r"bilderberg",
    r"soros",
    r"freemasons?",
    r"zog",
    r"zionist[- ]occupied",
    r"israeli secret intelligence",
    r"mossad",
    r"agenda 21",
    r"great reset",
)
PSEUDOSCIENCE = _words(
    r"plandemic",
    r"scamdemic",
    r"chemtrails?",
    r"depopulation",
    r"population control",
    r"microchips?",
    r"5g kills",
    r"bill gates (wants|vaccine|chip)",
    r"vaccines? (kill|killed|are poison)",
    r"moon landing (was )?(fake|faked)",
)  # not "5g causes" or "flat earth": topic words that debunkers use as often as believers
DEBUNKING = re.compile(
    r"\b(conspiracy theor(y|ies|ist|ists)|tin ?foil|debunked|no evidence|"
    r"fact[- ]check(ed)?|that'?s a myth|baseless|misinformation|disinformation)\b",
    re.IGNORECASE,
)


def _debunking(text: str) -> Vote:
    """Talk about theories as theories (and no plot vocabulary) usually mocks or refutes them."""
    if DEBUNKING.search(text) and not (DEEP_STATE.search(text) or NEW_WORLD_ORDER.search(text)):
        return 0
    return None


RULES: tuple[Rule, ...] = (
    Rule("insult_lexicon", "toxic", _matcher(INSULTS, 1), "insults and name-calling"),
    Rule("second_person_attack", "toxic", _matcher(SECOND_PERSON_ATTACK, 1), "'you ... idiot'"),
    Rule("slur_lexicon", "toxic", _matcher(SLURS, 1), "slurs and sneers at groups"),
    Rule("dehumanising", "toxic", _matcher(DEHUMANISING, 1), "'vermin', 'subhuman', ..."),
    Rule("threat", "toxic", _matcher(THREATS, 1), "threats and calls for violence"),
    Rule("civil_markers", "toxic", _matcher(CIVIL, 0), "thanks / good point, no insult"),
    Rule("counter_speech", "toxic", _matcher(COUNTER_SPEECH, 0), "pushing back against hate"),
    Rule("deep_state", "conspiracy", _matcher(DEEP_STATE, 1), "'deep state', 'cabal'"),
    Rule("false_flag", "conspiracy", _matcher(FALSE_FLAG, 1), "'false flag', 'crisis actors'"),
    Rule("hidden_truth", "conspiracy", _matcher(HIDDEN_TRUTH, 1), "'wake up', 'cover-up'"),
    Rule("funds_and_trains", "conspiracy", _matcher(FUNDS_AND_TRAINS, 1), "X funds/created Y"),
    Rule("puppet", "conspiracy", _matcher(PUPPETS, 1), "'puppets', 'pulling the strings'"),
    Rule("new_world_order", "conspiracy", _matcher(NEW_WORLD_ORDER, 1), "NWO, globalists"),
    Rule("pseudoscience", "conspiracy", _matcher(PSEUDOSCIENCE, 1), "'plandemic', chemtrails"),
    Rule("debunking", "conspiracy", _debunking, "'conspiracy theory', 'debunked'"),
)


def votes(text: str, rules: Sequence[Rule] = RULES) -> dict[str, Vote]:
    """Each rule's vote on one text, by rule name."""
    return {rule.name: rule.vote(text) for rule in rules}


def combine(rule_votes: Mapping[str, Vote], rules: Sequence[Rule] = RULES) -> dict[str, Vote]:
    """Majority of the non-abstaining votes per label; no vote or a tie gives None."""
    combined: dict[str, Vote] = {}
    for label in dict.fromkeys(rule.label for rule in rules):
        cast = [rule_votes.get(rule.name) for rule in rules if rule.label == label]
        ones = sum(1 for vote in cast if vote == 1)
        zeros = sum(1 for vote in cast if vote == 0)
        combined[label] = None if ones == zeros else int(ones > zeros)
    return combined


def conflicts(rule_votes: Mapping[str, Vote], rules: Sequence[Rule] = RULES) -> int:
    """Number of labels on which the rules disagree (some vote 1, some vote 0)."""
    count = 0
    for label in dict.fromkeys(rule.label for rule in rules):
        cast = {rule_votes.get(rule.name) for rule in rules if rule.label == label}
        count += {0, 1} <= cast
    return count


def analyse(
    texts: Iterable[str],
    gold: Sequence[Mapping[str, float | None]] | None = None,
    rules: Sequence[Rule] = RULES,
) -> list[RuleStats]:
    """Coverage, overlaps and conflicts of each rule, and its accuracy on known labels.

    Overlap: the rule and another rule of the same label both vote on a comment.
    Conflict: they vote differently. Fractions are over all comments, as in Snorkel.
    """
    table = [votes(text, rules) for text in texts]
    total = len(table) or 1
    stats = []
    for rule in rules:
        others = [other for other in rules if other.label == rule.label and other is not rule]
        covered = overlapping = conflicting = correct = incorrect = 0
        for row, rule_votes in enumerate(table):
            mine = rule_votes[rule.name]
            if mine is None:
                continue
            covered += 1
            other_votes = [rule_votes[other.name] for other in others]
            overlapping += any(vote is not None for vote in other_votes)
            conflicting += any(vote is not None and vote != mine for vote in other_votes)
            known = gold[row].get(rule.label) if gold is not None else None
            if known is not None and known == known:  # NaN means unknown
                correct += int(known) == mine
                incorrect += int(known) != mine
        cast = {vote for rule_votes in table if (vote := rule_votes[rule.name]) is not None}
        polarity = "/".join(str(value) for value in sorted(cast))
        stats.append(
            RuleStats(
                name=rule.name,
                label=rule.label,
                polarity=polarity or "-",
                coverage=covered / total,
                overlaps=overlapping / total,
                conflicts=conflicting / total,
                correct=correct,
                incorrect=incorrect,
            )
        )
    return stats


def report(store: LabelStore, rules: Sequence[Rule] = RULES) -> list[RuleStats]:
    """analyse() on every stored comment, scored against the human and imported labels."""
    comments = list(store.comments())
    dataset = load_dataset(store.root)
    known = {
        row["id"]: {label: row[label] for label in LABELS} for row in dataset.to_dict("records")
    }
    gold = [known.get(comment["id"], {}) for comment in comments]
    return analyse([comment["text"] for comment in comments], gold, rules)


def apply(store: LabelStore, rules: Sequence[Rule] = RULES) -> int:
    """Store each rule's votes as weak labels (origin "rule", annotator "rule:<name>").

    Idempotent: unchanged votes are not written again, and a vote a rule no longer
    casts is withdrawn. Returns how many annotations were appended.
    """
    latest = store.latest()

    def changed() -> Iterable[Annotation]:
        for comment in store.comments():
            for rule in rules:
                annotator = f"rule:{rule.name}"
                vote = rule.vote(comment["text"])
                before = latest.get((comment["id"], rule.label, annotator))
                if vote is None and (before is None or before.value is None):
                    continue
                if before is not None and before.value == vote:
                    continue
                yield Annotation(comment["id"], rule.label, vote, annotator, origin="rule")

    return store.annotate(changed())
