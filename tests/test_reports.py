"""Reports saved and loaded back with wandb-workspaces, the spec checks, and the report pages."""

from __future__ import annotations

import pytest

from runyard.server.errors import ServiceError
from runyard.server.reports.spec import parse_spec
from tests.conftest import WandbClient, unique_project


def test_spec_refuses_unknown_panel_type_naming_it() -> None:
    spec = (
        '{"blocks": [{"type": "panel-grid", "metadata": {"panelBankSectionConfig":'
        ' {"panels": [{"viewType": "Hologram Plot"}]}}}]}'
    )
    with pytest.raises(ServiceError) as err:
        parse_spec(spec)
    assert "unknown panel type 'Hologram Plot'" in err.value.message
    assert "panels[0].viewType" in err.value.message


def test_spec_refuses_unknown_block_type_and_bad_json() -> None:
    with pytest.raises(ServiceError, match="unknown block type 'sparkle'"):
        parse_spec('{"blocks": [{"type": "paragraph"}, {"type": "sparkle"}]}')
    with pytest.raises(ServiceError, match="spec: not JSON"):
        parse_spec("{")
    with pytest.raises(ServiceError, match=r"spec\.blocks\[0\]\.type"):
        parse_spec('{"blocks": [{"text": "no type"}]}')


def test_report_saved_loaded_listed_and_edited(sqlite_client: WandbClient) -> None:
    project = unique_project()
    assert sqlite_client.run("reports.py", "seed", "--project", project).returncode == 0
    result = sqlite_client.run("reports.py", "save", "--project", project)
    assert result.returncode == 0, result.stderr
    (out,) = result.results
    assert out["equal"] is True
    assert out["listed"] == ["Loss study"]
    assert out["edited_id"] == out["id"]
    assert out["edited_title"] == "Loss study, revised"
    assert out["kinds"] == ["H1", "MarkdownBlock", "CodeBlock", "LatexBlock", "PanelGrid"]
    assert out["panels"] == ["LinePlot", "ScalarChart"]
    assert f"/{project}/reports/Loss-study--" in out["url"]


def test_report_with_unknown_panel_type_is_refused(sqlite_client: WandbClient) -> None:
    project = unique_project()
    assert (
        sqlite_client.run("reports.py", "seed", "--project", project, "--runs", "1").returncode == 0
    )
    result = sqlite_client.run("reports.py", "bad", "--project", project)
    (out,) = result.results
    assert "unknown panel type 'Hologram Plot'" in out["error"]
