"""Reports as a researcher writes them with `wandb_workspaces.reports.v2` and reads them back.

`seed` logs runs (optimizer adam or sgd, a `loss` curve and an `acc` summary); `save` builds a
report (markdown, heading, code, LaTeX, a line plot and a scalar chart over a filtered run set),
saves it, loads it back with `Report.from_url` and edits it; `bad` saves a spec with an unknown
panel type through the client's GraphQL transport. Prints `RESULT {...}` JSON lines.
"""

import argparse
import json

import wandb
import wandb_workspaces.reports.v2 as wr
from wandb_workspaces._graphql import execute_graphql

parser = argparse.ArgumentParser()
parser.add_argument("action", choices=["seed", "save", "bad", "workspace", "share", "unshare"])
parser.add_argument("--url", help="unshare: the report's URL")
parser.add_argument("--project", required=True)
parser.add_argument("--runs", type=int, default=4)
args = parser.parse_args()


def seed() -> None:
    for i in range(args.runs):
        optimizer = "adam" if i % 2 == 0 else "sgd"
        run = wandb.init(
            project=args.project, config={"optimizer": optimizer, "lr": 0.01 * (i + 1)}
        )
        for step in range(20):
            run.log({"loss": 1.0 / (step + 1 + i), "acc": step / 20})
        run.finish()
    print("RESULT " + json.dumps({"seeded": args.runs}))


def build(entity: str) -> wr.Report:
    runset = wr.Runset(
        entity=entity,
        project=args.project,
        name="Adam runs",
        filters="Config('optimizer') == 'adam'",
    )
    return wr.Report(
        project=args.project,
        title="Loss study",
        description="How adam runs converge",
        blocks=[
            wr.H1(text="Results"),
            wr.MarkdownBlock(
                text="Adam **converges** faster.\n\n- one\n- two\n\n<script>alert(1)</script>"
            ),
            wr.CodeBlock(code=["print('hello')"], language="python"),
            wr.LatexBlock(text="E = mc^2"),
            wr.PanelGrid(
                runsets=[runset],
                panels=[
                    wr.LinePlot(title="Loss", x="Step", y=["loss"]),
                    wr.ScalarChart(title="Accuracy", metric="acc", groupby_aggfunc="mean"),
                ],
            ),
        ],
    )


def save() -> None:
    api = wandb.Api()
    report = build(api.default_entity).save()
    loaded = wr.Report.from_url(report.url)
    # Equal as the library sees a report: title, description and the spec it would save.
    saved_spec = report._to_model().spec.model_dump(by_alias=True, exclude_none=True)
    loaded_spec = loaded._to_model().spec.model_dump(by_alias=True, exclude_none=True)
    equal = (
        loaded.title == report.title
        and loaded.description == report.description
        and loaded_spec == saved_spec
    )
    if not equal:
        print("DIFF " + json.dumps([saved_spec, loaded_spec], default=str))
    listed = [r.display_name for r in api.reports(f"{api.default_entity}/{args.project}")]
    loaded.title = "Loss study, revised"
    loaded.save()
    again = wr.Report.from_url(loaded.url)
    # A second report, deleted: the listing no longer holds it.
    doomed = build(api.default_entity)
    doomed.title = "Scratch"
    doomed.save()
    deleted = doomed.delete()
    after = [r.display_name for r in wandb.Api().reports(f"{api.default_entity}/{args.project}")]
    print(
        "RESULT "
        + json.dumps(
            {
                "url": report.url,
                "id": report.id,
                "equal": equal,
                "listed": listed,
                "edited_id": loaded.id,
                "edited_title": again.title,
                "deleted": deleted,
                "after_delete": after,
                "kinds": [type(b).__name__ for b in loaded.blocks],
                "panels": [type(p).__name__ for p in loaded.blocks[4].panels],
            }
        )
    )


def bad() -> None:
    api = wandb.Api()
    spec = build(api.default_entity)._to_model().spec.model_dump(by_alias=True, exclude_none=True)
    grid = next(b for b in spec["blocks"] if b.get("type") == "panel-grid")
    grid["metadata"]["panelBankSectionConfig"]["panels"][0]["viewType"] = "Hologram Plot"
    mutation = """mutation($spec: String!, $project: String) {
      upsertView(input: {projectName: $project, type: "runs", spec: $spec}) { view { id } }
    }"""
    try:
        execute_graphql(api, mutation, {"spec": json.dumps(spec), "project": args.project})
        print("RESULT " + json.dumps({"error": None}))
    except Exception as exc:  # the message is what the test checks
        print("RESULT " + json.dumps({"error": str(exc)}))


def workspace() -> None:
    import wandb_workspaces.workspaces as ws

    api = wandb.Api()
    saved = ws.Workspace(
        entity=api.default_entity,
        project=args.project,
        name="Loss view",
        sections=[
            ws.Section(
                name="Training", panels=[wr.LinePlot(title="Loss", y=["loss"])], is_open=True
            )
        ],
    ).save()
    loaded = ws.Workspace.from_url(saved.url)
    loaded_name = loaded.name
    loaded.name = "Loss view, renamed"
    loaded.save()
    again = ws.Workspace.from_url(saved.url)
    print(
        "RESULT "
        + json.dumps(
            {
                "url": saved.url,
                "name": loaded_name,
                "renamed": again.name,
                "sections": [s.name for s in again.sections],
                "panels": [type(p).__name__ for p in again.sections[0].panels],
                "metrics": [getattr(m, "name", m) for m in again.sections[0].panels[0].y],
            }
        )
    )


def share() -> None:
    api = wandb.Api()
    report = build(api.default_entity).save()
    link = report.enable_share_link()
    again = report.enable_share_link()  # an active link is returned, not a second one
    print(
        "RESULT "
        + json.dumps(
            {"url": report.url, "share_url": link, "again": again, "got": report.get_share_url()}
        )
    )


def unshare() -> None:
    report = wr.Report.from_url(args.url)
    print(
        "RESULT "
        + json.dumps({"revoked": report.disable_share_link(), "after": report.get_share_url()})
    )


{
    "seed": seed,
    "save": save,
    "bad": bad,
    "workspace": workspace,
    "share": share,
    "unshare": unshare,
}[args.action]()
