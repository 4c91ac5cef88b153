"""A batch's live display in a real Jupyter kernel (ipykernel run by nbclient,
as a notebook server runs it): one widget for the whole batch, updated in
place, its failures kept to the end, and the files right."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import DataFiles, Server

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipywidgets")
pytest.importorskip("ipykernel")

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def run_cell(source: str, cwd: Path) -> Any:
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell(source))
    client = nbclient.NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        store_widget_state=True,
    )
    client.execute()
    return notebook


def widget_text(notebook: Any) -> str:
    """Everything the batch's output widget last showed."""
    state = notebook.metadata["widgets"][WIDGET_STATE]["state"]
    shown = []
    for model in state.values():
        for output in model["state"].get("outputs", []):
            data = output.get("data", {})
            shown.append(data.get("text/plain", "") + output.get("text", ""))
    return "\n".join(shown)


@pytest.mark.timeout(120)
def test_download_many_shows_one_live_display_in_a_jupyter_cell(
    http_server: Server, data: DataFiles, tmp_path: Path
) -> None:
    names = [data.add(f"nb/nb-{i:02d}.bin", 300 * 1024) for i in range(12)]
    urls = [http_server.url(n) for n in names] + [http_server.url("nb/missing.bin")]
    dest = tmp_path / "out"
    dest.mkdir()
    cell = (
        "import curlmulti_dl\n"
        f"summary = curlmulti_dl.download_many({json.dumps(urls)}, {str(dest)!r},\n"
        "    show_progress=True, max_host_connections=4)\n"
        "print('SUMMARY', summary.succeeded, summary.failed_count)\n"
        "print([str(f.error) for f in summary.failed])\n"
    )
    notebook = run_cell(cell, tmp_path)

    outputs = notebook.cells[0].outputs
    assert [o for o in outputs if o.output_type == "error"] == []
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "SUMMARY 12 1" in printed
    widgets = [o for o in outputs if o.output_type == "display_data" and WIDGET_VIEW in o.data]
    assert len(widgets) == 1, outputs  # one display for the batch, not one per file
    shown = widget_text(notebook)
    assert "batch 12/13 done, 1 failed, 0 in flight" in shown, shown
    assert "missing.bin" in shown and "failed" in shown  # the failure keeps its row
    assert "nb-00.bin" not in shown  # finished files leave the display
    for name in names:
        data.assert_same(name, dest / Path(name).name)
