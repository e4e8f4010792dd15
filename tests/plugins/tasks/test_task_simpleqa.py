"""The ``simpleqa`` task: the official CSV, its quirks, filters and bad input."""

from __future__ import annotations

import http.server
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import InputError, ParameterError
from harness.paths import cache_dir
from harness.tasks.simpleqa import OFFICIAL_URL, SimpleQATask

OFFICIAL = Path("/work/shared/data/simpleqa/simple_qa_test_set.csv")
needs_official = pytest.mark.skipif(not OFFICIAL.exists(), reason="no offline copy of SimpleQA")

SMALL = (
    "metadata,problem,answer\n"
    "\"{'topic': 'Art', 'answer_type': 'Person', 'urls': ['https://a']}\",Who painted X?, Ann Lee \n"
    "\"{'topic': 'Music', 'answer_type': 'Date', 'urls': []}\",When was Y written?,\"1901\n\"\n"
)


@pytest.fixture(scope="module")
def official() -> list:
    return SimpleQATask(path=str(OFFICIAL)).examples()


@needs_official
def test_the_official_file_has_4326_questions_with_the_papers_topic_counts(official: list) -> None:
    assert len(official) == 4326
    topics = Counter(e.metadata["topic"] for e in official)
    assert topics == {
        "Science and technology": 858, "Politics": 709, "Art": 550, "Other": 475, "Geography": 424,
        "Sports": 368, "Music": 341, "TV shows": 293, "History": 173, "Video games": 135,
    }
    types = Counter(e.metadata["answer_type"] for e in official)
    assert types == {"Date": 1418, "Person": 1041, "Other": 777, "Number": 663, "Place": 427}


@needs_official
def test_quoted_newlines_stay_inside_their_record_and_whitespace_is_stripped(official: list) -> None:
    by_row = {e.metadata["row"]: e for e in official}
    assert by_row[1363].answer == "LET function"
    assert by_row[4117].answer == "Chutak Hydroelectric Plant"
    assert "\n" in by_row[3697].answer  # an inner newline is part of the answer
    assert all(e.answer == e.answer.strip() and e.question == e.question.strip() for e in official)
    assert len({e.id for e in official}) == 4326
    assert official[0].id == "simpleqa-0001" and official[0].answer == "Michio Sugeno"
    assert isinstance(official[0].metadata["urls"], list)


@needs_official
def test_topic_and_answer_type_filters_combine() -> None:
    science = SimpleQATask(path=str(OFFICIAL), topics=["Science and technology"]).examples()
    assert len(science) == 858
    two = SimpleQATask(path=str(OFFICIAL), topics=["Art", "Music"], answer_types=["Person"]).examples()
    assert {e.metadata["topic"] for e in two} == {"Art", "Music"}
    assert {e.metadata["answer_type"] for e in two} == {"Person"}
    ids = {e.id for e in SimpleQATask(path=str(OFFICIAL)).examples()}
    assert {e.id for e in two} <= ids  # ids do not depend on the filters


def test_a_small_file_parses_metadata_as_a_python_literal(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text(SMALL, encoding="utf-8")
    first, second = SimpleQATask(path=str(path)).examples()
    assert first.metadata == {"topic": "Art", "answer_type": "Person", "urls": ["https://a"], "row": 1}
    assert first.answer == "Ann Lee"
    assert second.answer == "1901"


def test_an_unknown_topic_names_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text(SMALL, encoding="utf-8")
    with pytest.raises(ParameterError, match="'Cooking'.*known: Art, Music"):
        SimpleQATask(path=str(path), topics=["Cooking"]).examples()


def test_a_header_without_the_columns_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "renamed.csv"
    path.write_text("metadata,question,true_answer\n\"{}\",Q,A\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        SimpleQATask(path=str(path)).examples()
    message = str(info.value)
    assert str(path) in message and "problem, answer" in message and "\n" not in message


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("metadata,problem,answer\n\"{'topic': 'Art'\",Q,A\n", r":2: metadata is not a Python-literal dict"),
        ("metadata,problem,answer\n\"{}\",Q,A\n\"{}\",Q2\n", r":3: expected 3 fields"),
        ("metadata,problem,answer\n\"{}\",Q,  \n", r":2: empty answer"),
    ],
)
def test_a_malformed_row_names_file_and_line(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError, match=match):
        SimpleQATask(path=str(path)).examples()


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        SimpleQATask(path=str(tmp_path / "absent.csv")).examples()


