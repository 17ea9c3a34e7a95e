"""The public corpora the importers read: each source's dataset and licence, for model cards.

A model trained on them and shipped with the project lists every source it was trained
on with that source's licence and row count (its MODEL_CARD). `evidence` says where the
licence is stated. "none stated" means neither the dataset's repository nor its paper or
cards state one; "none found" means the pages checked state none but the dataset's own
page could not be read (both checked 2026-12-01, from stored copies of the pages). Such a
dataset is used under its publishers' terms for research, and the platform's terms govern
the posts (Twitter, Reddit, YouTube).
"""

from __future__ import annotations

SOURCE_LICENCES: dict[str, dict[str, str]] = {
    "jigsaw2018": {
        "dataset": "Jigsaw Toxic Comment Classification Challenge (Kaggle 2018)",
        "licence": "CC0-1.0; the comment text is Wikipedia's CC-BY-SA-3.0",
        "evidence": "https://huggingface.co/datasets/google/jigsaw_toxicity_pred",
    },
    "davidson": {
        "dataset": "Davidson et al. 2017, hate speech and offensive language (tweets)",
        "licence": "MIT",
        "evidence": "https://github.com/t-davidson/hate-speech-and-offensive-language",
    },
    "olid": {
        "dataset": "OLID (Zampieri et al. 2019, OffensEval)",
        "licence": "none stated (citation requested; Twitter terms)",
        "evidence": "the OLID README; TweetEval lists it as unknown",
    },
    "youtoxic": {
        "dataset": "YouToxic English (Kaggle, YouTube comments)",
        "licence": "none found (YouTube terms)",
        "evidence": "kaggle.com/datasets/reihanenamdari/youtube-toxicity-data",
    },
    "ethos": {
        "dataset": "ETHOS binary (Mollas et al. 2020)",
        "licence": "GPL-3.0 (the publishers' README; the Hugging Face card's text says GPLv3, "
        "its tag AGPL-3.0)",
        "evidence": "https://github.com/intelligence-csd-auth-gr/Ethos-Hate-Speech-Dataset",
    },
    "wiki_context": {
        "dataset": "Pavlopoulos et al. 2020, toxicity in context (Wikipedia talk)",
        "licence": "none stated; the text is Wikipedia's CC-BY-SA-3.0",
        "evidence": "https://github.com/ipavlopoulos/context_toxicity",
    },
    "toxic_spans": {
        "dataset": "SemEval-2021 Task 5 Toxic Spans (from Civil Comments)",
        "licence": "MIT; the Civil Comments text is CC0-1.0",
        "evidence": "https://github.com/ipavlopoulos/toxic_spans",
    },
    "stormfront": {
        "dataset": "de Gibert et al. 2018, hate speech from a white-supremacy forum",
        "licence": "CC-BY-SA-3.0 (Spain)",
        "evidence": "https://github.com/Vicomtech/hate-speech-dataset",
    },
    "hatexplain": {
        "dataset": "HateXplain (Mathew et al. 2021), validation split",
        "licence": "MIT (GitHub); CC-BY-4.0 (Hugging Face card)",
        "evidence": "https://github.com/hate-alert/HateXplain",
    },
    "globe_c3": {
        "dataset": "C3, Constructive Comments Corpus (Kolhatkar et al. 2020; The Globe and Mail)",
        "licence": "none found for C3 itself; its parent corpus SOCC (the same Globe and Mail "
        "comments) is CC-BY-NC-SA-4.0, so treat it as non-commercial",
        "evidence": "https://github.com/sfu-discourse-lab/SOCC (LICENSE); C3's Kaggle and SFU "
        "pages (DOI 10.25314/ea49062a-5cf6-4403-9918-539e15fd7b52) could not be read",
    },
    "globe_ucc": {
        "dataset": "UCC, Unhealthy Comment Corpus (Price et al. 2020; The Globe and Mail)",
        "licence": "CC-BY-SA-4.0",
        "evidence": "https://github.com/conversationai/unhealthy-conversations (README)",
    },
    "impermium": {
        "dataset": "Detecting Insults in Social Commentary (Kaggle 2012, Impermium)",
        "licence": "none stated on the data page (Kaggle competition data, under the "
        "competition's rules)",
        "evidence": "kaggle.com/c/detecting-insults-in-social-commentary/data (the rules page "
        "could not be read)",
    },
    "psycomark": {
        "dataset": "PsyCoMark (Samory et al.; SemEval-2026 Task 10), Reddit",
        "licence": "CC-BY (version not stated; Reddit terms)",
        "evidence": "https://github.com/hide-ous/semeval2026-psycomark (the task site's data "
        "page source); Zenodo 10.5281/zenodo.15114171",
    },
    "mediaeval2020": {
        "dataset": "MediaEval 2020 FakeNews: Corona virus and 5G conspiracy (tweets)",
        "licence": "none found (task data; Twitter terms)",
        "evidence": "ceur-ws.org/Vol-2882/paper64.pdf",
    },
    "covid_vaccine": {
        "dataset": "COVID vaccine conspiracy comments (Amin et al. 2022)",
        "licence": "MIT",
        "evidence": "https://github.com/AminHasibul/ConspiracyAgaintstCovidVaccines (LICENSE; "
        "its `finaldataset y.csv` is this file, 609 rows, 579 distinct comments)",
    },
    "youtube_videos": {
        "dataset": "Faddoul, Chaslot and Farid 2020, conspiracy YouTube videos",
        "licence": "none found (YouTube terms)",
        "evidence": "https://github.com/youtube-dataset/conspiracy",
    },
    "pan2024": {
        "dataset": "PAN at CLEF 2024 oppositional thinking, English training set (Telegram)",
        "licence": "CC-BY-SA-4.0 (as the corpora's README says; not confirmed online)",
        "evidence": "pan.webis.de/clef24/pan24-web/oppositional-thinking-analysis.html",
    },
    "phillips2022": {
        "dataset": "Phillips, Ng and Carley 2022, Twitter conspiracy theory dataset",
        "licence": "none found (Twitter terms)",
        "evidence": "doi.org/10.1145/3487553.3524665",
    },
    "team_news": {
        "dataset": "the team's own labels (labels/data) on comments of globe_c3, globe_ucc "
        "and impermium",
        "licence": "labels: MIT, the project's; texts: their corpus's (globe_c3 as SOCC, "
        "CC-BY-NC-SA-4.0; globe_ucc CC-BY-SA-4.0; impermium under Kaggle's rules)",
        "evidence": "labels/data/SOURCES.md",
    },
}
