"""Importers: every corpus format, on hand-written fixtures in that corpus's exact format."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from moderate.labels.importers import (
    FORMATS,
    ImportReport,
    corpus_files,
    import_corpora,
    import_file,
)
from moderate.labels.store import LabelError, LabelStore, load_dataset
from moderate.seeds.comments import comment_id
from moderate.seeds.errors import InputError


@pytest.fixture
def corpus(fixtures: Path) -> Path:
    """The hand-written corpora fixtures."""
    return fixtures / "labels" / "corpora"


def imported(
    store_dir: Path, fmt: str, path: Path, **opts: Any
) -> tuple[ImportReport, dict[str, int | str | None]]:
    """Import a file; return the report and {text: value} of the label the format gives."""
    store = LabelStore(store_dir)
    report = import_file(fmt, path, store, **opts)
    texts = {c["id"]: c["text"] for c in store.comments()}
    answers = store.latest().values()
    other = {a.label for a in answers} - {report.label}
    assert other == set(), f"{fmt} wrote the other label too"
    assert {a.origin for a in answers} <= {f"import:{fmt}"}
    return report, {texts[a.comment]: a.value for a in answers}


CASES: list[tuple[str, str, dict[str, int], dict[str, int]]] = [
    (
        "jigsaw2018",
        "toxicity/jigsaw2018_subset.csv",
        {
            "Thanks for fixing the citation\nin the second paragraph.": 0,
            "You are a pathetic little troll, get lost": 1,
            "I reverted the edit, see the talk page (UTC)": 0,
            "Shut up, idiot.": 1,
        },
        {},
    ),
    (
        "jigsaw2018",
        "toxicity/jigsaw2018_train.csv",
        {
            "Please add a source for that claim.": 0,
            "Nobody asked you, moron.": 1,
            "I will find where you live\nand you will regret it.": 1,
            "What a load of garbage, you clown.": 1,
        },
        {},
    ),
    (
        "civil_comments",
        "toxicity/civil_comments_train.csv",
        {
            "This is a thoughtful piece, thank you.": 0,
            "Only a fool would vote for these crooks.": 1,
            "Get out of here, loser.": 1,
            "The council should publish the budget.": 0,
        },
        {"target empty": 1},
    ),
    (
        "civil_comments",
        "toxicity/civil_comments_all_data.csv",
        {"Great reporting as usual.": 0, "You people are disgusting.": 1},
        {},
    ),
    (
        "davidson",
        "toxicity/davidson_tweets.csv",
        {
            "!!! RT @someone: Lovely weather for a walk &amp; a coffee": 0,
            "RT @troll: those people should all be thrown out": 1,
        },
        {"class=1 (offensive language)": 1},
    ),
    (
        "olid",
        "toxicity/olid_train.tsv",
        {
            "@USER You are a disgrace to this country URL": 1,
            "@USER Thanks for the kind words, see you soon": 0,
        },
        # offensive but aimed at nobody: profanity without a target is not toxic
        {"subtask_b=UNT (untargeted)": 1},
    ),
    (
        "youtoxic",
        "toxicity/youtoxic_comments.csv",
        {
            "Great video, thanks\u00a0for explaining it so clearly.": 0,
            "These thugs deserve everything they got": 1,
            "Who is watching this in 2026?": 0,
        },
        {},
    ),
    (
        "ethos",
        "toxicity/ethos_binary.csv",
        {
            "People like you should be banned from the internet, filthy animals": 1,
            "I disagree with the referee, but that is football": 0,
            "Honestly, some of them are a bit annoying": 0,
            "Half the raters thought this was hateful": 1,
        },
        {},
    ),
    (
        "wiki_context",
        "toxicity/wiki_context_large_gc.csv",
        {
            "You clearly have no idea what you are doing, idiot.": 1,
            "Agreed, the new lead reads better.": 0,
        },
        {},
    ),
    (
        "wiki_context",
        "toxicity/wiki_context_large_gn.csv",
        {"Stop vandalising pages, moron.": 1, "I added the missing\ninfobox fields.": 0},
        {},
    ),
    (
        "wiki_context",
        "toxicity/wiki_context_small.csv",
        {"Go ahead, make my day.": 0, "Get lost, troll.": 1, "Fine by me.": 0},
        {},
    ),
    (
        "toxic_spans",
        "toxicity/civil_toxic_spans_train.csv",
        {"You are dumb and crazy.": 1, "The whole thing is a scam run by idiots, frankly.": 1},
        {},
    ),
    (
        "stormfront",
        "toxicity/stormfront_sentences.csv",
        {
            "The meeting starts at noon , bring a friend .": 0,
            "They are vermin and should be driven out .": 1,
        },
        {"label=relation": 1, "label=idk/skip": 1},
    ),
    (
        "hatexplain",
        "toxicity/hatexplain_val.csv",
        {
            "i love this song": 0,
            "get out you <user> scum": 1,
            "what a stupid take that's it": 1,
        },
        {},
    ),
    (
        "globe_c3",
        "toxicity/globe_c3_comments.csv",
        {
            "The budget numbers do not add up, read page four.": 0,
            # 1.6: a minority of the crowd saw teasing; sharp, not toxic by the guidelines
            "Another smug column from a writer who never left Toronto.": 0,
            "You are a lying piece of garbage and everyone here knows it.": 1,
            "Only an idiot would believe this minister.": 1,  # exactly 2.0, "mildly toxic"
        },
        {"crowd_toxicity_level empty": 1},
    ),
    (
        "globe_ucc",
        "toxicity/globe_ucc_val.csv",
        {
            "Beck offers an app and all its taxis are licensed.": 0,
            "Oh sure, because you obviously know better than every economist.": 0,
            "Go back under your bridge, troll.": 1,
            "People like you are a disease on this country.": 1,
        },
        {"hostile/antagonize not 0/1": 1},
    ),
    (
        "impermium",
        "toxicity/impermium_insults_train.csv",
        {
            "You are a complete\xa0moron.": 1,
            "I don't understand your point.\nIt seems you mix apples and oranges.": 0,
            "Caf\u00e9 prices went up \u2019again\u2019.": 0,
        },
        {"Insult=empty": 1},
    ),
    (
        "impermium",
        "toxicity/impermium_insults_test_public.csv",
        {"Shut up, loser, nobody asked you.": 1, "Thanks for the link, very useful.": 0},
        {},
    ),
    (
        "phillips2022",
        "conspiracy/twitter_conspiracy_phillips2022.csv",
        {
            "Salt marshes to be restored to fight the effects of climate change": 0,
            "The lab leak was planned and they are all covering it up #wakeup": 1,
            "No, the vaccine does not contain a tracking chip, stop sharing that nonsense": 0,
        },
        {"stance=2": 1},
    ),
    (
        "psycomark",
        "conspiracy/psycomark_reddit_text.jsonl",
        {
            "They are hiding what really happened in the lab, wake up.": 1,
            "The mayor resigned after the audit found fraud.": 0,
        },
        {"tie between annotators": 1, "conspiracy=Can't tell": 2},
    ),
    (
        "mediaeval2020",
        "conspiracy/mediaeval2020_5g_tweets.csv",
        {
            "The 5G towers went up and then everyone got sick, coincidence?": 1,
            "Bill Gates planned the virus\n\nto sell vaccines, look it up": 1,
            "People who think 5G causes covid need a physics class": 0,
        },
        {},
    ),
    (
        "covid_vaccine",
        "conspiracy/covid_vaccine_comments.csv",
        {
            "They are putting microchips in the jab": 1,
            "Got my booster at the caf\ufffd pharmacy today": 0,
            "The trials were faked, they knew all along": 1,
        },
        {},
    ),
    (
        "youtube_videos",
        "conspiracy/youtube_videos.json",
        {"The moon landing was staged: the proof they hid": 1, "How to bake sourdough bread": 0},
        {"label=0": 1},
    ),
    (
        "pan2024",
        "conspiracy/pan2024_train_shortest100.tsv",
        {
            "The minister still has not explained the contract ": 0,
            "The elites planned the lockdowns to control us all ": 1,
        },
        {},
    ),
]


@pytest.mark.parametrize(("fmt", "name", "expected", "skipped"), CASES, ids=[c[1] for c in CASES])
def test_every_format_gives_the_corpus_labels(
    tmp_path: Path,
    corpus: Path,
    fmt: str,
    name: str,
    expected: dict[str, int],
    skipped: dict[str, int],
) -> None:
    report, labels = imported(tmp_path, fmt, corpus / name)
    assert labels == expected
    assert dict(report.skipped) == skipped
    assert report.labelled == report.annotations_added == len(expected)
    assert report.rows == len(expected) + sum(skipped.values())


def test_every_format_has_a_fixture() -> None:
    tested = {fmt for fmt, *_ in CASES} | {"generic"}
    assert tested == set(FORMATS)


def test_comments_get_source_thread_and_stable_id(tmp_path: Path, corpus: Path) -> None:
    path = corpus / "toxicity" / "olid_train.tsv"
    import_file("olid", path, LabelStore(tmp_path))
    first = next(LabelStore(tmp_path).comments())
    text = "@USER You are a disgrace to this country URL"
    assert first["id"] == comment_id("olid_train.tsv", 0, text)
    assert (first["source"], first["thread"], first["source_id"]) == ("olid", "olid_train", "11111")


def test_toxic_spans_are_kept_as_character_ranges(tmp_path: Path, corpus: Path) -> None:
    import_file(
        "toxic_spans", corpus / "toxicity/civil_toxic_spans_train.csv", LabelStore(tmp_path)
    )
    first = next(LabelStore(tmp_path).comments())
    assert [first["text"][a:b] for a, b in first["meta"]["toxic_spans"]] == ["dumb", "crazy"]


def test_wiki_context_small_can_use_the_in_context_rating(tmp_path: Path, corpus: Path) -> None:
    path = corpus / "toxicity" / "wiki_context_small.csv"
    _, labels = imported(tmp_path, "wiki_context", path, label_col="label_ic")
    assert labels["Go ahead, make my day."] == 1


def test_generic_csv_with_positive_values(tmp_path: Path, corpus: Path) -> None:
    report, labels = imported(
        tmp_path,
        "generic",
        corpus / "generic" / "comments.csv",
        label="toxic",
        text_col="body",
        label_col="verdict",
        positive=["yes", "y"],
    )
    assert labels == {
        "You absolute muppet": 1,
        "Nice work, thanks": 0,
        "Not sure about this one": 0,
        "Toxic as well": 1,
    }
    assert dict(report.skipped) == {"verdict empty": 1}


def test_generic_jsonl_reports_malformed_lines(tmp_path: Path, corpus: Path) -> None:
    path = corpus / "generic" / "comments.jsonl"
    report, labels = imported(
        tmp_path,
        "generic",
        path,
        label="conspiracy",
        text_col="message",
        label_col="conspiratorial",
        positive=["true"],
    )
    assert labels == {"The government controls the weather": 1, "Rain expected tomorrow": 0}
    assert report.skipped["malformed"] == 1
    assert report.problems[0].startswith(f"{path}:3: invalid JSON")


def test_generic_needs_a_label(tmp_path: Path, corpus: Path) -> None:
    with pytest.raises(LabelError, match="needs --label toxic or conspiracy"):
        import_file("generic", corpus / "generic" / "comments.csv", LabelStore(tmp_path))


def test_unknown_format_and_missing_file(tmp_path: Path, corpus: Path) -> None:
    with pytest.raises(LabelError, match="unknown format 'nope'"):
        import_file("nope", corpus / "generic" / "comments.csv", LabelStore(tmp_path))
    with pytest.raises(InputError, match="no such file"):
        import_file("olid", tmp_path / "absent.tsv", LabelStore(tmp_path))


def test_malformed_csv_row_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "olid_bad.tsv"
    path.write_text("id\ttweet\tsubtask_a\n1\tfine\tNOT\n2\tmissing a field\n3\tok\tOFF\n")
    report, labels = imported(tmp_path / "store", "olid", path)
    assert labels == {"fine": 0, "ok": 1}
    assert report.problems == [f"{path}:3: 2 fields, expected 3"]


def test_undecodable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "olid_latin1.tsv"
    path.write_bytes(b"id\ttweet\tsubtask_a\n1\tcaf\xe9\tNOT\n")
    with pytest.raises(InputError, match=r"olid_latin1.tsv: not utf-8 text"):
        import_file("olid", path, LabelStore(tmp_path / "store"))


def test_psycomark_files_that_do_not_line_up_are_refused(tmp_path: Path, corpus: Path) -> None:
    source = corpus / "conspiracy"
    text = (source / "psycomark_reddit_text.jsonl").read_text().splitlines()
    (tmp_path / "x_text.jsonl").write_text("\n".join(text[:-1]) + "\n")
    labels = (source / "psycomark_reddit_labels.jsonl").read_text()
    (tmp_path / "x_labels.jsonl").write_text(labels)
    with pytest.raises(InputError, match="label rows join"):
        import_file("psycomark", tmp_path / "x_labels.jsonl", LabelStore(tmp_path / "s"))


def test_reimport_adds_nothing_and_a_changed_label_supersedes(tmp_path: Path) -> None:
    path = tmp_path / "olid_small.tsv"
    path.write_text("id\ttweet\tsubtask_a\n1\tyou fool\tOFF\n2\thello\tNOT\n")
    store = LabelStore(tmp_path / "store")
    assert import_file("olid", path, store).annotations_added == 2
    again = import_file("olid", path, LabelStore(tmp_path / "store"))
    assert (again.labelled, again.annotations_added, again.comments_added) == (2, 0, 0)
    path.write_text("id\ttweet\tsubtask_a\n1\tyou fool\tNOT\n2\thello\tNOT\n")
    assert import_file("olid", path, store).annotations_added == 1
    assert load_dataset(tmp_path / "store")["toxic"].tolist() == [0.0, 0.0]


def test_import_corpora_finds_every_fixture_and_leaves_the_other_label_unknown(
    tmp_path: Path, corpus: Path
) -> None:
    found = {path.name: fmt for fmt, path in corpus_files(corpus)}
    assert "psycomark_reddit_labels.jsonl" not in found  # read with its text file
    assert found["civil_comments_train.csv"] == "civil_comments"
    reports = import_corpora(corpus, LabelStore(tmp_path))
    assert len(reports) == len(CASES)
    dataset = load_dataset(tmp_path)
    toxic_sources = set(dataset.loc[dataset["toxic"].notna(), "source"])
    assert "psycomark" not in toxic_sources and "olid" in toxic_sources
    assert dataset.loc[dataset["source"] == "olid", "conspiracy"].map(math.isnan).all()


@pytest.mark.shared_data
@pytest.mark.slow
def test_every_shared_corpus_imports(tmp_path: Path, corpora: Path) -> None:
    reports = {r.path.name: r for r in import_corpora(corpora, LabelStore(tmp_path))}
    expected_rows = {
        "jigsaw2018_subset.csv": 10_000,
        "davidson_tweets.csv": 24_783,
        "olid_train.tsv": 13_240,
        "youtoxic_comments.csv": 1_000,
        "ethos_binary.csv": 998,
        "wiki_context_large_gc.csv": 10_000,
        "wiki_context_large_gn.csv": 10_000,
        "wiki_context_small.csv": 978,
        "civil_toxic_spans_train.csv": 7_939,
        "civil_toxic_spans_trial.csv": 690,
        "stormfront_sentences.csv": 10_944,
        "hatexplain_val.csv": 1_922,
        "psycomark_reddit_text.jsonl": 3_682,  # unique ids of 4,316 annotation rows
        "mediaeval2020_5g_tweets.csv": 6_074,
        "covid_vaccine_comments.csv": 609,
        "youtube_videos.json": 1_110,
        "pan2024_en_train.tsv": 3_921,  # the shortest-100 sample is a subset, not imported
        "globe_c3_comments.csv": 11_960,
        "globe_ucc_val.csv": 4_423,
        "impermium_insults_train.csv": 3_912,
        "impermium_insults_test_public.csv": 2_617,
        "twitter_conspiracy_phillips2022.csv": 1_560,
    }
    assert {name: r.rows for name, r in reports.items()} == expected_rows
    for report in reports.values():
        assert report.problems == []
        if report.path.name == "davidson_tweets.csv":  # 77 % "offensive language", unknown
            assert report.skipped == {"class=1 (offensive language)": 19_190}
            continue
        assert report.labelled >= 0.7 * report.rows, report.summary()
    dataset = load_dataset(tmp_path)
    assert 90_000 < dataset["toxic"].notna().sum() < 100_000  # Davidson's offensive unknown
    assert 15_000 < dataset["conspiracy"].notna().sum() < 17_000  # with PAN 2024 in full
    assert 0.2 < dataset["toxic"].mean() < 0.35


def test_c3_threshold_and_phillips_neutral_stance_are_options(tmp_path: Path, corpus: Path) -> None:
    c3 = corpus / "toxicity" / "globe_c3_comments.csv"
    _, labels = imported(tmp_path / "c3", "globe_c3", c3, threshold=1.5)
    assert labels["Another smug column from a writer who never left Toronto."] == 1
    phillips = corpus / "conspiracy" / "twitter_conspiracy_phillips2022.csv"
    _, labels = imported(tmp_path / "ph", "phillips2022", phillips, neutral=0)
    assert labels["New documentary on the Epstein theories airs tonight"] == 0


def test_c3_comments_keep_their_article_as_thread(tmp_path: Path, corpus: Path) -> None:
    import_file("globe_c3", corpus / "toxicity" / "globe_c3_comments.csv", LabelStore(tmp_path))
    first = next(LabelStore(tmp_path).comments())
    assert first["thread"] == "globe:26023945"
    assert first["source_id"] == "source1_26023945_1"
    assert first["meta"] == {"toxicity_characteristics": {"no_toxic": 3}}


def test_a_known_subset_beside_its_whole_file_is_not_imported_twice(
    tmp_path: Path, corpus: Path
) -> None:
    sample = corpus / "conspiracy" / "pan2024_train_shortest100.tsv"
    (tmp_path / sample.name).write_bytes(sample.read_bytes())
    assert [p.name for _, p in corpus_files(tmp_path)] == [sample.name]
    (tmp_path / "pan2024_en_train.tsv").write_bytes(sample.read_bytes())
    assert [p.name for _, p in corpus_files(tmp_path)] == ["pan2024_en_train.tsv"]


def test_wrong_format_names_the_missing_column(tmp_path: Path, corpus: Path) -> None:
    path = corpus / "toxicity" / "olid_train.tsv"
    with pytest.raises(InputError, match=r"olid_train.tsv: no column 'tweet'; found 'id\\tt"):
        import_file("davidson", path, LabelStore(tmp_path))


def test_jsonl_row_without_the_text_field_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"body": "kept", "label": 1}\n{"label": 0}\n')
    report, labels = imported(tmp_path / "s", "generic", path, label="toxic", text_col="body")
    assert labels == {"kept": 1}
    assert report.problems == [f"{path}:2: no field 'body'"]
