"""alt-profanity-check doing `moderate score`'s job as a plain script: CSV in, CSV out.

Run in bench/.venv (stdlib and alt-profanity-check only), timed whole by
bench/service_batch.py beside `moderate score` on the same file.

Example: bench/.venv/bin/python bench/peer_score.py comments.csv scored.csv
"""

from __future__ import annotations

import csv
import sys


def main() -> None:
    """Read id,text rows; write id,profanity probability rows."""
    from profanity_check import predict_prob

    source, target = sys.argv[1], sys.argv[2]
    csv.field_size_limit(sys.maxsize)
    with open(source, encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    scores = predict_prob([row["text"] for row in rows])
    with open(target, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "profanity"])
        writer.writerows((row["id"], float(p)) for row, p in zip(rows, scores, strict=True))


if __name__ == "__main__":
    main()
