"""Schemathesis over the app's own OpenAPI schema: no generated request gets a 5xx."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from moderate.service.app import create_app
from moderate.settings import Settings

# Bounded so the whole schema runs in seconds; derandomized so a failure reproduces.
BOUNDED = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_no_server_errors_on_generated_requests(artifacts: Path) -> None:
    app = create_app(Settings(artifacts_dir=artifacts, max_comments=20))
    app.state.service.holder.reload()  # ASGI calls skip the lifespan: load the model here
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) >= 7  # the schema itself is valid
    for operation in operations:

        @BOUNDED
        @given(case=operation.as_strategy())
        def no_5xx(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        no_5xx()
