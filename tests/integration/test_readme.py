"""Every code example in README.rst runs, in order, against the real server, with the output it shows."""

from __future__ import annotations

import doctest
import re
import warnings
from pathlib import Path
from urllib.parse import urlsplit

from roleplay_models import IndexRefusedWarning

README = Path(__file__).resolve().parents[2] / "README.rst"
BLOCK = re.compile(r"^\.\. code-block:: (\w+)\n\n((?:(?:    .*)?\n)+)", re.MULTILINE)
# The README's example servers, all pointed at this run's server and database.
EXAMPLE_URI = re.compile(r"mongodb://(?:db\.internal|localhost):27017(?:/roleplay)?")
EXAMPLE_DB = '"db": "roleplay"'


def readme_blocks() -> list[tuple[str, str]]:
    return [(language, re.sub(r"^    ", "", body, flags=re.MULTILINE))
            for language, body in BLOCK.findall(README.read_text())]


def test_every_python_example_is_a_doctest():
    languages = {language for language, _ in readme_blocks()}
    assert "pycon" in languages and "python" not in languages


def test_the_readme_examples_run_and_show_what_they_say(db, run_database_uri, server_uri,
                                                        monkeypatch):
    monkeypatch.setenv("MONGODB_URI", run_database_uri)
    server = urlsplit(server_uri).netloc
    database = urlsplit(run_database_uri).path.lstrip("/")
    text = "\n".join(body for language, body in readme_blocks() if language == "pycon")
    text = EXAMPLE_URI.sub(f"mongodb://{server}/{database}", text)
    text = text.replace(EXAMPLE_DB, f'"db": "{database}"')
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {"__name__": "readme"}, "README.rst", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    with warnings.catch_warnings():
        # what a server refuses is part of connecting to it, not of the examples
        warnings.simplefilter("ignore", IndexRefusedWarning)
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
    assert runner.tries > 40
