"""Reading Prometheus expositions in tests: every sample by name and labels."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

#: Sample values by metric name and the set of its labels.
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition in the text format."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(url: str) -> Samples:
    """GET ``url`` as Prometheus does and parse the answer."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers.get_content_type() == "text/plain"
        return parse(response.read().decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    """The value of the sample ``name`` with exactly ``labels``; 0 when absent."""
    return samples.get((name, frozenset(labels.items())), 0.0)
