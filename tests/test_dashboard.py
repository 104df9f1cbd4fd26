"""`python -m hrm.dashboard <dir>`: a static page of a finished run's curves, final metrics and ARC pictures,
read back by parsing its HTML, and loaded in headless Chromium where Debian's `chromium` is installed."""

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hrm.dashboard.__main__ import main
from hrm.training import run
from tests.conftest import TINY


class Charts(HTMLParser):
    """{chart title: {series or point name: its data-points / data-y}}, every chart title, the pictures' names."""

    def __init__(self):
        super().__init__()
        self.charts, self.titles, self.pictures, self._chart, self._in_title = {}, [], [], None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg":
            self._chart = {}
        elif tag == "title" and self._chart is not None:
            self._in_title = True
        elif tag in ("polyline", "circle") and self._chart is not None and "data-name" in attrs:
            self._chart[attrs["data-name"]] = [tuple(map(float, p.split(","))) for p in attrs["data-points"].split()]
        elif tag == "circle" and self._chart is not None and "data-x" in attrs:
            self._chart[attrs["data-x"]] = float(attrs["data-y"])
        elif tag == "img":
            self.pictures.append(attrs["alt"])
            assert attrs["src"].startswith("data:image/png;base64,")  # self-contained: opens offline, anywhere

    def handle_data(self, data):
        if self._in_title:
            self.charts[data] = self._chart  # the last run's, where several runs share a title
            self.titles.append(data)
            self._in_title = False


def read_page(path: Path) -> Charts:
    parser = Charts()
    parser.feed(path.read_text())
    return parser


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from hrm.utils.compose import compose_train_config

    root = tmp_path_factory.mktemp("finished")
    run(compose_train_config(["experiment=arc_tiny", *TINY, "trainer.max_steps=6", "test=true"], root))
    return root / "run"


def test_the_page_shows_the_runs_loss_and_accuracy_curves_and_its_arc_pictures(finished_run, tmp_path, capsys):
    out = tmp_path / "page.html"
    assert main([str(finished_run), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    page = read_page(out)
    assert list(page.charts)[0] == "loss" and {"accuracy", "exact_accuracy"} <= set(page.charts)
    steps = [step for step, _ in page.charts["loss"]["train/loss"]]
    assert steps == sorted(steps) and len(steps) == 6  # one point per training step (log_every_n_steps=1)
    assert set(page.charts["loss"]) == {"train/loss", "val/loss", "test/loss"}
    assert "contact_sheet.png" in page.pictures and "halting.png" in page.pictures
    assert "arc/pass@2" in out.read_text()  # the final metrics table


def test_a_dir_without_runs_or_with_a_broken_history_is_one_line(finished_run, tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path}: no run found (a run dir holds metrics.json or csv/metrics.csv)"
    broken = tmp_path / "broken"
    shutil.copytree(finished_run, broken)
    with open(broken / "csv" / "metrics.csv", "a") as handle:
        handle.write("x" * 3 + "\n")
    assert main([str(broken)]) == 2
    assert "metrics.csv: line" in capsys.readouterr().err and not (broken / "dashboard.html").exists()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_the_page_renders_in_headless_chromium(finished_run, tmp_path):
    out = tmp_path / "page.html"
    assert main([str(finished_run), "--out", str(out)]) == 0
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-1000:]
    rendered = Charts()
    rendered.feed(dom.stdout)  # what the browser built from the page
    assert rendered.charts.keys() == read_page(out).charts.keys() and "contact_sheet.png" in rendered.pictures
    shot = tmp_path / "page.png"
    subprocess.run(["chromium", *flags, f"--screenshot={shot}", "--window-size=1200,1600", out.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
