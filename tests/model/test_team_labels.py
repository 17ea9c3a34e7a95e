"""The reference model's data: the team's labels folded into the corpora, seeds held out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from moderate.model.jobs import SEED_SET, TEAM_SOURCE, with_team_labels
from moderate.model.pipeline import ModelConfig
from moderate.model.train import select


def test_team_labels_replace_the_corpus_label_and_seeds_stay_out() -> None:
    corpus = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "source": ["globe_c3", "globe_c3", "olid"],
            "thread": "",
            "text": ["Only an idiot  would say that", "Nice column", "@USER you fool"],
            "toxic": [1.0, 0.0, 1.0],
            "conspiracy": np.nan,
        }
    )
    team = pd.DataFrame(
        {
            "id": ["a", "z", "s"],
            "source": ["globe_c3", "impermium", "000_thread.txt"],
            "thread": "",
            # z is the same text as corpus row a under another id (a copy in another file)
            "text": ["Only an idiot  would say that", "Only an idiot would say that", "x"],
            "toxic": [0.0, 0.0, 1.0],
            "conspiracy": [0.0, 0.0, 1.0],
        }
    )
    combined, held_out = with_team_labels(corpus, team)
    rows = combined.set_index("id")
    assert sorted(rows.index) == ["a", "b", "c", "z"]
    assert rows.loc["a", "source"] == TEAM_SOURCE and rows.loc["a", "toxic"] == 0.0
    assert rows.loc["a", "conspiracy"] == 0.0  # the team answered both labels
    assert rows.loc["b", "source"] == "globe_c3"
    assert list(held_out[SEED_SET]["id"]) == ["s"]
    assert "s" not in rows.index


def test_settings_are_chosen_by_leave_one_source_out_when_sources_allow() -> None:
    rng = np.random.default_rng(0)
    words = ["idiot", "moron", "park", "river", "bus", "garden", "book"]
    texts, y, sources = [], [], []
    for i in range(240):
        positive = i % 2
        insult = [str(rng.choice(words[:2]))] if positive else []
        texts.append(" ".join([*rng.choice(words[2:], 4), *insult]))
        y.append(float(positive))
        sources.append(["news", "tweets", "forum", "wiki"][i // 60])
    target = {"toxic": (np.arange(240), np.array(y))}
    config = ModelConfig(grid_C=(1.0,), grid_char=(False,), grid_min_df=(1,))
    chosen = select(texts, target, {"toxic": np.ones(240)}, config, np.array(sources))
    assert chosen["criteria"] == {"toxic": "loso_roc_auc"}
    assert "leave-one-source-out" in chosen["why"]
    single = select(texts, target, {"toxic": np.ones(240)}, config, np.array(["one"] * 240))
    assert single["criteria"] == {"toxic": "cv_pr_auc"}
    cv = select(
        texts, target, {"toxic": np.ones(240)}, ModelConfig(select_by="cv", grid_C=(1.0,)), None
    )
    assert set(cv["criteria"].values()) == {"cv_pr_auc"}