def test_the_default_path_is_the_official_url() -> None:
    assert SimpleQATask().path == OFFICIAL_URL


@pytest.fixture()
def csv_server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "qa.csv").write_text(SMALL, encoding="utf-8")
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args: object) -> None:
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_url_is_downloaded_once_into_the_cache(
    csv_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    url = f"{csv_server}/qa.csv"
    assert len(SimpleQATask(path=url).examples()) == 2
    cached = list((cache_dir() / "data").glob("*-qa.csv"))
    assert len(cached) == 1
    cached[0].write_text(SMALL.splitlines(keepends=True)[0] + SMALL.splitlines(keepends=True)[1])
    assert len(SimpleQATask(path=url).examples()) == 1  # read from the cache, not the server


def test_an_unreachable_url_is_one_clear_line(csv_server: str) -> None:
    with pytest.raises(InputError, match=r"/missing\.csv: cannot download \(HTTP 404\)"):
        SimpleQATask(path=f"{csv_server}/missing.csv").examples()
    with pytest.raises(InputError, match=r"http://127\.0\.0\.1:9/qa\.csv: cannot download \(.*refused"):
        SimpleQATask(path="http://127.0.0.1:9/qa.csv").examples()


def test_the_topic_is_the_subgroup_the_report_breaks_down(official: list) -> None:
    assert all(e.subgroup == e.metadata["topic"] for e in official)
    assert len({e.subgroup for e in official}) == 10


@needs_official
def test_limit_can_pick_the_questions_simple_evals_picks(official: list) -> None:
    """``-p task.sample=simple-evals``: ``--limit N`` takes the N rows simple-evals' own
    ``random.Random(0).sample`` takes, whatever the seed, so subset numbers compare."""
    import random

    task = SimpleQATask(path=str(OFFICIAL), sample="simple-evals")
    rows = random.Random(0).sample(range(len(official)), 50)  # the reference samples the rows in file order
    for seed in (0, 7):
        picked = task.select(official, 50, seed)
        assert [e.id for e in picked] == [f"simpleqa-{row + 1:04d}" for row in rows]
    assert SimpleQATask(path=str(OFFICIAL)).select(official, 50, 0) is None  # the harness's own pick


def test_the_core_uses_the_tasks_own_pick_for_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    from fake_openai_server import FakeOpenAIServer

    from harness.running.experiment import ExperimentSpec, run_experiment

    rows = "".join(f"\"{{'topic': 'Art', 'answer_type': 'Number'}}\",What is the code of item {i}?,{i}\n"
                   for i in range(30))
    data = tmp_path / "sq.csv"
    data.write_text("metadata,problem,answer\n" + rows)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    with FakeOpenAIServer(responder=lambda body: "Answer: 1\nConfidence: 50%") as server:
        spec = ExperimentSpec(
            task="simpleqa", model="served-model", backend="openai", extractor="verbalized", judge="mock",
            out=tmp_path / "run", progress=False, calibrators=(), limit=6, seed=3,
            overrides=(f"task.path={data}", "task.sample=simple-evals",
                       f"backend.base_url={server.base_url}"))
        report = run_experiment(spec)
    outcomes = (tmp_path / "run" / report["rows"][0]["outcomes"]).read_text()
    judged = sorted(line.split('"example_id": "')[1].split('"')[0] for line in outcomes.splitlines())
    assert judged == sorted(f"simpleqa-{row + 1:04d}" for row in random.Random(0).sample(range(30), 6))
